'use strict'
// The console's HTTP API: every route the page uses, under /api/, each with the least role that
// may call it, checked here on the server for every request. A route only translates HTTP to a
// `lemon.Admin` call and back: validation, diffs and dry runs are the core's (the page asks
// `preview` for the diff and the dry run, then writes with `ifVersion` so what was previewed
// is what gets written). Documented in docs/console.md.

const { ConsoleError } = require('./accounts')

/** Audit entries the audit page reads at most. */
const AUDIT_LIMIT = 1000

const service = (p) => `${p.app}/${p.group}`

/**
 * Reads of a service's whole provider set in flight, by method and service: requests that
 * arrive while one is running share its answer (every open service page asks for the live
 * health every 2 s; at 10,000 endpoints each read is a large one). Nothing is kept after the
 * answer, so no one sees anything older than their own request.
 */
const inFlight = new WeakMap()
function shared(admin, method, svc) {
  if (!inFlight.has(admin)) inFlight.set(admin, new Map())
  const reads = inFlight.get(admin)
  const key = `${method} ${svc}`
  let p = reads.get(key)
  if (!p) {
    p = admin[method](svc).finally(() => reads.delete(key))
    reads.set(key, p)
  }
  return p
}

function writeOptions(body, user) {
  const o = { by: user.name }
  if (body.message !== undefined) {
    if (typeof body.message !== 'string') throw new ConsoleError('ERR_INVALID_ARG', 400, 'message must be a string')
    o.message = body.message
  }
  if (body.force !== undefined) o.force = body.force === true
  if (body.ifVersion !== undefined) o.ifVersion = body.ifVersion
  return o
}

function need(body, key, type) {
  const v = body[key]
  if (type === 'object' ? v === null || typeof v !== 'object' || Array.isArray(v) : typeof v !== type)
    throw new ConsoleError('ERR_INVALID_ARG', 400, `the body needs ${key} (${type})`)
  return v
}

/** The configuration document a request names: `path=/shop/config` (checked by the core). */
function documentPath(from, field = 'path') {
  const p = from[field]
  if (typeof p !== 'string' || !p.startsWith('/'))
    throw new ConsoleError('ERR_INVALID_ARG', 400, `name the configuration document by its znode path: ${field}=/shop/config`)
  return p
}

/** The document's layout, as its stores' `layout` option (`document` unless `tree`). */
function layoutOf(from) {
  if (from.layout === undefined || from.layout === '') return {}
  if (from.layout !== 'document' && from.layout !== 'tree')
    throw new ConsoleError('ERR_INVALID_ARG', 400, `layout is document or tree, got ${JSON.stringify(from.layout)}`)
  return { layout: from.layout }
}

/** `?from=V&to=W`, each optional, as integers. */
function versions(query, names) {
  const out = {}
  for (const n of names) {
    if (query[n] === undefined || query[n] === '') continue
    const v = Number(query[n])
    if (!Number.isInteger(v) || v < 0) throw new ConsoleError('ERR_INVALID_ARG', 400, `${n} must be a version number`)
    out[n] = v
  }
  return out
}

function has(body, key) {
  if (!(key in body)) throw new ConsoleError('ERR_INVALID_ARG', 400, `the body needs ${key}`)
  return body[key]
}

function keyList(body) {
  const keys = body.keys
  if (!Array.isArray(keys) || keys.length === 0 || keys.some((k) => typeof k !== 'string'))
    throw new ConsoleError('ERR_INVALID_ARG', 400, 'the body needs keys: the keys to copy, e.g. ["db:pool"]')
  return keys
}

/** The options of a configuration write: message, ifVersion, force, layout, and who. */
function configWrite(body, user) {
  return { ...writeOptions(body, user), ...layoutOf(body) }
}

/** The options of a gray operation: message, layout, and who. */
function grayWrite(body, user) {
  const { message, by } = writeOptions(body, user)
  return { ...(message === undefined ? {} : { message }), by, ...layoutOf(body) }
}

/** Filters audit entries by free text (who, action, target, message) and exact action prefix. */
function filterAudit(entries, query) {
  const q = String(query.q || '').toLowerCase()
  const action = String(query.action || '')
  const who = String(query.who || '').toLowerCase()
  return entries.filter(
    (e) =>
      (!action || String(e.action).startsWith(action)) &&
      (!who || String(e.who).toLowerCase().includes(who)) &&
      (!q ||
        [e.who, e.action, e.target, e.message].some((f) =>
          String(f ?? '')
            .toLowerCase()
            .includes(q),
        )),
  )
}

