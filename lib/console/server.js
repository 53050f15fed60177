'use strict'
// The admin console's HTTP server: the page (console/) and the API (api.js) over one
// `lemon.Admin`. This file decides who is asking — a session cookie, an API token, or nobody
// with --no-auth on a loopback address — and refuses what they may not do: the role of every
// /api/ route is checked here, every write needs the session's CSRF token and a same-origin
// request, logins are rate limited.

const crypto = require('node:crypto')
const fs = require('node:fs')
const http = require('node:http')
const https = require('node:https')
const net = require('node:net')
const os = require('node:os')
const { Accounts, ConsoleError, atLeast, SESSION_MS } = require('./accounts')
const { LoginLimits } = require('./limits')
const { match } = require('./api')
const { headers, cookies, readJson, send, sendError, loadPage, servePage } = require('./http')

/** Whether `host` (an address or a name) is this machine only. */
function isLoopback(host) {
  const h = String(host).replace(/^\[|\]$/g, '')
  if (h === 'localhost') return true
  if (net.isIPv4(h)) return h.startsWith('127.')
  return h === '::1'
}

function sameToken(a, b) {
  const x = Buffer.from(String(a || ''))
  const y = Buffer.from(String(b || ''))
  return x.length === y.length && x.length > 0 && crypto.timingSafeEqual(x, y)
}

/**
 * The request handler of a console over `admin`. options: { noAuth, secure, log, limits }
 * (limits.js: failed logins per address, name and account).
 */
function consoleHandler(admin, { noAuth = false, secure = false, log = () => {}, limits = new LoginLimits(admin) } = {}) {
  const accounts = new Accounts(admin)
  const page = loadPage()
  const cookieName = secure ? '__Host-lemon_session' : 'lemon_session'
  const anonymousCsrf = crypto.randomBytes(32).toString('base64url')
  const setCookie = (value, maxAge) =>
    `${cookieName}=${value}; Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${secure ? '; Secure' : ''}`

  async function whoIs(req) {
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization || '')
    if (bearer) {
      const user = await accounts.token(bearer[1].trim())
      if (!user) throw new ConsoleError('ERR_CONSOLE_AUTH', 401, 'the API token is not valid (revoked, or mistyped)')
      return user
    }
    if (noAuth) return { name: 'anonymous', role: 'admin', csrf: anonymousCsrf, via: 'no-auth' }
    return accounts.session(cookies(req)[cookieName])
  }

  function checkOrigin(req) {
    const origin = req.headers.origin
    if (origin && origin !== `${secure ? 'https' : 'http'}://${req.headers.host}`)
      throw new ConsoleError('ERR_CONSOLE_CSRF', 403, `a write from another origin (${origin}) is refused`)
  }

  /** A write must come from the console's own page: same origin, and the session's token. */
  function checkWrite(req, user) {
    checkOrigin(req)
    if (user && user.via === 'token') return
    if (!user || !sameToken(req.headers['x-csrf-token'], user.csrf))
      throw new ConsoleError('ERR_CONSOLE_CSRF', 403, 'the write has no valid CSRF token (X-CSRF-Token): reload the page and try again')
  }

  async function login(req, res) {
    checkOrigin(req)
    const body = await readJson(req)
    const name = typeof body.name === 'string' ? body.name.slice(0, 64) : ''
    const address = req.socket.remoteAddress
    const wait = await limits.retryAfter(address, name)
    if (wait > 0) {
      const e = new ConsoleError('ERR_CONSOLE_RATE_LIMITED', 429, `too many failed logins: try again in ${wait} s`)
      e.retryAfter = wait
      throw e
    }
    const { account, known } = await accounts.check(body.name, body.password)
    if (!account) {
      await limits.fail(address, name, known)
      throw new ConsoleError('ERR_CONSOLE_AUTH', 401, 'wrong account name or password')
    }
    await limits.succeed(name)
    const session = await accounts.login(account)
    send(
      res,
      200,
      { user: account.name, role: account.role, csrf: session.csrf, auth: true },
      {
        'Set-Cookie': setCookie(session.id, Math.floor(SESSION_MS / 1000)),
      },
    )
  }

  async function api(req, res, pathname, query) {
    if (req.method === 'POST' && pathname === '/api/login') {
      if (noAuth) throw new ConsoleError('ERR_INVALID_ARG', 400, 'this console runs with --no-auth: there is nothing to log in to')
      return login(req, res)
    }
    const user = await whoIs(req)
    if (req.method === 'GET' && pathname === '/api/session') {
      if (!user) throw new ConsoleError('ERR_CONSOLE_AUTH', 401, 'not logged in')
      return send(res, 200, { user: user.name, role: user.role, csrf: user.via === 'token' ? null : user.csrf, auth: !noAuth })
    }
    if (req.method === 'POST' && pathname === '/api/logout') {
      checkWrite(req, user)
      await accounts.logout(cookies(req)[cookieName])
      return send(res, 200, { loggedOut: true }, { 'Set-Cookie': setCookie('', 0) })
    }
    const found = match(req.method, pathname)
    if (!found) throw new ConsoleError('ERR_NOT_FOUND', 404, `no API ${req.method} ${pathname} (see docs/console.md)`)
    if (found.allowed) {
      res.setHeader('Allow', found.allowed.join(', '))
      throw new ConsoleError('ERR_INVALID_ARG', 405, `${pathname} does not take ${req.method} (it takes ${found.allowed.join(', ')})`)
    }
    const { route, params } = found
    if (!user) throw new ConsoleError('ERR_CONSOLE_AUTH', 401, 'not logged in (or the session expired): log in again')
    if (req.method !== 'GET') checkWrite(req, user)
    if (!atLeast(user.role, route.role))
      throw new ConsoleError(
        'ERR_CONSOLE_FORBIDDEN',
        403,
        `${user.name} is ${user.role}; ${req.method} ${route.pattern} needs ${route.role}`,
      )
    const body = req.method === 'GET' ? {} : await readJson(req)
    const value = await route.handler({ admin, accounts, user, params, query, body })
    send(res, 200, value === undefined ? null : value)
  }

  return async function handle(req, res) {
    headers(res, secure)
    try {
      if (noAuth && !isLoopback(String(req.headers.host || '').replace(/:\d+$/, '')))
        throw new ConsoleError(
          'ERR_CONSOLE_FORBIDDEN',
          403,
          'this console runs with --no-auth and answers only requests to a loopback name',
        )
      const url = new URL(req.url, 'http://console')
      if (!url.pathname.startsWith('/api/')) return servePage(page, req, res)
      await api(req, res, url.pathname, Object.fromEntries(url.searchParams))
    } catch (e) {
      sendError(res, e, log)
    }
  }
}

