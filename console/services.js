// The console's services pages: every service with its endpoints, consumers and health (the
// home page), and one service's page: its endpoints (weight, enable, disable), consumers, the
// consumers' live health refreshed every 2 s, and the governance cards of rules.js. Drawn with
// app.js's parts (window.lemonConsole), every value put on the page as text.
'use strict'
;(() => {
  const { h, fill, badge, api, svcPath, failed, table, paged, when, ago, may, chrome, view, refresh, page } = window.lemonConsole
  const { review, rulesCard, rulesEditor, historyCard } = window.lemonRules

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
            table(
              ['Provider', 'Breaker', 'Ejected for', 'In flight', 'p99 ms', 'Errors', 'Calls/10 s'],
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
            c.providers.length > views.length
              ? h('p', { class: 'muted' }, `${c.providers.length - views.length} more healthy providers not shown`)
              : null,
          )
        }),
        live.silent ? h('p', { class: 'muted' }, `${live.silent} consumer(s) do not report.`) : null,
      )
    }

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
      rulesCard(rules, change, editor),
      editor ? rulesEditor(svc, rules) : null,
      historyCard(svc, rules, history, editor),
    )
    drawEndpoints()
    drawHealth()
    refresh(async () => {
      try {
        live = await api('GET', `${svcPath(svc)}/health`)
        drawHealth()
        drawEndpoints()
      } catch (e) {
        updated.textContent = `live health: ${e.message}`
      }
    }, 2000)
  }

  page(/^\/services$/, renderServices, { home: true })
  page(/^\/service\/([^/]+\/[^/]+)$/, renderService)
})()
