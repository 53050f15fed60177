'use strict'
// Who may use the console: accounts (scrypt-hashed passwords), API tokens for automation and
// login sessions, all kept through `lemon.Admin`'s console records in ZooKeeper
// (`{root}/.lemon/console/{accounts,tokens,sessions}`), so any number of console processes
// against one ensemble agree on them. Only hashes are stored: a session id and a token secret
// are stored as their SHA-256, a password as scrypt (N=2^15, r=8, p=1 — OWASP's baseline for
// scrypt) with a 16-byte random salt.

const crypto = require('node:crypto')
const { promisify } = require('node:util')

const scrypt = promisify(crypto.scrypt)

/** The roles, weakest first: a role may do what every role before it may. */
const ROLES = ['viewer', 'editor', 'admin']
const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 }
const KEY_BYTES = 32
/** How long a login lasts. */
const SESSION_MS = 12 * 60 * 60 * 1000
const MIN_PASSWORD = 10
const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/

class ConsoleError extends Error {
  constructor(code, status, message) {
    super(message)
    this.code = code
    this.status = status
  }
}

const sha256 = (text) => crypto.createHash('sha256').update(text).digest('hex')
const atLeast = (role, needed) => ROLES.indexOf(role) >= ROLES.indexOf(needed)

function checkRole(role) {
  if (!ROLES.includes(role))
    throw new ConsoleError('ERR_INVALID_ARG', 400, `the role must be one of ${ROLES.join(', ')}, got ${JSON.stringify(role)}`)
}

function checkName(name) {
  if (typeof name !== 'string' || !NAME.test(name))
    throw new ConsoleError(
      'ERR_INVALID_ARG',
      400,
      `an account name is 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit; got ${JSON.stringify(name)}`,
    )
}