/**
 * Starts a console: `{ zk, root?, auth?, port = 8780, host = '127.0.0.1', noAuth?, tlsCert?,
 * tlsKey? }`. Refuses to start without an account (unless `noAuth`, allowed on a loopback
 * address only). Resolves to `{ url, port, close() }`.
 */
async function startConsole(options) {
  const { zk, root, auth, port = 8780, host = '127.0.0.1', noAuth = false, tlsCert, tlsKey, log = (e) => console.error(e) } = options
  if (noAuth && !isLoopback(host))
    throw new ConsoleError('ERR_CONSOLE_NO_AUTH', null, `--no-auth is allowed only on a loopback address (127.0.0.1, ::1), not ${host}`)
  if (!!tlsCert !== !!tlsKey) throw new ConsoleError('ERR_INVALID_ARG', null, '--tls-cert and --tls-key go together')
  const tls = tlsCert ? { cert: fs.readFileSync(tlsCert), key: fs.readFileSync(tlsKey) } : null
  const { Admin } = require('../index.js')
  const adminOptions = { zk, identity: `console@${os.hostname()}` }
  if (root) adminOptions.root = root
  if (auth) adminOptions.auth = auth
  const admin = new Admin(adminOptions)
  try {
    if (!noAuth && (await new Accounts(admin).count()) === 0)
      throw new ConsoleError(
        'ERR_CONSOLE_NO_ACCOUNT',
        null,
        'no console account exists: add one with `lemon-cluster console users add NAME --role admin` (or use --no-auth on a loopback address)',
      )
    const handle = consoleHandler(admin, { noAuth, secure: !!tls, log })
    const server = tls ? https.createServer(tls, handle) : http.createServer(handle)
    server.headersTimeout = 20000
    server.requestTimeout = 60000
    await new Promise((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, resolve)
    })
    const bound = server.address().port
    const shown = net.isIPv6(host) ? `[${host}]` : host
    return {
      url: `${tls ? 'https' : 'http'}://${shown}:${bound}/`,
      port: bound,
      async close() {
        await new Promise((resolve) => {
          server.close(() => resolve())
          server.closeAllConnections()
        })
        await admin.close()
      },
    }
  } catch (e) {
    await admin.close()
    throw e
  }
}

module.exports = { startConsole, consoleHandler, isLoopback }
