// The admin console's page: its shell and the parts every page draws with (window.lemonConsole):
// plain DOM, no library. Every value from the server is put on the page as text (textContent,
// never innerHTML), so a name or value holding `<script>` shows as text. Every decision comes
// from the API (docs/console.md): the diff and dry run of a change are the core's `preview`, and
// a write is sent with the version it was previewed at. The pages are the scripts loaded after
// this one (index.html), each registering the hashes it draws with `page`: services.js,
// audit.js, accounts.js, config.js; rules.js draws the governance cards of a service's page.
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

  /** A table: `heads` the column titles (a text, or `[text, className]`), `rows` its `<tr>`s. */
  function table(heads, rows) {
    const th = (head) => {
      const [text, cls] = Array.isArray(head) ? head : [head]
      return h('th', { class: cls, scope: 'col' }, text)
    }
    return h('table', null, h('thead', null, h('tr', null, heads.map(th))), h('tbody', null, rows))
  }

  /** A table of `rows` with `columns` [header, cell(row), className?], paginated by PAGE. */
  function paged(rows, columns, { empty = 'Nothing here.', page = 0, onPage } = {}) {
    if (rows.length === 0) return h('div', { class: 'empty' }, empty)
    const pages = Math.ceil(rows.length / PAGE)
    const p = Math.min(page, pages - 1)
    const slice = rows.slice(p * PAGE, p * PAGE + PAGE)
    const list = table(
      columns.map(([head, , cls]) => [head, cls]),
      slice.map((r) =>
        h(
          'tr',
          null,
          columns.map(([, cell, cls]) => h('td', { class: cls }, cell(r))),
        ),
      ),
    )
    if (pages === 1) return list
    return h(
      'div',
      null,
      list,
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

  /** Runs `f` every `ms` ms while this page is shown (the next route, or the login, stops it). */
  function refresh(f, ms) {
    clearInterval(timer)
    timer = setInterval(f, ms)
  }

  // --- routing ----------------------------------------------------------------------------------
  /** The pages, `[pattern, render]` in the order registered; `home` draws a hash no page claims. */
  const pages = []
  let home = null
  /**
   * Registers a page: `render(...groups)` draws the hash that `pattern` matches (its groups are
   * the arguments); `{ home: true }`, the page drawn for any other hash.
   */
  function page(pattern, render, { home: isHome = false } = {}) {
    pages.push([pattern, render])
    if (isHome) home = render
  }

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
    for (const [pattern, render] of pages) {
      const m = pattern.exec(hash)
      if (m) return render(...m.slice(1))
    }
    return home()
  }

  // The pages (the scripts loaded after this one) draw with these parts.
  window.lemonConsole = {
    ROLES,
    h,
    fill,
    badge,
    toast,
    api,
    svcPath,
    failed,
    table,
    paged,
    changesList,
    writeDialog,
    checkedEditor,
    when,
    ago,
    pct,
    show,
    may,
    chrome,
    view,
    session,
    refresh,
    page,
    route,
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
  // The page scripts (deferred, run in order before this event) have registered their pages.
  document.addEventListener('DOMContentLoaded', route)
})()
