'use strict'
// The provider side: serve methods as `POST /{app}/{group}/{method}` from Express, Koa or plain
// node:http, register in ZooKeeper while listening, and shut down without losing a request.
//
// Response time is the design note's: from the moment a request enters the middleware to the
// moment its response headers are written. It is sent back as `X-Response-Time` (ms).

const dns = require('node:dns/promises')
const net = require('node:net')
const tls = require('node:tls')
const { checkName, TOKEN_HEADER } = require('./native').binding
const { invalidArg: invalid } = require('./errors')
const { GRAY_HEADER, inLane, headerIsGray } = require('./gray')
const { scraping } = require('./prometheus')

const DEFAULT_MAX_BODY_BYTES = 1024 * 1024
const DEFAULT_DRAIN_TIMEOUT_MS = 10000
// How long the rest of an oversized body is read (and dropped) before the 413 goes out anyway.
const BODY_DRAIN_MS = 5000

/** An error with an HTTP status and a stable code, for the JSON error body. */
class RequestError extends Error {
  constructor(status, code, message) {
    super(message)
    this.status = status
    this.code = code
  }
}

// `app`, `group` and method names follow the core's rule (the binding's `checkName`), so a
// service declared here is one the registry accepts.
function checkSegment(field, value) {
  if (typeof value !== 'string' || value === '') throw invalid(field, 'must be a non-empty string')
  checkName(field, value)
}

/**
 * The token step (`token` of the service): a request must carry this provider's token. The
 * comparison runs in the binding, so the token stays in Rust; the header is then removed from
 * the request, so a handler that logs its headers cannot log it either. Before the service is
 * registered there is no token, and every request is refused.
 */
function tokenRefusal(registration, req) {
  const offered = req.headers[TOKEN_HEADER]
  const ok = registration !== null && registration.verifyToken(typeof offered === 'string' ? offered : undefined)
  if (offered !== undefined) {
    delete req.headers[TOKEN_HEADER]
    const raw = req.rawHeaders
    for (let i = raw.length - 2; i >= 0; i -= 2) if (raw[i].toLowerCase() === TOKEN_HEADER) raw.splice(i, 2)
  }
  if (ok) return null
  return new RequestError(
    401,
    'ERR_UNAUTHORIZED',
    offered === undefined
      ? `this service requires its provider token in the ${TOKEN_HEADER} header; lemon-cluster consumers that may read it send it automatically`
      : `the ${TOKEN_HEADER} header does not carry this provider's token`,
  )
}

function sendJson(res, status, value) {
  if (res.headersSent || res.destroyed) return
  const body = JSON.stringify(value === undefined ? null : value)
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) })
  res.end(body)
}

/**
 * X-Response-Time's value: `ns` in milliseconds with three decimals (`0.482ms`), what
 * `toFixed(3)` writes but for a tie on the half microsecond, which this rounds up; made without
 * toFixed's call into C++, about 50 instead of 110 ns on every request.
 */
function responseTimeText(ns) {
  const us = Math.round(ns / 1000)
  const frac = us % 1000
  return `${(us - frac) / 1000}.${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}ms`
}

/** Whether `value` is a promise (or another thenable) to wait for. */
function isThenable(value) {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof value.then === 'function'
}

/**
 * A service served by this process: `methods` are async functions `(args, context)` whose
 * results are sent back as JSON.
 */
