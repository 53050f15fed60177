// The console's audit page: the audit log (every change made through the CLI or this console),
// searched by who, action, target and message and filtered by kind of action, 100 entries a
// page. Drawn with app.js's parts (window.lemonConsole), every value put on the page as text.
'use strict'
;(() => {
  const { h, fill, api, failed, paged, when, chrome, view, page } = window.lemonConsole

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

  page(/^\/audit$/, renderAudit)
})()