/**
 * The routes: [method, pattern, role, handler(ctx)]; ctx = { admin, accounts, user, params,
 * query, body }. `role: null`: no login needed. Writes (every method but GET) also need the
 * CSRF token of the session (see server.js).
 */
const ROUTES = [
  ['GET', '/api/services', 'viewer', ({ admin }) => admin.services()],
  ['GET', '/api/services/:app/:group/providers', 'viewer', ({ admin, params }) => admin.providers(service(params))],
  ['GET', '/api/services/:app/:group/consumers', 'viewer', ({ admin, params }) => admin.consumers(service(params))],
  ['GET', '/api/services/:app/:group/health', 'viewer', ({ admin, params }) => shared(admin, 'health', service(params))],
  // The service page's first answer, from one read of the service (providers, consumers, health).
  ['GET', '/api/services/:app/:group/overview', 'viewer', ({ admin, params }) => shared(admin, 'overview', service(params))],
  ['GET', '/api/services/:app/:group/rules', 'viewer', ({ admin, params }) => admin.rules(service(params))],
  ['GET', '/api/services/:app/:group/history', 'viewer', ({ admin, params }) => admin.history(service(params))],
  [
    'GET',
    '/api/services/:app/:group/diff',
    'viewer',
    ({ admin, params, query }) => {
      const from = Number(query.from)
      const to = query.to === undefined || query.to === '' ? undefined : Number(query.to)
      if (!Number.isInteger(from)) throw new ConsoleError('ERR_INVALID_ARG', 400, 'diff needs ?from=V (and optionally &to=V)')
      return admin.diff(service(params), from, to)
    },
  ],
  // The dry run of a proposed write: { change } | { document } | { rollback: V }. Read-only, so
  // a viewer may ask; the rules editor calls it as the operator types.
  ['POST', '/api/services/:app/:group/preview', 'viewer', ({ admin, params, body }) => admin.preview(service(params), body)],
  [
    'POST',
    '/api/services/:app/:group/change',
    'editor',
    ({ admin, params, body, user }) => admin.change(service(params), need(body, 'change', 'object'), writeOptions(body, user)),
  ],
  [
    'PUT',
    '/api/services/:app/:group/rules',
    'editor',
    ({ admin, params, body, user }) => admin.setRules(service(params), need(body, 'document', 'object'), writeOptions(body, user)),
  ],
  [
    'POST',
    '/api/services/:app/:group/rollback',
    'editor',
    ({ admin, params, body, user }) => admin.rollback(service(params), need(body, 'version', 'number'), writeOptions(body, user)),
  ],
  // Configuration documents, named by their znode path in ?path= (a path has slashes).
  ['GET', '/api/config', 'viewer', ({ admin, query }) => admin.configDocuments(query.under || '/')],
  ['GET', '/api/config/document', 'viewer', ({ admin, query }) => admin.configGet(documentPath(query), null, layoutOf(query))],
  ['GET', '/api/config/history', 'viewer', ({ admin, query }) => admin.configHistory(documentPath(query), layoutOf(query))],
  ['GET', '/api/config/instances', 'viewer', ({ admin, query }) => admin.configInstances(documentPath(query))],
  [
    'GET',
    '/api/config/diff',
    'viewer',
    ({ admin, query }) => admin.configDiff(documentPath(query), versions(query, ['from', 'to']), layoutOf(query)),
  ],
  [
    'GET',
    '/api/config/compare',
    'viewer',
    ({ admin, query }) => admin.configCompare(documentPath(query), documentPath(query, 'other'), layoutOf(query)),
  ],
  ['GET', '/api/config/gray', 'viewer', ({ admin, query }) => admin.configGrayStatus(documentPath(query), layoutOf(query))],
  // A proposed document checked as a store checks it, with its diff from the current version:
  // what the editor asks as the operator types, and shows before a publish. Read-only.
  [
    'POST',
    '/api/config/preview',
    'viewer',
    ({ admin, body }) => admin.configDiff(documentPath(body), { document: need(body, 'document', 'object') }, layoutOf(body)),
  ],
  // Revealing a secret: admins only, audited by the operations layer (who, which key, never the
  // value); needs the key the console was started with ($LEMON_CONFIG_KEY).
  [
    'POST',
    '/api/config/reveal',
    'admin',
    ({ admin, body, user }) =>
      admin.configGet(documentPath(body), need(body, 'key', 'string'), { ...layoutOf(body), reveal: true, by: user.name }),
  ],
  [
    'PUT',
    '/api/config/key',
    'editor',
    ({ admin, body, user }) =>
      admin.configSet(documentPath(body), need(body, 'key', 'string'), has(body, 'value'), configWrite(body, user)),
  ],
  [
    'PUT',
    '/api/config/document',
    'editor',
    ({ admin, body, user }) => admin.configReplace(documentPath(body), need(body, 'document', 'object'), configWrite(body, user)),
  ],
  [
    'POST',
    '/api/config/rollback',
    'editor',
    ({ admin, body, user }) => admin.configRollback(documentPath(body), need(body, 'version', 'number'), configWrite(body, user)),
  ],
  [
    'POST',
    '/api/config/copy',
    'editor',
    ({ admin, body, user }) => admin.configCopy(documentPath(body), documentPath(body, 'target'), keyList(body), configWrite(body, user)),
  ],
  [
    'POST',
    '/api/config/gray/start',
    'editor',
    ({ admin, body, user }) => {
      const o = { ...grayWrite(body, user), selector: need(body, 'selector', 'object') }
      if (body.set !== undefined) o.set = need(body, 'set', 'object')
      if (body.document !== undefined) o.document = need(body, 'document', 'object')
      if (body.force !== undefined) o.force = body.force === true
      return admin.configGrayStart(documentPath(body), o)
    },
  ],
  [
    'POST',
    '/api/config/gray/promote',
    'editor',
    ({ admin, body, user }) => admin.configGrayPromote(documentPath(body), grayWrite(body, user)),
  ],
  ['POST', '/api/config/gray/abort', 'editor', ({ admin, body, user }) => admin.configGrayAbort(documentPath(body), grayWrite(body, user))],
  [
    'GET',
    '/api/audit',
    'viewer',
    async ({ admin, query }) => {
      const limit = Math.min(AUDIT_LIMIT, Math.max(1, Number(query.limit) || 200))
      return filterAudit(await admin.audit(AUDIT_LIMIT), query)
        .slice(-limit)
        .reverse()
    },
  ],
  ['GET', '/api/accounts', 'admin', ({ accounts }) => accounts.list()],
  [
    'POST',
    '/api/accounts',
    'admin',
    ({ accounts, body, user }) =>
      accounts.add(need(body, 'name', 'string'), need(body, 'role', 'string'), need(body, 'password', 'string'), user.name),
  ],
  [
    'DELETE',
    '/api/accounts/:name',
    'admin',
    async ({ accounts, params, user }) => (await accounts.remove(params.name, user.name), { removed: params.name }),
  ],
  ['GET', '/api/tokens', 'admin', ({ accounts }) => accounts.tokens()],
  [
    'POST',
    '/api/tokens',
    'admin',
    ({ accounts, body, user }) => accounts.addToken(need(body, 'name', 'string'), need(body, 'role', 'string'), user.name),
  ],
  [
    'DELETE',
    '/api/tokens/:id',
    'admin',
    async ({ accounts, params, user }) => (await accounts.removeToken(params.id, user.name), { removed: params.id }),
  ],
]

/** Compiles the patterns: `:name` matches one URL segment, decoded. */
const COMPILED = ROUTES.map(([method, pattern, role, handler]) => {
  const names = []
  const re = new RegExp(`^${pattern.replace(/:(\w+)/g, (_, n) => (names.push(n), '([^/]+)'))}$`)
  return { method, pattern, role, handler, re, names }
})

/** The route for `method path`: `{ route, params }`, `{ allowed }` (wrong method) or null. */
function match(method, pathname) {
  const allowed = []
  for (const r of COMPILED) {
    const m = r.re.exec(pathname)
    if (!m) continue
    if (r.method !== method) {
      allowed.push(r.method)
      continue
    }
    const params = {}
    try {
      r.names.forEach((n, i) => (params[n] = decodeURIComponent(m[i + 1])))
    } catch {
      throw new ConsoleError('ERR_INVALID_ARG', 400, `the path ${pathname} is not valid URL encoding`)
    }
    return { route: r, params }
  }
  return allowed.length ? { allowed } : null
}

module.exports = { ROUTES, match, filterAudit }