class Service {
  constructor(options) {
    if (options === null || typeof options !== 'object') throw invalid('options', 'must be an object')
    const { app, group, methods, cluster, maxBodyBytes, drainTimeoutMs, ...registration } = options
    checkSegment('app', app)
    checkSegment('group', group)
    if (methods === null || typeof methods !== 'object') throw invalid('methods', 'must be an object of functions')
    const names = Object.keys(methods)
    if (names.length === 0) throw invalid('methods', 'must declare at least one method')
    for (const name of names) {
      checkSegment(`methods.${name}`, name)
      if (typeof methods[name] !== 'function') throw invalid(`methods.${name}`, 'must be a function')
    }
    if (maxBodyBytes !== undefined && !(Number.isInteger(maxBodyBytes) && maxBodyBytes > 0))
      throw invalid('maxBodyBytes', 'must be a positive integer')
    if (drainTimeoutMs !== undefined && !(Number.isInteger(drainTimeoutMs) && drainTimeoutMs >= 0))
      throw invalid('drainTimeoutMs', 'must be a non-negative integer')
    this.app = app
    this.group = group
    this.cluster = cluster || null
    // One N-API call per request only when there is somewhere to send the numbers: statsd, or
    // (from whenever lemon.prometheus() is called) the totals a scrape reads.
    this._reporting = Boolean(this.cluster && this.cluster.metricsEnabled)
    this.prefix = `/${encodeURIComponent(app)}/${encodeURIComponent(group)}/`
    this.maxBodyBytes = maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES
    this.drainTimeoutMs = drainTimeoutMs ?? DEFAULT_DRAIN_TIMEOUT_MS
    this.registrationOptions = registration
    this._tokenRequired = registration.token !== undefined && registration.token !== null && registration.token !== false
    this._methods = new Map(names.map((n) => [n, methods[n]]))
    // The URL of each method as consumers send it, so a request's method and its function are
    // one lookup.
    this._routes = new Map(names.map((n) => [this.prefix + encodeURIComponent(n), { name: n, fn: methods[n] }]))
    this._inFlight = 0
    this._idle = []
    this._draining = false
    this._registration = null
    // The registration that checks tokens; kept through close(), whose drain still serves.
    this._tokenHolder = null
    this._server = null
  }

  /** Requests being handled right now. */
  get inFlight() {
    return this._inFlight
  }

  /** Whether `req` is addressed to this service. */
  matches(req) {
    return typeof req.url === 'string' && req.url.startsWith(this.prefix)
  }

  /** A plain `node:http` request listener (404 for paths of other services). */
  handler() {
    return (req, res) => {
      if (!this.matches(req)) return sendJson(res, 404, { error: { code: 'ERR_NO_SERVICE', message: `no service at ${req.url}` } })
      this.dispatch(req, res, undefined)
    }
  }

  /** Express middleware; requests for other paths go to `next()`. Works with or without express.json(). */
  express() {
    return (req, res, next) => {
      if (!this.matches(req)) return next()
      this.dispatch(req, res, req.readableEnded ? req.body : undefined)
    }
  }

  /** Koa middleware; requests for other paths go to `next()`. Works with or without a body parser. */
  koa() {
    return async (ctx, next) => {
      if (!this.matches(ctx.req)) return next()
      ctx.respond = false
      await this.dispatch(ctx.req, ctx.res, ctx.req.readableEnded ? ctx.request.body : undefined, true)
    }
  }

  /**
   * Handles one request addressed to this service: method, route, body, the method's call, the
   * answer. Never throws. With `wait`, returns a promise of the answer (Koa's chain awaits it);
   * without, a promise only while an async method runs.
   * The steps are plain calls and callbacks, with no promise of their own, so that a request
   * whose method answers at once costs little more than a hand-written handler.
   */
  dispatch(req, res, parsedBody, wait = false) {
    const started = process.hrtime.bigint()
    this._inFlight++
    if (this._draining) res.setHeader('connection', 'close')
    let name = '_unknown'
    try {
      // Before anything else, so that a caller without the token learns nothing (not even
      // which methods exist).
      if (this._tokenRequired) {
        const refusal = tokenRefusal(this._tokenHolder, req)
        if (refusal) throw refusal
      }
      if (req.method !== 'POST') {
        res.setHeader('allow', 'POST')
        throw new RequestError(405, 'ERR_METHOD_NOT_ALLOWED', `use POST, not ${req.method}`)
      }
      const route = this._route(req.url)
      name = route.name
      const fn = route.fn
      // Unknown names are reported as `_unknown`, so random paths cannot flood statsd with names.
      if (fn === undefined) {
        const requested = name
        name = '_unknown'
        throw new RequestError(404, 'ERR_NO_METHOD', `${this.app}/${this.group} has no method ${JSON.stringify(requested)}`)
      }
      if (parsedBody !== undefined) return this._invoke(req, res, started, name, fn, parsedBody)
      // A promise only for a caller that waits (Koa's middleware chain): one per request cost
      // measurably on the plain path.
      if (!wait) return this._read(req, res, started, name, fn, null)
      return new Promise((resolve) => this._read(req, res, started, name, fn, resolve))
    } catch (e) {
      return this._fail(req, res, started, name, e)
    }
  }