async function hashPassword(password) {
  const salt = crypto.randomBytes(16)
  const key = await scrypt(password, salt, KEY_BYTES, SCRYPT)
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${key.toString('base64')}`
}

async function verifyPassword(password, stored) {
  const [scheme, N, r, p, salt, key] = String(stored).split('$')
  if (scheme !== 'scrypt' || !key) return false
  const expected = Buffer.from(key, 'base64')
  const got = await scrypt(password, Buffer.from(salt, 'base64'), expected.length, {
    N: Number(N),
    r: Number(r),
    p: Number(p),
    maxmem: SCRYPT.maxmem,
  })
  return crypto.timingSafeEqual(got, expected)
}

/** A hash a login of an unknown name is checked against, so it takes as long as a known one. */
let decoy
const decoyHash = async () => (decoy = decoy || hashPassword(crypto.randomBytes(16).toString('hex')))

/** The accounts, tokens and sessions of one console, over `admin`'s records. */
class Accounts {
  constructor(admin) {
    this.admin = admin
  }

  async list() {
    const records = await this.admin.consoleRecords('accounts')
    return records.map((r) => ({ name: r.name, role: r.data.role, createdAt: r.data.createdAt, createdBy: r.data.createdBy }))
  }

  async count() {
    return (await this.admin.consoleRecords('accounts')).length
  }

  /** Adds an account; `ERR_RECORD_CONFLICT` when it exists. */
  async add(name, role, password, by) {
    checkName(name)
    checkRole(role)
    if (typeof password !== 'string' || password.length < MIN_PASSWORD)
      throw new ConsoleError('ERR_INVALID_ARG', 400, `the password must have at least ${MIN_PASSWORD} characters`)
    const data = { role, hash: await hashPassword(password), createdAt: Date.now(), createdBy: by || null }
    await this.admin.consolePut('accounts', name, data, {
      audit: { action: 'account.add', target: name, message: `role ${role}`, ...(by ? { by } : {}) },
    })
    return { name, role }
  }

  /** Removes an account and ends its sessions at their next request. */
  async remove(name, by) {
    checkName(name)
    const existed = await this.admin.consoleDelete('accounts', name, {
      audit: { action: 'account.remove', target: name, ...(by ? { by } : {}) },
    })
    if (!existed) throw new ConsoleError('ERR_NOT_FOUND', 404, `account ${name} not found`)
  }

  /**
   * `{ account, known }`: the account when `password` is its password, else null (in about
   * the same time); `known`: whether the account exists (for the login limits' records).
   */
  async check(name, password) {
    if (typeof name !== 'string' || typeof password !== 'string' || !NAME.test(name)) {
      await verifyPassword('x', await decoyHash())
      return { account: null, known: false }
    }
    const record = await this.admin.consoleRecord('accounts', name)
    const ok = await verifyPassword(password, record ? record.data.hash : await decoyHash())
    return { account: ok && record ? { name, role: record.data.role } : null, known: !!record }
  }

  /** Starts a session: `{ id, csrf, expires }`; only the id's hash is stored. */
  async login(account) {
    const id = crypto.randomBytes(32).toString('base64url')
    const csrf = crypto.randomBytes(32).toString('base64url')
    const expires = Date.now() + SESSION_MS
    await this.admin.consolePut('sessions', sha256(id), { user: account.name, csrf, expires })
    this.sweep().catch(() => {})
    return { id, csrf, expires }
  }

  async logout(id) {
    if (id) await this.admin.consoleDelete('sessions', sha256(id))
  }

  /** The session's user (role read from the account now) or null. */
  async session(id) {
    if (typeof id !== 'string' || id.length < 20 || id.length > 100) return null
    const record = await this.admin.consoleRecord('sessions', sha256(id))
    if (!record || !(record.data.expires > Date.now())) return null
    const account = await this.admin.consoleRecord('accounts', record.data.user)
    if (!account) return null
    return { name: record.data.user, role: account.data.role, csrf: record.data.csrf, via: 'session' }
  }

  /** Deletes expired sessions (best effort; several consoles may sweep at once). */
  async sweep() {
    const now = Date.now()
    for (const r of await this.admin.consoleRecords('sessions'))
      if (!(r.data.expires > now)) await this.admin.consoleDelete('sessions', r.name).catch(() => {})
  }

  async tokens() {
    const records = await this.admin.consoleRecords('tokens')
    return records.map((r) => ({
      id: r.name,
      name: r.data.name,
      role: r.data.role,
      createdAt: r.data.createdAt,
      createdBy: r.data.createdBy,
    }))
  }

  /** Makes an API token scoped to `role`; the token itself is returned once and never stored. */
  async addToken(name, role, by) {
    if (typeof name !== 'string' || name.length < 1 || name.length > 100 || /[\u0000-\u001f]/.test(name))
      throw new ConsoleError('ERR_INVALID_ARG', 400, 'a token needs a name of 1 to 100 printable characters (what it is for)')
    checkRole(role)
    const id = crypto.randomBytes(8).toString('hex')
    const secret = crypto.randomBytes(32).toString('base64url')
    await this.admin.consolePut(
      'tokens',
      id,
      { name, role, hash: sha256(secret), createdAt: Date.now(), createdBy: by },
      { audit: { action: 'token.add', target: id, message: `${name} (role ${role})`, by } },
    )
    return { id, name, role, token: `lct_${id}_${secret}` }
  }

  async removeToken(id, by) {
    if (typeof id !== 'string' || !/^[0-9a-f]{16}$/.test(id))
      throw new ConsoleError('ERR_NOT_FOUND', 404, `token ${JSON.stringify(id)} not found`)
    const existed = await this.admin.consoleDelete('tokens', id, { audit: { action: 'token.remove', target: id, by } })
    if (!existed) throw new ConsoleError('ERR_NOT_FOUND', 404, `token ${id} not found`)
  }

  /** The token's identity or null. */
  async token(text) {
    const m = /^lct_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/.exec(text || '')
    if (!m) return null
    const record = await this.admin.consoleRecord('tokens', m[1])
    if (!record) return null
    const ok = crypto.timingSafeEqual(Buffer.from(sha256(m[2]), 'hex'), Buffer.from(String(record.data.hash), 'hex'))
    return ok ? { name: `token ${record.data.name}`, role: record.data.role, via: 'token' } : null
  }
}

module.exports = { Accounts, ConsoleError, ROLES, NAME, atLeast, checkRole, checkName, MIN_PASSWORD, SESSION_MS }
