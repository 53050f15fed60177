// The release cards of a configuration document's page (config.js draws the page): its gray
// release (start for instances / labels / hosts / percent, status, promote, abort), the
// instances running it, its history with diff and rollback, and the comparison with another
// document with a copy of the selected keys. Every diff is the core's; every write goes
// through config.js's confirmWrite (the changes, a message, then the write).
'use strict'
;(() => {
  const { h, fill, badge, toast, api, failed, paged, when, ago } = window.lemonConsole
  const { stored, keyChanges, confirmWrite } = window.lemonConfig

  function selectorText(s) {
    if (!s) return '—'
    if (s.percent !== undefined) return `${s.percent}% of the instances`
    const [k, v] = Object.entries(s)[0]
    return `${k}: ${v.join(', ')}`
  }

  /** The gray release: status, start (instances / labels / hosts / percent), promote, abort. */
  function grayCard({ path, layout, gray, instances, editor }) {
    const lay = layout ? { layout } : {}
    const out = [h('h2', null, 'Gray release')]
    if (gray.active) {
      const running = gray.instances.filter((i) => i.gray).length
      const selected = gray.instances.filter((i) => i.selected).length
      out.push(
        h(
          'p',
          { id: 'gray-state' },
          badge('in progress', 'warn'),
          ` for ${selectorText(gray.selector)} — ${running} of ${selected} selected instances run it; started by ${gray.who} ${ago(gray.at)} ago`,
          gray.message ? ` (“${gray.message}”)` : '',
        ),
        keyChanges({ changes: gray.changes }),
        paged(
          gray.instances,
          [
            ['Instance', (i) => h('code', null, i.instance)],
            ['Selected', (i) => (i.selected ? 'yes' : 'no')],
            ['Runs', (i) => (i.gray ? badge('gray', 'warn') : 'main')],
            ['Labels', (i) => (i.labels || []).join(', ') || '—'],
          ],
          { empty: 'No instance runs this document.' },
        ),
      )
      if (editor)
        out.push(
          h(
            'div',
            { class: 'row', style: 'margin-top:8px' },
            h(
              'button',
              {
                type: 'button',
                class: 'primary',
                id: 'gray-promote',
                onclick: () =>
                  confirmWrite(`Promote the gray release — ${path}`, gray.changes, 'Every instance gets these changes.', (o) =>
                    api('POST', '/api/config/gray/promote', { path, ...lay, ...o }),
                  ),
              },
              'Promote to everyone…',
            ),
            h(
              'button',
              {
                type: 'button',
                class: 'danger',
                id: 'gray-abort',
                onclick: () =>
                  confirmWrite(
                    `Abort the gray release — ${path}`,
                    gray.changes,
                    'The selected instances go back to the main version (these changes are undone for them).',
                    (o) => api('POST', '/api/config/gray/abort', { path, ...lay, ...o }),
                    { requireChange: false },
                  ),
              },
              'Abort…',
            ),
          ),
        )
    } else {
      out.push(h('p', { class: 'muted', id: 'gray-state' }, 'No gray release in progress.'))
    }
    if (editor && !gray.active) {
      const kind = h(
        'select',
        { id: 'gray-kind', 'aria-label': 'whom the release is for' },
        [
          ['instances', 'instances (host:pid)'],
          ['labels', 'labels'],
          ['hosts', 'hosts'],
          ['percent', 'percent'],
        ].map(([v, t]) => h('option', { value: v }, t)),
      )
      const whom = h('input', {
        type: 'text',
        id: 'gray-whom',
        placeholder: instances.length ? instances[0].instance : 'host:pid, …',
        'aria-label': 'instances, labels, hosts (comma separated) or a percent',
      })
      const set = h('textarea', {
        class: 'code small',
        id: 'gray-set',
        spellcheck: 'false',
        'aria-label': 'the keys the release sets (JSON)',
        placeholder: '{ "db:pool": 30 }',
      })
      const start = () => {
        let keys
        try {
          keys = JSON.parse(set.value)
          if (keys === null || typeof keys !== 'object' || Array.isArray(keys)) throw new Error('give an object of keys and values')
        } catch (e) {
          return toast(`The keys are not a JSON object: ${e.message}`, true)
        }
        const list = whom.value
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
        const selector = kind.value === 'percent' ? { percent: Number(whom.value) } : { [kind.value]: list }
        const changes = Object.entries(keys).map(([key, v]) => ({ key, kind: 'modified', new: v }))
        confirmWrite(
          `Start a gray release — ${path}`,
          changes,
          `For ${selectorText(selector)}; the other instances keep the main version.`,
          (o) => api('POST', '/api/config/gray/start', { path, selector, set: keys, ...lay, ...o }),
        )
      }
      out.push(
        h(
          'div',
          { class: 'grid2' },
          h('div', null, h('label', { for: 'gray-kind' }, 'For'), h('div', { class: 'row' }, kind, whom)),
          h('div', null, h('label', { for: 'gray-set' }, 'Keys it sets'), set),
        ),
        h('div', { class: 'row' }, h('button', { type: 'button', id: 'gray-start', onclick: start }, 'Start gray release…')),
      )
    }
    return h('div', { class: 'card', id: 'config-gray' }, out)
  }

  function instancesCard(instances, current) {
    return h(
      'div',
      { class: 'card', id: 'config-instances' },
      h('h2', null, 'Instances'),
      paged(
        instances,
        [
          ['Instance', (i) => h('code', null, i.instance)],
          ['Version', (i) => (i.version === null || i.version === undefined ? 'unrecorded' : i.version), 'num'],
          [
            'State',
            (i) => [
              i.version !== null && i.version !== undefined && i.version === current ? badge('current', 'ok') : badge('behind', 'warn'),
              i.grayZxid ? badge('gray', 'warn') : null,
            ],
          ],
          ['Source', (i) => (i.source === 'snapshot' ? badge('snapshot', 'warn') : i.source || '—')],
          ['Labels', (i) => (i.labels || []).join(', ') || '—'],
        ],
        { empty: 'No store runs this document now (each running store keeps an ephemeral node beside it).' },
      ),
    )
  }

  function historyCard({ path, layout, q, current, history, editor }) {
    const lay = layout ? { layout } : {}
    const diffTo = async (v) => {
      try {
        const d = await api('GET', `/api/config/diff?${q({ from: v.version, to: current })}`)
        return d.changes
      } catch (e) {
        toast(`Diff: ${e.message}`, true)
        return null
      }
    }
    const shown = h('div', { id: 'config-diff' })
    const actions = (v) => {
      if (v.version === current || v.content === false) return null
      return h(
        'div',
        { class: 'row' },
        h(
          'button',
          {
            type: 'button',
            onclick: async () => {
              const c = await diffTo(v)
              if (c) fill(shown, h('h2', null, `From version ${v.version} to the current ${current}`), keyChanges({ changes: c }))
            },
          },
          'Diff to current',
        ),
        editor
          ? h(
              'button',
              {
                type: 'button',
                class: 'rollback',
                onclick: async () => {
                  try {
                    const d = await api('GET', `/api/config/diff?${q({ from: current, to: v.version })}`)
                    confirmWrite(`Roll back to version ${v.version} — ${path}`, d.changes, `From version ${current}.`, (o) =>
                      api('POST', '/api/config/rollback', { path, version: v.version, ifVersion: current, ...lay, ...o }),
                    )
                  } catch (e) {
                    toast(`Roll back: ${e.message}`, true)
                  }
                },
              },
              `Roll back to ${v.version}`,
            )
          : null,
      )
    }
    return h(
      'div',
      { class: 'card', id: 'config-history' },
      h('h2', null, 'History'),
      paged(
        [...history].reverse(),
        [
          ['Version', (v) => v.version, 'num'],
          ['When', (v) => when(v.at)],
          ['Who', (v) => v.who],
          ['Action', (v) => (v.external ? badge('external', 'warn') : v.action)],
          ['Message', (v) => v.message || '—'],
          ['Changes', keyChanges],
          ['', actions],
        ],
        { empty: 'No recorded version: the stores record every save here (historyLimit).' },
      ),
      shown,
    )
  }

  /** Compare with another document: only the differing keys; copy the selected ones. */
  function compareCard({ path, layout, q, editor }) {
    const other = h('input', { type: 'text', id: 'compare-other', placeholder: '/other/config', 'aria-label': 'the other document' })
    const box = h('div', { id: 'compare' })
    const lay = layout ? { layout } : {}
    const run = async (ev) => {
      ev.preventDefault()
      let c
      try {
        c = await api('GET', `/api/config/compare?${q({ other: other.value.trim() })}`)
      } catch (e) {
        return fill(box, failed(e))
      }
      const picked = new Set()
      const pick = (d) =>
        h('input', {
          type: 'checkbox',
          'aria-label': `select ${d.key}`,
          onchange: (ev2) => (ev2.target.checked ? picked.add(d.key) : picked.delete(d.key)),
        })
      const copy = (from, to, title) => async () => {
        if (picked.size === 0) return toast('Select the keys to copy first.', true)
        const keys = [...picked]
        const changes = c.differences
          .filter((d) => picked.has(d.key))
          .map((d) => {
            const here = from === path ? d.value : d.otherValue
            const there = from === path ? d.otherValue : d.value
            return { key: d.key, kind: here === undefined ? 'removed' : there === undefined ? 'added' : 'modified', old: there, new: here }
          })
        confirmWrite(title, changes, `Copied as stored (a secret stays sealed).`, (o) =>
          api('POST', '/api/config/copy', { path: from, target: to, keys, ...lay, ...o }),
        )
      }
      fill(
        box,
        h('p', { class: 'muted' }, `${c.differences.length} differing keys (version ${c.version} here, ${c.otherVersion} there).`),
        paged(
          c.differences,
          [
            editor ? ['', pick] : null,
            ['Key', (d) => h('code', null, d.key)],
            [path, (d) => (d.kind === 'onlyThere' ? '—' : stored(d.value))],
            [c.other, (d) => (d.kind === 'onlyHere' ? '—' : stored(d.otherValue))],
          ].filter(Boolean),
          { empty: 'The two documents hold the same keys and values.' },
        ),
        editor && c.differences.length
          ? h(
              'div',
              { class: 'row', style: 'margin-top:8px' },
              h(
                'button',
                { type: 'button', id: 'copy-here', onclick: copy(c.other, path, `Copy keys from ${c.other} into ${path}`) },
                `Copy selected into ${path}…`,
              ),
              h(
                'button',
                { type: 'button', id: 'copy-there', onclick: copy(path, c.other, `Copy keys from ${path} into ${c.other}`) },
                `Copy selected into ${c.other}…`,
              ),
            )
          : null,
      )
    }
    return h(
      'div',
      { class: 'card', id: 'config-compare' },
      h('h2', null, 'Compare'),
      h('form', { class: 'row', onsubmit: run }, other, h('button', { type: 'submit' }, 'Compare')),
      box,
    )
  }

  Object.assign(window.lemonConfig, { grayCard, instancesCard, historyCard, compareCard })
})()