  /**
   * Reads the request's JSON body, at most `maxBodyBytes`, then calls the method (or answers the
   * error) once, and gives `resolve`, when there is one, what that returned. A larger body is
   * refused with 413, but only once the client has sent all of it (read and dropped, for at most
   * BODY_DRAIN_MS): closing a connection the client is still writing to resets it, and the reset
   * would destroy the 413 reply before the client has read it. Listeners and one `finish`, no
   * promise and no callback of its own: this is on every request's path, where each closure
   * and promise is garbage to collect.
   */
  _read(req, res, started, name, fn, resolve) {
    const limit = this.maxBodyBytes
    let chunks = null
    let first = null
    let size = 0
    // refused: the body is over the limit, the rest is being read and dropped.
    let refused = false
    let finished = false
    const finish = (error, args) => {
      if (finished) return
      finished = true
      const answered = error ? this._fail(req, res, started, name, error) : this._invoke(req, res, started, name, fn, args)
      if (resolve !== null) resolve(answered)
    }
    req.on('data', (chunk) => {
      size += chunk.length
      if (refused) return
      if (size > limit) {
        refused = true
        first = chunks = null
        const error = new RequestError(413, 'ERR_BODY_TOO_LARGE', `request body is larger than ${limit} bytes`)
        const timer = setTimeout(() => finish(error), BODY_DRAIN_MS)
        req.once('end', () => {
          clearTimeout(timer)
          finish(error)
        })
        return
      }
      if (first === null) first = chunk
      else (chunks ??= [first]).push(chunk)
    })
    // A request the client aborted ends here: answered (to nobody) and no longer in flight.
    req.on('error', finish)
    req.on('end', () => {
      if (refused) return
      const text = first === null ? '' : (chunks === null ? first : Buffer.concat(chunks)).toString('utf8')
      let value
      try {
        value = JSON.parse(text)
      } catch (e) {
        // Whitespace only (or nothing) is `null`; looked at only when parsing failed.
        if (text.trim() === '') return finish(null, null)
        return finish(new RequestError(400, 'ERR_BAD_REQUEST', `request body is not JSON: ${e.message}`))
      }
      finish(null, value)
    })
  }

  /**
   * The method a request URL asks for, `{ name, fn }`: a known path at once, else its name
   * decoded (and `fn` undefined when no method has it).
   */
  _route(url) {
    const known = this._routes.get(url)
    if (known !== undefined) return known
    const path = url.slice(this.prefix.length).split('?')[0]
    let name
    try {
      name = decodeURIComponent(path)
    } catch {
      name = path
    }
    return { name, fn: this._methods.get(name) }
  }

  /** Calls the method, in the request's lane, and answers with what it returns. */
  _invoke(req, res, started, name, fn, args) {
    const gray = headerIsGray(req.headers)
    let result
    try {
      result = inLane(gray, fn, args, { method: name, gray, req })
    } catch (e) {
      return this._fail(req, res, started, name, e)
    }
    if (!isThenable(result)) return this._answer(res, started, name, 200, result)
    return Promise.resolve(result).then(
      (value) => this._answer(res, started, name, 200, value),
      (e) => this._fail(req, res, started, name, e),
    )
  }

