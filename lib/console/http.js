'use strict'
// The console's HTTP plumbing: security headers, cookies, JSON bodies with a size cap, JSON
// answers and errors, and the page's static files (only the files shipped in `console/`, read
// once at start, so no request can name another file).

const fs = require('node:fs')
const path = require('node:path')
const { ConsoleError } = require('./accounts')

/** The page folder shipped in the package. */
const PAGE_DIR = path.join(__dirname, '..', '..', 'console')
/** A body larger than this is refused (a rules document is at most 256 KiB). */
const MAX_BODY = 512 * 1024

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
}

// Scripts and styles only from the console itself, nothing inline, nothing framed: even a
// value that slipped through escaping could not run.
const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

/** Status codes of the codes the operations layer and the console answer with. */
const STATUS = {
  ERR_INVALID_ARG: 400,
  ERR_BAD_ROUTER: 400,
  ERR_BAD_CONFIGURATOR: 400,
  ERR_NOT_FOUND: 404,
  ERR_RULE_CONFLICT: 409,
  ERR_RECORD_CONFLICT: 409,
  ERR_RULE_UNSAFE: 422,
  ERR_CONFIG_INVALID: 400,
  ERR_CONFIG_TOO_LARGE: 413,
  ERR_CONFIG_CONFLICT: 409,
  ERR_CONFIG_GRAY_EXISTS: 409,
  ERR_CONFIG_VERSION_UNKNOWN: 404,
  ERR_CONFIG_DECRYPT: 422,
  ERR_CONFIG_ROTATION: 422,
  ERR_ZK_AUTH: 403,
  ERR_ZK_UNAVAILABLE: 503,
  ERR_ZK: 503,
  ERR_CLOSED: 503,
}

function headers(res, secure) {
  res.setHeader('Content-Security-Policy', CSP)
  res.setHeader('X-Content-Type-Options', 'nosniff')
  res.setHeader('X-Frame-Options', 'DENY')
  res.setHeader('Referrer-Policy', 'no-referrer')
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin')
  res.setHeader('Cross-Origin-Resource-Policy', 'same-origin')
  if (secure) res.setHeader('Strict-Transport-Security', 'max-age=31536000')
}

function cookies(req) {
  const out = {}
  for (const part of String(req.headers.cookie || '').split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0) out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim()
  }
  return out
}

function readJson(req) {
  return new Promise((resolve, reject) => {
    let size = 0
    const chunks = []
    req.on('data', (c) => {
      size += c.length
      if (size > MAX_BODY) {
        reject(new ConsoleError('ERR_INVALID_ARG', 413, `the request body is over ${MAX_BODY} bytes`))
        req.destroy()
      } else chunks.push(c)
    })
    req.on('error', reject)
    req.on('end', () => {
      if (size === 0) return resolve({})
      try {
        const v = JSON.parse(Buffer.concat(chunks).toString('utf8'))
        if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object')
        resolve(v)
      } catch (e) {
        reject(new ConsoleError('ERR_INVALID_ARG', 400, `the request body must be a JSON object: ${e.message}`))
      }
    })
  })
}

function send(res, status, value, extra = {}) {
  if (res.headersSent) return
  const body = JSON.stringify(value)
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', ...extra })
  res.end(body)
}

/** Answers an error with its code and a message a person can act on; never a stack trace. */
function sendError(res, e, log) {
  const code = e.code || 'ERR_INTERNAL'
  const status = e.status || STATUS[code] || 500
  if (status >= 500 && log) log(e)
  const message = String(e.message || e).split('\n')[0]
  const extra = e.retryAfter ? { 'Retry-After': String(e.retryAfter) } : {}
  send(res, status, { error: { code, message } }, extra)
}

/** The page's files, read once: `{ '/': ..., '/assets/app.js': ... }`. */
function loadPage(dir = PAGE_DIR) {
  const files = new Map()
  for (const name of fs.readdirSync(dir)) {
    const type = TYPES[path.extname(name)]
    if (!type) continue
    const body = fs.readFileSync(path.join(dir, name))
    files.set(name === 'index.html' ? '/' : `/assets/${name}`, { type, body })
  }
  if (!files.has('/')) throw new Error(`the console page is missing: no index.html in ${dir}`)
  return files
}

function servePage(files, req, res) {
  const url = req.url.split('?')[0]
  const file = files.get(url)
  if (!file || (req.method !== 'GET' && req.method !== 'HEAD')) {
    res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' })
    return res.end('not found')
  }
  res.writeHead(200, { 'Content-Type': file.type, 'Content-Length': file.body.length, 'Cache-Control': 'no-cache' })
  res.end(req.method === 'HEAD' ? undefined : file.body)
}

module.exports = { headers, cookies, readJson, send, sendError, loadPage, servePage, MAX_BODY }
