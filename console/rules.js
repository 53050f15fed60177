// The governance cards of a service's page (services.js draws the page): the rules in force
// with the gray release and forced degradation, the raw rules document checked as you type, the
// history with rollback, and the one review every rule change goes through: the core's diff and
// dry run of the proposal (`preview`), a message, then the write at the version it was
// previewed at. Drawn with app.js's parts (window.lemonConsole), every value put on the page as
// text.
'use strict'
;(() => {
  const { h, badge, toast, api, svcPath, table, changesList, writeDialog, checkedEditor, when, pct } = window.lemonConsole

  function dryRun(s) {
    const out = []
    if (s.degraded) out.push(h('p', null, badge('degraded', 'warn'), 'Consumers answer with the fallback; no provider is called.'))
    out.push(
      table(
        ['Endpoint', ['Share of calls', 'num']],
        s.endpoints.map((e) => h('tr', null, h('td', null, e.address), h('td', { class: 'num' }, pct(e.share)))),
      ),
    )
    if (s.grayPercent) out.push(h('p', null, `Gray: ${s.grayPercent}% of requests go to the gray providers.`))
    if (s.grayConsumers.length) out.push(h('p', null, `Consumers that become gray (every request): ${s.grayConsumers.join(', ')}`))
    if (s.disabled.length) out.push(h('p', null, `Disabled: ${s.disabled.join(', ')}`))
    for (const m of s.methods.filter((m) => m.normal.empty))
      out.push(
        h(
          'p',
          { class: 'error' },
          `No provider for ${m.method === '*' ? 'undeclared methods' : `method ${m.method}`}${m.version ? ` (version ${m.version})` : ''}: ${m.normal.empty}`,
        ),
      )
    if (s.orphaned && s.orphaned.length)
      out.push(h('p', { class: 'error' }, `This change leaves without a provider: ${s.orphaned.join(', ')}`))
    return out
  }

  /**
   * Asks the core for the diff and dry run of `proposal`, shows them, takes a message, and
   * writes with `write({ message, force, ifVersion })`.
   */
  async function review(svc, title, proposal, write) {
    let p
    try {
      p = await api('POST', `${svcPath(svc)}/preview`, proposal)
    } catch (e) {
      return toast(`${title}: ${e.message}`, true)
    }
    const force = h('input', { id: 'preview-force', type: 'checkbox' })
    const risky = p.orphaned && p.orphaned.length > 0
    writeDialog({
      id: 'preview',
      title: `${title} — ${svc}`,
      note: `Based on version ${p.version}.`,
      verb: 'Apply',
      body: [changesList(p.changes), h('h2', null, 'Dry run: what the consumers will do'), dryRun(p)],
      extra: risky ? h('label', { for: 'preview-force' }, force, ' Apply anyway (force)') : null,
      write: (o) => write({ ...o, force: force.checked, ifVersion: p.version }),
      done: (r) => (r.unchanged ? `${svc}: unchanged, still version ${r.version}` : `${svc}: version ${r.version} written`),
    })
  }

  /** The rules in force (version, what the consumers refuse); for an editor, gray and degrade. */
  function rulesCard(rules, change, editor) {
    return h(
      'div',
      { class: 'card', id: 'governance' },
      h('h2', null, `Rules — version ${rules.version}${rules.external ? ' (changed outside lemon-cluster)' : ''}`),
      rules.refused ? h('p', { class: 'error' }, `The consumers refuse what the nodes hold: ${rules.refused.message}`) : null,
      h('p', null, rules.inForce.length ? rules.inForce.map((r) => badge(r)) : h('span', { class: 'muted' }, 'No rule in force.')),
      editor ? grayAndDegrade(change) : null,
    )
  }

  function grayAndDegrade(change) {
    const percent = h('input', { class: 'small', type: 'number', min: 0, max: 100, id: 'gray-percent', 'aria-label': 'gray percent' })
    const hosts = h('input', { type: 'text', id: 'gray-hosts', placeholder: 'host1,host2', 'aria-label': 'gray hosts' })
    const fallback = h('input', {
      type: 'text',
      id: 'degrade-fallback',
      placeholder: 'fallback JSON (optional)',
      'aria-label': 'fallback JSON',
    })
    const degradeOn = () => {
      const c = { op: 'degrade', on: true }
      if (fallback.value.trim()) {
        try {
          c.fallback = JSON.parse(fallback.value)
        } catch (e) {
          return toast(`The fallback is not JSON: ${e.message}`, true)
        }
      }
      change('Degrade', c)
    }
    return h(
      'div',
      { class: 'grid2' },
      h(
        'div',
        null,
        h('h2', null, 'Gray release'),
        h(
          'div',
          { class: 'row' },
          percent,
          '%',
          h(
            'button',
            { type: 'button', onclick: () => change('Gray by percent', { op: 'gray', percent: Number(percent.value) }) },
            'Set percent',
          ),
        ),
        h(
          'div',
          { class: 'row', style: 'margin-top:6px' },
          hosts,
          h(
            'button',
            {
              type: 'button',
              onclick: () =>
                change('Gray by hosts', {
                  op: 'gray',
                  hosts: hosts.value
                    .split(',')
                    .map((s) => s.trim())
                    .filter(Boolean),
                }),
            },
            'Set hosts',
          ),
          h('button', { type: 'button', onclick: () => change('Gray off', { op: 'gray', off: true }) }, 'Gray off'),
        ),
      ),
      h(
        'div',
        null,
        h('h2', null, 'Forced degradation'),
        h(
          'div',
          { class: 'row' },
          fallback,
          h('button', { type: 'button', class: 'danger', onclick: degradeOn }, 'Degrade'),
          h('button', { type: 'button', onclick: () => change('End degradation', { op: 'degrade', on: false }) }, 'End'),
        ),
      ),
    )
  }

  /** The raw rules document, validated by the core as you type (the preview call). */
  function rulesEditor(svc, rules) {
    return h(
      'div',
      { class: 'card', id: 'rules-editor' },
      h('h2', null, 'Rules document'),
      h('p', { class: 'muted' }, '{ "routers": …, "configurators": … } — checked by the consumers’ own parser as you type.'),
      checkedEditor({
        id: 'rules',
        label: 'rules document (JSON)',
        value: rules.rules,
        button: 'Review and apply…',
        check: async (document) => {
          const p = await api('POST', `${svcPath(svc)}/preview`, { document })
          return {
            ready: true,
            show: [
              h('p', { class: 'ok' }, badge('valid', 'ok'), `${p.changes.length} change(s) from version ${p.version}`),
              p.orphaned.length ? h('p', { class: 'error' }, `Leaves without a provider: ${p.orphaned.join(', ')}`) : null,
            ],
          }
        },
        onReview: (source) => {
          let document
          try {
            document = JSON.parse(source)
          } catch (e) {
            return toast(`Not JSON: ${e.message}`, true)
          }
          review(svc, 'Replace the rules', { document }, (o) => api('PUT', `${svcPath(svc)}/rules`, { document, ...o }))
        },
      }),
    )
  }

  /** The rules' history, newest first, with a rollback to each recorded version for an editor. */
  function historyCard(svc, rules, history, editor) {
    return h(
      'div',
      { class: 'card', id: 'history' },
      h('h2', null, 'History'),
      history.length === 0
        ? h('div', { class: 'empty' }, 'No change recorded yet.')
        : table(
            ['Version', 'When', 'Who', 'Action', 'Message', 'Changes', ''],
            [
              ...history,
              // Version 0 is the rules before the first recorded change: the core can roll back
              // to it while version 1 is kept.
              ...(history[0] && history[0].version === 1
                ? [
                    {
                      version: 0,
                      at: null,
                      who: '—',
                      action: 'before the first recorded change',
                      message: '',
                      changes: [],
                      recorded: true,
                    },
                  ]
                : []),
            ]
              .sort((a, b) => b.version - a.version)
              .map((v) =>
                h(
                  'tr',
                  { 'data-version': v.version },
                  h('td', { class: 'num' }, v.version, v.external ? ' ' : null, v.external ? badge('external', 'warn') : null),
                  h('td', null, when(v.at)),
                  h('td', null, v.who),
                  h('td', null, v.action),
                  h('td', null, v.message || '—'),
                  h('td', null, changesList(v.changes)),
                  h(
                    'td',
                    null,
                    editor && v.version !== rules.version && v.recorded !== false
                      ? h(
                          'button',
                          {
                            type: 'button',
                            onclick: () =>
                              review(svc, `Roll back to version ${v.version}`, { rollback: v.version }, (o) =>
                                api('POST', `${svcPath(svc)}/rollback`, { version: v.version, ...o }),
                              ),
                          },
                          `Roll back to ${v.version}`,
                        )
                      : null,
                  ),
                ),
              ),
          ),
    )
  }

  window.lemonRules = { review, rulesCard, rulesEditor, historyCard }
})()
