// The admin console's page: plain DOM, no library. Every value from the server is put on the
// page as text (textContent, never innerHTML), so a name or value holding `<script>` shows as
// text. Every decision comes from the API (docs/console.md): the diff and dry run of a change
// are the core's `preview`, and a write is sent with the version it was previewed at.
'use strict'
;(() => {
  const ROLES = ['viewer', 'editor', 'admin']
  const PAGE = 100
  const session = { user: null, role: null, csrf: null, auth: true }
  let timer = null
  const view = document.getElementById('view')
  const dialog = document.getElementById('preview')

  // --- small DOM helpers ----------------------------------------------------------------------
  function h(tag, props, ...children) {
    const el = document.createElement(tag)
    for (const [k, v] of Object.entries(props || {})) {
      if (v === undefined || v === null || v === false) continue
      if (k === 'class') el.className = v
      else if (k.startsWith('on')) el.addEventListener(k.slice(2), v)
      else if (k === 'value') el.value = v
      else el.setAttribute(k, v === true ? '' : String(v))
    }
    for (const c of children.flat(Infinity)) {
      if (c === undefined || c === null || c === false) continue
      el.append(c instanceof Node ? c : document.createTextNode(String(c)))
    }
    return el
  }
  const may = (role) => ROLES.indexOf(session.role) >= ROLES.indexOf(role)
  const when = (ms) => (ms ? new Date(ms).toLocaleString() : '—')
  const pct = (x) => `${Math.round(x * 1000) / 10}%`
  const show = (v) => (v === undefined || v === null ? '—' : typeof v === 'string' ? v : JSON.stringify(v))
  function ago(ms) {
    if (!ms) return '—'
    const s = Math.max(0, Math.round((Date.now() - ms) / 1000))
    if (s < 120) return `${s} s`
    if (s < 7200) return `${Math.round(s / 60)} min`
    if (s < 172800) return `${Math.round(s / 3600)} h`
    return `${Math.round(s / 86400)} d`
  }
  function toast(text, error) {
    const t = h('div', { class: error ? 'error' : '' }, text)
    document.getElementById('toast').append(t)
    setTimeout(() => t.remove(), error ? 8000 : 4000)
  }
  /** `el.replaceChildren` without the empty parts (null, false). */
  const fill = (el, ...children) =>
    el.replaceChildren(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false))
  const badge = (text, kind) => h('span', { class: `badge ${kind || ''}` }, text)

  // --- the API ----------------------------------------------------------------------------------
  async function api(method, path, body) {
    const headers = { Accept: 'application/json' }
    if (body !== undefined) headers['Content-Type'] = 'application/json'
    if (method !== 'GET' && session.csrf) headers['X-CSRF-Token'] = session.csrf
    const res = await fetch(path, {
      method,
      headers,
      credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const value = await res.json().catch(() => ({ error: { code: 'ERR_INTERNAL', message: `${res.status} ${res.statusText}` } }))
    if (!res.ok) {
      const e = new Error(value.error ? value.error.message : `${res.status}`)
      e.code = value.error && value.error.code
      e.status = res.status
      if (res.status === 401 && path !== '/api/login') {
        session.user = null
        renderLogin(e.message)
      }
      throw e
    }
    return value
  }
  const svcPath = (svc) => `/api/services/${svc.split('/').map(encodeURIComponent).join('/')}`
  const failed = (e) => h('p', { class: 'error', role: 'alert' }, `${e.code ? `[${e.code}] ` : ''}${e.message}`)

  // --- layout -----------------------------------------------------------------------------------
  function chrome(active) {
    const nav = document.getElementById('nav')
    const link = (hash, text) => h('a', { href: hash, 'aria-current': active === hash ? 'page' : null }, text)
    fill(
      nav,
      link('#/services', 'Services'),
      link('#/audit', 'Audit'),
      link('#/config', 'Configuration'),
      may('admin') && session.auth ? link('#/accounts', 'Accounts') : null,
    )
    const me = document.getElementById('me')
    fill(
      me,
      h('span', null, session.user, ' ', badge(session.role)),
      session.auth ? h('button', { type: 'button', onclick: logout }, 'Log out') : null,
    )
  }

  async function logout() {
    await api('POST', '/api/logout').catch(() => {})
    session.user = null
    renderLogin()
  }

  function renderLogin(message) {
    clearInterval(timer)
    fill(document.getElementById('nav'))
    fill(document.getElementById('me'))
    const error = h('p', { class: 'error', role: 'alert' }, message && message !== 'not logged in' ? message : '')
    const name = h('input', { id: 'login-name', name: 'name', autocomplete: 'username', required: true })
    const password = h('input', {
      id: 'login-password',
      name: 'password',
      type: 'password',
      autocomplete: 'current-password',
      required: true,
    })
    const form = h(
      'form',
      {
        class: 'card login',
        onsubmit: async (ev) => {
          ev.preventDefault()
          try {
            const s = await api('POST', '/api/login', { name: name.value, password: password.value })
            Object.assign(session, s)
            route()
          } catch (e) {
            error.textContent = e.message
            password.value = ''
            password.focus()
          }
        },
      },
      h('h1', null, 'Log in'),
      h('p', { class: 'muted' }, 'lemon-cluster admin console'),
      h('label', { for: 'login-name' }, 'Account'),
      name,
      h('label', { for: 'login-password' }, 'Password'),
      password,
      error,
      h('div', { class: 'row' }, h('button', { class: 'primary', type: 'submit' }, 'Log in')),
    )
    fill(view, form)
    name.focus()
  }

  /** A table of `rows` with `columns` [header, cell(row), className?], paginated by PAGE. */
  function paged(rows, columns, { empty = 'Nothing here.', page = 0, onPage } = {}) {
    if (rows.length === 0) return h('div', { class: 'empty' }, empty)
    const pages = Math.ceil(rows.length / PAGE)
    const p = Math.min(page, pages - 1)
    const slice = rows.slice(p * PAGE, p * PAGE + PAGE)
    const table = h(
      'table',
      null,
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          columns.map(([head, , cls]) => h('th', { class: cls, scope: 'col' }, head)),
        ),
      ),
      h(
        'tbody',
        null,
        slice.map((r) =>
          h(
            'tr',
            null,
            columns.map(([, cell, cls]) => h('td', { class: cls }, cell(r))),
          ),
        ),
      ),
    )
    if (pages === 1) return table
    return h(
      'div',
      null,
      table,
      h(
        'div',
        { class: 'pager' },
        h('button', { type: 'button', disabled: p === 0, onclick: () => onPage(p - 1) }, '← Previous'),
        h('span', { class: 'muted' }, `${p * PAGE + 1}–${p * PAGE + slice.length} of ${rows.length}`),
        h('button', { type: 'button', disabled: p === pages - 1, onclick: () => onPage(p + 1) }, 'Next →'),
      ),
    )
  }

  function changesList(changes) {
    if (!changes || changes.length === 0) return h('p', { class: 'muted' }, 'No change.')
    return h(
      'ul',
      { class: 'diff' },
      changes.map((c) =>
        h(
          'li',
          { class: c.type },
          c.type === 'added'
            ? `+ ${c.key}: ${show(c.new)}`
            : c.type === 'removed'
              ? `- ${c.key}: ${show(c.old)}`
              : `~ ${c.key}: ${show(c.old)} → ${show(c.new)}`,
        ),
      ),
    )
  }

  function dryRun(s) {
    const out = []
    if (s.degraded) out.push(h('p', null, badge('degraded', 'warn'), 'Consumers answer with the fallback; no provider is called.'))
    out.push(
      h(
        'table',
        null,
        h('thead', null, h('tr', null, h('th', null, 'Endpoint'), h('th', { class: 'num' }, 'Share of calls'))),
        h(
          'tbody',
          null,
          s.endpoints.map((e) => h('tr', null, h('td', null, e.address), h('td', { class: 'num' }, pct(e.share)))),
        ),
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
   * The one write dialog, for rules and configuration documents alike: `title`, `note` (what
   * the write is based on), `body` (the changes and what else to read first), a message, then
   * `write({ message })` on `verb` (the button), or Cancel; `done(answer)` is the toast. Its
   * parts are named by `id` (`${id}-message`, `${id}-apply`); `extra` (an option of the write)
   * goes under the message.
   */
  function writeDialog({ id, title, note, verb, body, extra, disabled, write, done }) {
    const message = h('input', {
      id: `${id}-message`,
      type: 'text',
      required: true,
      placeholder: 'why (recorded in the history and the audit log)',
    })
    const error = h('div', { role: 'alert' })
    const apply = h('button', { class: 'primary', type: 'submit', id: `${id}-apply` }, verb)
    if (disabled) apply.disabled = true
    fill(
      dialog,
      h(
        'form',
        {
          method: 'dialog',
          onsubmit: async (ev) => {
            ev.preventDefault()
            if (!message.value.trim()) {
              fill(error, h('p', { class: 'error' }, 'Say why: the message is recorded with the change.'))
              return message.focus()
            }
            apply.disabled = true
            try {
              const r = await write({ message: message.value })
              dialog.close()
              toast(done(r))
              route()
            } catch (e) {
              apply.disabled = false
              fill(error, failed(e))
            }
          },
        },
        h('h2', { id: 'preview-title' }, title),
        h('p', { class: 'muted' }, `${note} Nothing is written until you ${verb.toLowerCase()}.`),
        h('h2', null, 'Changes'),
        body,
        h('label', { for: `${id}-message` }, 'Message'),
        message,
        extra,
        error,
        h(
          'div',
          { class: 'row', style: 'margin-top:12px' },
          apply,
          h('button', { type: 'button', onclick: () => dialog.close() }, 'Cancel'),
        ),
      ),
    )
    // Emptied on close, so nothing of this write is left for the next dialog to show.
    dialog.addEventListener('close', () => fill(dialog), { once: true })
    dialog.showModal()
    message.focus()
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

  // --- services ---------------------------------------------------------------------------------
  function health(s) {
    const out = []
    if (s.refusedRules) out.push(badge('rules refused', 'bad'))
    if (s.endpoints === 0 && s.consumers > 0) out.push(badge('no provider', 'bad'))
    if (s.ejected) out.push(badge(`${s.ejected} ejected`, 'bad'))
    if (out.length === 0) out.push(badge('ok', 'ok'))
    return out
  }

  async function renderServices() {
    chrome('#/services')
    let list
    try {
      list = await api('GET', '/api/services')
    } catch (e) {
      return fill(view, h('h1', null, 'Services'), failed(e))
    }
    const search = h('input', {
      type: 'search',
      id: 'service-search',
      placeholder: 'Search services (press /)',
      'aria-label': 'Search services',
    })
    const box = h('div', { class: 'card' })
    const total = (k) => list.reduce((n, s) => n + s[k], 0)
    let page = 0
    const draw = () => {
      const q = search.value.trim().toLowerCase()
      const rows = q ? list.filter((s) => s.service.toLowerCase().includes(q) || s.rules.join(' ').toLowerCase().includes(q)) : list
      fill(
        box,
        paged(
          rows,
          [
            ['Service', (s) => h('a', { href: `#/service/${s.service}`, class: 'service-link' }, s.service)],
            ['Endpoints', (s) => s.endpoints, 'num'],
            ['Instances', (s) => s.instances, 'num'],
            ['Consumers', (s) => s.consumers, 'num'],
            ['Health', health],
            ['Rules in force', (s) => (s.refusedRules ? h('span', { class: 'error' }, s.refusedRules) : s.rules.join('; ') || '—')],
          ],
          {
            page,
            onPage: (p) => ((page = p), draw()),
            empty: list.length
              ? `No service matches “${search.value}”.`
              : 'No service yet. Services appear here as soon as a provider registers (cluster.provide({ app, group, port })) or a consumer starts (cluster.consumer({ app, group })).',
          },
        ),
      )
    }
    search.addEventListener('input', () => ((page = 0), draw()))
    fill(
      view,
      h('div', { class: 'row spread' }, h('h1', null, 'Services'), search),
      h(
        'div',
        { class: 'stats' },
        [
          ['services', list.length],
          ['endpoints', total('endpoints')],
          ['consumers', total('consumers')],
          ['ejected endpoints', total('ejected')],
        ].map(([k, v]) => h('div', null, h('b', null, v), h('span', { class: 'muted' }, k))),
      ),
      box,
    )
    draw()
    search.focus()
  }

  // --- one service ------------------------------------------------------------------------------
  let renders = 0
  async function renderService(svc) {
    chrome('#/services')
    fill(view, h('p', { class: 'muted' }, `Loading ${svc}…`))
    // One answer for the whole page (the server reads the service once: at 10,000 endpoints
    // a read of the provider set is most of the cost); the live health then refreshes alone.
    const mine = ++renders
    let o
    try {
      o = await api('GET', `${svcPath(svc)}/overview`)
    } catch (e) {
      return fill(view, h('h1', null, svc), failed(e), h('p', null, h('a', { href: '#/services' }, '← All services')))
    }
    if (mine === renders)
      drawService(svc, { providers: o.providers, consumers: o.consumers, rules: o.rules, history: o.history, live: o.health })
  }

  /** Draws a service page from its overview; the live health is then refreshed every 2 s. */
  function drawService(svc, { providers, consumers, rules, history, live }) {
    const editor = may('editor')
    const change = (title, c) => review(svc, title, { change: c }, (o) => api('POST', `${svcPath(svc)}/change`, { change: c, ...o }))

    const endpointsBox = h('div', { id: 'endpoints' })
    const filter = h('input', { type: 'search', placeholder: 'Filter endpoints', 'aria-label': 'Filter endpoints' })
    let page = 0
    const ejected = () => new Map(live.endpoints.filter((e) => e.ejected).map((e) => [e.address, e.ejectedBy]))
    const drawEndpoints = () => {
      const q = filter.value.trim()
      const out = ejected()
      const rows = q ? providers.endpoints.filter((e) => e.address.includes(q) || e.version.includes(q)) : providers.endpoints
      fill(
        endpointsBox,
        paged(
          rows,
          [
            ['Endpoint', (e) => h('code', null, e.address)],
            ['Version', (e) => e.version || '—'],
            [
              'Weight',
              (e) => `${e.effectiveWeight}${e.override !== null ? ` (override of ${e.weight})` : ''}${e.warming ? ' warming' : ''}`,
              'num',
            ],
            [
              'State',
              (e) => [
                e.disabled ? badge('disabled', 'warn') : null,
                out.has(e.address) ? badge(`ejected by ${out.get(e.address).join(', ')}`, 'bad') : null,
                e.gray ? badge('gray') : null,
                !e.disabled && !out.has(e.address) ? badge('serving', 'ok') : null,
              ],
            ],
            ['Instances', (e) => `${e.instances}${e.pids.length ? ` (pid ${e.pids.join(', ')})` : ''}`],
            ['Uptime', (e) => ago(e.startedAt)],
            ['Methods', (e) => e.methods.join(', ') || '*'],
            editor
              ? [
                  'Actions',
                  (e) => {
                    const w = h('input', {
                      class: 'small',
                      type: 'number',
                      min: 0,
                      value: e.effectiveWeight,
                      'aria-label': `weight of ${e.address}`,
                    })
                    return h(
                      'div',
                      { class: 'row' },
                      w,
                      h(
                        'button',
                        {
                          type: 'button',
                          onclick: () => change('Set weight', { op: 'weight', address: e.address, weight: Number(w.value) }),
                        },
                        'Set weight',
                      ),
                      e.disabled
                        ? h('button', { type: 'button', onclick: () => change('Enable', { op: 'enable', address: e.address }) }, 'Enable')
                        : h(
                            'button',
                            { type: 'button', class: 'danger', onclick: () => change('Disable', { op: 'disable', address: e.address }) },
                            'Disable',
                          ),
                    )
                  },
                ]
              : null,
          ].filter(Boolean),
          {
            page,
            onPage: (p) => ((page = p), drawEndpoints()),
            empty: providers.endpoints.length ? 'No endpoint matches.' : 'No provider is registered for this service.',
          },
        ),
        providers.rejected.length
          ? h('p', { class: 'error' }, `Nodes nobody can use: ${providers.rejected.map((r) => `${r.name} (${r.reason})`).join('; ')}`)
          : null,
      )
    }
    filter.addEventListener('input', () => ((page = 0), drawEndpoints()))
    const healthBox = h('div', { id: 'health' })
    const updated = h('span', { class: 'muted', id: 'health-updated' })
    const drawHealth = () => {
      updated.textContent = `updated ${new Date().toLocaleTimeString()}, every 2 s`
      if (live.consumers.length === 0) {
        fill(
          healthBox,
          h(
            'div',
            { class: 'empty' },
            `No consumer reports its health${live.silent ? ` (${live.silent} do not: older versions, or healthReportMs: 0)` : ''}.`,
          ),
        )
        return
      }
      const rv = (r) => (r.hash ? (r.version ? `v${r.version}` : 'unknown') : 'none')
      fill(
        healthBox,
        ...live.consumers.map((c) => {
          const views = [...c.providers]
            .sort((a, b) => (b.ejectedUntil ? 1 : 0) - (a.ejectedUntil ? 1 : 0) || (b.breaker !== 'closed') - (a.breaker !== 'closed'))
            .slice(0, 50)
          return h(
            'div',
            { class: 'card' },
            h(
              'div',
              { class: 'row spread' },
              h('b', null, `${c.host}:${c.pid}`),
              h(
                'span',
                { class: 'muted' },
                `${c.calls} calls/s · retry budget ${c.budget} · routers ${rv(c.rules.routers)} · configurators ${rv(c.rules.configurators)} · reported ${ago(c.at)} ago`,
              ),
            ),
            h(
              'table',
              null,
              h(
                'thead',
                null,
                h(
                  'tr',
                  null,
                  ['Provider', 'Breaker', 'Ejected for', 'In flight', 'p99 ms', 'Errors', 'Calls/10 s'].map((t) => h('th', null, t)),
                ),
              ),
              h(
                'tbody',
                null,
                views.map((p) =>
                  h(
                    'tr',
                    null,
                    h('td', null, h('code', null, p.address)),
                    h('td', null, badge(p.breaker, p.breaker === 'closed' ? 'ok' : p.breaker === 'open' ? 'bad' : 'warn')),
                    h('td', null, p.ejectedUntil ? `${Math.max(0, Math.round((p.ejectedUntil - Date.now()) / 1000))} s` : '—'),
                    h('td', { class: 'num' }, p.inflight),
                    h('td', { class: 'num' }, p.p99),
                    h('td', { class: 'num' }, `${p.errorRate}%`),
                    h('td', { class: 'num' }, p.calls),
                  ),
                ),
              ),
            ),
            c.providers.length > views.length
              ? h('p', { class: 'muted' }, `${c.providers.length - views.length} more healthy providers not shown`)
              : null,
          )
        }),
        live.silent ? h('p', { class: 'muted' }, `${live.silent} consumer(s) do not report.`) : null,
      )
    }

    const governance = h(
      'div',
      { class: 'card', id: 'governance' },
      h('h2', null, `Rules — version ${rules.version}${rules.external ? ' (changed outside lemon-cluster)' : ''}`),
      rules.refused ? h('p', { class: 'error' }, `The consumers refuse what the nodes hold: ${rules.refused.message}`) : null,
      h('p', null, rules.inForce.length ? rules.inForce.map((r) => badge(r)) : h('span', { class: 'muted' }, 'No rule in force.')),
      editor ? grayAndDegrade(change) : null,
    )

    const historyBox = h(
      'div',
      { class: 'card', id: 'history' },
      h('h2', null, 'History'),
      history.length === 0
        ? h('div', { class: 'empty' }, 'No change recorded yet.')
        : h(
            'table',
            null,
            h(
              'thead',
              null,
              h(
                'tr',
                null,
                ['Version', 'When', 'Who', 'Action', 'Message', 'Changes', ''].map((t) => h('th', null, t)),
              ),
            ),
            h(
              'tbody',
              null,
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
          ),
    )

    fill(
      view,
      h('p', null, h('a', { href: '#/services' }, '← All services')),
      h('h1', null, svc),
      h(
        'p',
        { class: 'muted' },
        `${providers.endpoints.length} endpoints · ${consumers.length} consumers · ${live.consumers.length} reporting`,
      ),
      h('div', { class: 'card' }, h('div', { class: 'row spread' }, h('h2', null, 'Endpoints'), filter), endpointsBox),
      h(
        'div',
        { class: 'card', id: 'consumers' },
        h('h2', null, 'Consumers'),
        paged(
          consumers,
          [
            ['Host', (c) => c.host],
            ['Pid', (c) => c.pid ?? '—', 'num'],
            ['Version', (c) => c.version || '—'],
            ['Balancer', (c) => c.loadBalance || '—'],
            ['Mode', (c) => c.mode || '—'],
            ['lemon-cluster', (c) => c.lemonVersion || '—'],
            ['Started', (c) => when(c.startedAt)],
            ['Health', (c) => (c.reporting ? badge('reporting', 'ok') : badge('silent'))],
          ],
          { empty: 'No consumer of this service is running.' },
        ),
      ),
      h('div', { class: 'card' }, h('div', { class: 'row spread' }, h('h2', null, 'Live health'), updated), healthBox),
      governance,
      editor ? rulesEditor(svc, rules) : null,
      historyBox,
    )
    drawEndpoints()
    drawHealth()
    clearInterval(timer)
    timer = setInterval(async () => {
      try {
        live = await api('GET', `${svcPath(svc)}/health`)
        drawHealth()
        drawEndpoints()
      } catch (e) {
        updated.textContent = `live health: ${e.message}`
      }
    }, 2000)
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

  /**
   * A JSON document typed in a text box, checked by the core as you type: `check(document)`
   * resolves to `{ ready, show, ... }` (whether it may be written, what to say of it), kept
   * with its document as the last check; `onReview(text, last)` runs on the button. A reply
   * to an older text is dropped. Its parts are named by `id` (`${id}-text`, `${id}-status`,
   * `${id}-review`); `waitForCheck` keeps the button off until a check says `ready`.
   */
  function checkedEditor({ id, label, value, button, check, onReview, waitForCheck }) {
    const text = h('textarea', { class: 'code', id: `${id}-text`, spellcheck: 'false', 'aria-label': label })
    text.value = JSON.stringify(value, null, 2)
    const status = h('div', { id: `${id}-status`, role: 'status', 'aria-live': 'polite' })
    const review = h('button', { type: 'button', class: 'primary', id: `${id}-review` }, button)
    let seq = 0
    let pending
    let last = null
    const validate = async () => {
      const mine = ++seq
      let document
      try {
        document = JSON.parse(text.value)
      } catch (e) {
        review.disabled = true
        return fill(status, h('p', { class: 'error' }, `Not JSON: ${e.message}`))
      }
      try {
        const answer = await check(document)
        if (mine !== seq) return
        last = { document, ...answer }
        review.disabled = !answer.ready
        fill(status, answer.show)
      } catch (e) {
        if (mine !== seq) return
        review.disabled = true
        fill(status, failed(e))
      }
    }
    text.addEventListener('input', () => {
      clearTimeout(pending)
      if (waitForCheck) review.disabled = true
      pending = setTimeout(validate, 250)
    })
    if (waitForCheck) review.disabled = true
    review.addEventListener('click', () => onReview(text.value, last))
    return [text, status, h('div', { class: 'row' }, review)]
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

  // --- audit ------------------------------------------------------------------------------------
  async function renderAudit() {
    chrome('#/audit')
    const q = h('input', {
      type: 'search',
      id: 'audit-search',
      placeholder: 'Search who, action, target, message',
      'aria-label': 'Search the audit log',
    })
    const action = h(
      'select',
      { id: 'audit-action', 'aria-label': 'Action' },
      [
        ['', 'Every action'],
        ['rules.', 'Rule changes'],
        ['console.', 'Accounts and tokens'],
      ].map(([v, t]) => h('option', { value: v }, t)),
    )
    const box = h('div', { class: 'card', id: 'audit' })
    let page = 0
    let pending
    const load = async () => {
      try {
        const params = new URLSearchParams({ q: q.value, action: action.value, limit: '1000' })
        const rows = await api('GET', `/api/audit?${params}`)
        fill(
          box,
          paged(
            rows,
            [
              ['When', (a) => when(a.at)],
              ['Who', (a) => a.who],
              ['Action', (a) => a.action],
              ['Target', (a) => (a.action.startsWith('rules.') ? h('a', { href: `#/service/${a.target}` }, a.target) : a.target)],
              ['Version', (a) => (a.version ? a.version : '—'), 'num'],
              ['Message', (a) => a.message || '—'],
            ],
            {
              page,
              onPage: (p) => ((page = p), load()),
              empty:
                q.value || action.value
                  ? 'No entry matches.'
                  : 'The audit log is empty: every change made through the CLI or this console is recorded here.',
            },
          ),
        )
      } catch (e) {
        fill(box, failed(e))
      }
    }
    const again = () => {
      page = 0
      clearTimeout(pending)
      pending = setTimeout(load, 200)
    }
    q.addEventListener('input', again)
    action.addEventListener('change', again)
    fill(view, h('div', { class: 'row spread' }, h('h1', null, 'Audit'), h('div', { class: 'row' }, q, action)), box)
    await load()
    q.focus()
  }

  // --- accounts and tokens ----------------------------------------------------------------------
  async function renderAccounts() {
    chrome('#/accounts')
    let accounts, tokens
    try {
      ;[accounts, tokens] = await Promise.all([api('GET', '/api/accounts'), api('GET', '/api/tokens')])
    } catch (e) {
      return fill(view, h('h1', null, 'Accounts'), failed(e))
    }
    const roleSelect = (id) =>
      h(
        'select',
        { id, 'aria-label': 'role' },
        ROLES.map((r) => h('option', { value: r }, r)),
      )
    const name = h('input', { id: 'account-name', placeholder: 'name', autocomplete: 'off', 'aria-label': 'account name' })
    const role = roleSelect('account-role')
    const password = h('input', {
      id: 'account-password',
      type: 'password',
      placeholder: 'password (10+ characters)',
      autocomplete: 'new-password',
      'aria-label': 'password',
    })
    const tokenName = h('input', { id: 'token-name', placeholder: 'what it is for', 'aria-label': 'token name' })
    const tokenRole = roleSelect('token-role')
    const made = h('div', { id: 'token-made' })
    const run = (f) => async (ev) => {
      ev.preventDefault()
      try {
        await f()
      } catch (e) {
        toast(e.message, true)
      }
    }
    fill(
      view,
      h('h1', null, 'Accounts and API tokens'),
      h(
        'div',
        { class: 'card' },
        h('h2', null, 'Accounts'),
        paged(accounts, [
          ['Name', (a) => a.name],
          ['Role', (a) => badge(a.role)],
          ['Created', (a) => `${when(a.createdAt)}${a.createdBy ? ` by ${a.createdBy}` : ''}`],
          [
            '',
            (a) =>
              a.name === session.user
                ? h('span', { class: 'muted' }, 'you')
                : h(
                    'button',
                    {
                      type: 'button',
                      class: 'danger',
                      onclick: run(async () => (await api('DELETE', `/api/accounts/${encodeURIComponent(a.name)}`), route())),
                    },
                    'Remove',
                  ),
          ],
        ]),
        h(
          'form',
          {
            class: 'row',
            style: 'margin-top:10px',
            onsubmit: run(
              async () => (await api('POST', '/api/accounts', { name: name.value, role: role.value, password: password.value }), route()),
            ),
          },
          name,
          role,
          password,
          h('button', { type: 'submit', class: 'primary' }, 'Add account'),
        ),
      ),
      h(
        'div',
        { class: 'card' },
        h('h2', null, 'API tokens'),
        h('p', { class: 'muted' }, 'For automation: send Authorization: Bearer TOKEN. A token acts with its role; it is shown once.'),
        paged(
          tokens,
          [
            ['Name', (t) => t.name],
            ['Role', (t) => badge(t.role)],
            ['Created', (t) => `${when(t.createdAt)} by ${t.createdBy}`],
            [
              '',
              (t) =>
                h(
                  'button',
                  { type: 'button', class: 'danger', onclick: run(async () => (await api('DELETE', `/api/tokens/${t.id}`), route())) },
                  'Revoke',
                ),
            ],
          ],
          { empty: 'No API token.' },
        ),
        h(
          'form',
          {
            class: 'row',
            style: 'margin-top:10px',
            onsubmit: run(async () => {
              const t = await api('POST', '/api/tokens', { name: tokenName.value, role: tokenRole.value })
              fill(
                made,
                h('p', null, 'The new token (copy it now, it is not shown again): '),
                h('input', { type: 'text', readonly: true, value: t.token, size: 80, 'aria-label': 'new token' }),
              )
            }),
          },
          tokenName,
          tokenRole,
          h('button', { type: 'submit', class: 'primary' }, 'Make token'),
        ),
        made,
      ),
    )
  }

  // The configuration pages (config.js) draw with the same parts.
  window.lemonConsole = {
    h,
    fill,
    badge,
    toast,
    api,
    failed,
    paged,
    changesList,
    writeDialog,
    checkedEditor,
    when,
    ago,
    show,
    may,
    chrome,
    view,
    session,
  }

  // --- routing ----------------------------------------------------------------------------------
  async function route() {
    clearInterval(timer)
    if (dialog.open) dialog.close()
    if (!session.user) {
      try {
        Object.assign(session, await api('GET', '/api/session'))
      } catch {
        return
      }
    }
    const hash = decodeURIComponent(location.hash.replace(/^#/, '')) || '/services'
    const m = /^\/service\/([^/]+\/[^/]+)$/.exec(hash)
    if (m) return renderService(m[1])
    if (hash === '/audit') return renderAudit()
    if (hash === '/accounts') return renderAccounts()
    const config = /^\/config(\/.*)?$/.exec(hash)
    if (config) return config[1] ? window.lemonConfig.renderDocument(config[1]) : window.lemonConfig.renderDocuments()
    return renderServices()
  }

  window.addEventListener('hashchange', route)
  document.addEventListener('keydown', (ev) => {
    if (ev.key === '/' && !/^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName)) {
      const s = document.querySelector('input[type=search]')
      if (s) {
        ev.preventDefault()
        s.focus()
      }
    }
  })
  // config.js (loaded after this file) registers its pages before the first route.
  document.addEventListener('DOMContentLoaded', route)
})()