  /** Answers a failed request: a RequestError with its status, a method's error with 500. */
  _fail(req, res, started, name, e) {
    if (e instanceof RequestError) {
      if (e.status === 413) {
        // The connection is not reused after a refused body: close it once the reply is out
        // (at once if the client is still sending after BODY_DRAIN_MS).
        if (!res.headersSent) res.setHeader('connection', 'close')
        res.once('finish', () => {
          if (!req.complete) req.socket?.destroy()
        })
      }
      return this._answer(res, started, name, e.status, { error: { code: e.code, message: e.message } })
    }
    // A handler's error: its code and message, never its stack.
    const code = e && typeof e.code === 'string' ? e.code : 'ERR_HANDLER'
    const message = e && e.message !== undefined ? String(e.message) : String(e)
    return this._answer(res, started, name, 500, { error: { code, message } })
  }

  /**
   * Sends `value` as JSON with all headers in one writeHead; the response time is taken right
   * before it, so `X-Response-Time` ends when the headers are written. Then the request is done.
   */
  _answer(res, started, name, status, value) {
    let body
    try {
      body = JSON.stringify(value === undefined ? null : value)
    } catch (e) {
      status = 500
      body = JSON.stringify({ error: { code: 'ERR_HANDLER', message: String(e && e.message) } })
    }
    const responseTimeNs = Number(process.hrtime.bigint() - started)
    const responseTimeMs = responseTimeNs / 1e6
    if (!res.headersSent && !res.destroyed) {
      // A flat list, not an object: node:http walks it without a `for…in` (measured faster).
      res.writeHead(status, [
        'content-type',
        'application/json; charset=utf-8',
        'content-length',
        Buffer.byteLength(body),
        'X-Response-Time',
        responseTimeText(responseTimeNs),
      ])
      res.end(body)
    }
    if (this.cluster && (this._reporting || scraping())) {
      // The answer is out; a closed cluster refusing the figures must not fail the request.
      try {
        this.cluster.recordServed(this.app, this.group, name, res.statusCode, responseTimeMs)
      } catch {}
    }
    this._inFlight--
    if (this._inFlight === 0 && this._idle.length > 0) for (const wake of this._idle.splice(0)) wake()
  }

  /**
   * Registers this service in ZooKeeper once `server` listens (at once if it already does) and
   * deregisters when it closes. Resolves to the registration. `close()` then also drains `server`.
   */
  async register(server) {
    if (!this.cluster) throw invalid('cluster', 'is required to register')
    if (!server.listening)
      await new Promise((resolve, reject) => {
        server.once('listening', resolve)
        server.once('error', reject)
      })
    const address = server.address()
    const host = await registeredHost(this.cluster, this.registrationOptions.host, address)
    this._server = server
    this._registration = await this.cluster.provide({
      ...this.registrationOptions,
      ...(host === undefined ? {} : { host }),
      app: this.app,
      group: this.group,
      port: address.port,
      // An https.Server is a tls.Server: consumers must call it over TLS.
      protocol: server instanceof tls.Server ? 'https' : 'http',
      methods: [...this._methods.keys()],
    })
    this._tokenHolder = this._registration
    server.once('close', () => {
      this._registration?.close().catch(() => {})
    })
    return this._registration
  }

