// The console's accounts page (admins, with login on): the accounts with their roles, and the
// API tokens for automation, each shown once when made. Drawn with app.js's parts
// (window.lemonConsole), every value put on the page as text.
'use strict'
;(() => {
  const { ROLES, h, fill, badge, toast, api, failed, paged, when, chrome, view, session, route, page } = window.lemonConsole

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

  page(/^\/accounts$/, renderAccounts)
})()