  /**
   * Graceful shutdown, in the order that loses no request:
   * 1. the provider node is removed, so consumers stop choosing this process;
   * 2. the server stops accepting connections, but keeps its open keep-alive connections: closing
   *    an idle one could race with a request a consumer is writing on it at that moment;
   * 3. every response now carries `Connection: close`, so each connection ends cleanly after its
   *    next reply, and connections left idle are closed by the consumer's pool (4 s idle timeout);
   * 4. once nothing is in flight and every connection has ended — at most `drainTimeoutMs` —
   *    whatever remains is closed.
   * Resolves to `{ drained, inFlight }`.
   */
  async close({ drainTimeoutMs = this.drainTimeoutMs } = {}) {
    this._draining = true
    const registration = this._registration
    this._registration = null
    // A failed delete (ZooKeeper unreachable right now) must not stop the drain: the node goes
    // with the session when the cluster closes.
    if (registration) await registration.close().catch(() => {})
    const server = this._server
    this._server = null
    const waits = [this._whenIdle()]
    if (server && server.listening) {
      server.closeIdleConnections = () => {}
      waits.push(new Promise((resolve) => server.close(() => resolve())))
    }
    let timer
    const drained = await Promise.race([
      Promise.all(waits).then(() => true),
      new Promise((resolve) => {
        timer = setTimeout(() => resolve(false), drainTimeoutMs)
      }),
    ])
    clearTimeout(timer)
    if (!drained && server) server.closeAllConnections()
    return { drained, inFlight: this._inFlight }
  }

  _whenIdle() {
    if (this._inFlight === 0) return Promise.resolve()
    return new Promise((resolve) => this._idle.push(resolve))
  }

  /**
   * Opt-in: on SIGINT/SIGTERM (pm2 sends SIGINT), `close()` this service (draining its server),
   * then close the cluster, so the process can exit by itself. Returns a function that removes
   * the handlers.
   */
  closeOnSignals({ signals = ['SIGINT', 'SIGTERM'], closeCluster = true } = {}) {
    let closing = false
    const onSignal = async () => {
      if (closing) return
      closing = true
      remove()
      await this.close()
      if (closeCluster && this.cluster) await this.cluster.close()
    }
    const remove = () => {
      for (const s of signals) process.removeListener(s, onSignal)
    }
    for (const s of signals) process.on(s, onSignal)
    return remove
  }
}

/** The address a server bound to one address accepts on (`undefined`: any, or not an IP server). */
function boundAddress(address) {
  if (address === null || typeof address !== 'object' || typeof address.address !== 'string') return undefined
  const a = address.address.startsWith('::ffff:') ? address.address.slice(7) : address.address
  return a === '' || a === '0.0.0.0' || a === '::' ? undefined : a
}

/**
 * The host to register for a server listening on `address`: the `host` option when given (with
 * an ERR_PROVIDER_HOST warning when it cannot reach a server bound to one address), else the
 * bound address when the server accepts on that one address only — the machine's first
 * non-internal IPv4, the cluster's default, would be refused by it — else the cluster's host.
 */
async function registeredHost(cluster, explicit, address) {
  const bound = boundAddress(address)
  if (bound === undefined) return explicit
  if (explicit === undefined || explicit === null) return bound
  if (typeof explicit !== 'string') return explicit // provide() refuses it with ERR_INVALID_ARG
  if (!(await reaches(explicit, bound)))
    cluster.emitWarning(
      'ERR_PROVIDER_HOST',
      `registering ${explicit}:${address.port}, but the server listens on ${bound}:${address.port} only, ` +
        `so consumers connecting to ${explicit} will fail with ERR_CONNECT; listen on 0.0.0.0 (or ::), ` +
        `or leave out \`host\` to register ${bound}`,
    )
  return explicit
}

/** Whether connecting to `host` reaches a server bound to `bound` (a name is looked up). */
async function reaches(host, bound) {
  const h = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
  if (h === bound) return true
  if (net.isIP(h)) return false
  try {
    const all = await dns.lookup(h, { all: true })
    return all.some(({ address }) => address === bound || address === `::ffff:${bound}`)
  } catch {
    return false
  }
}

/** Declares a service; see {@link Service}. */
function service(options) {
  return new Service(options)
}

module.exports = { Service, service, GRAY_HEADER, TOKEN_HEADER }
