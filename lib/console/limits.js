'use strict'
// How many failed logins the console accepts: 5 per account name and 20 per client address in
// 15 minutes, then `429` with `Retry-After` until the window has passed.
//
// The count of an existing account is kept in ZooKeeper (`{root}/.lemon/console/logins/NAME`,
// one small record per account, written only by a failure, deleted by a success), so with any
// number of consoles against one ensemble an account still gets 5 guesses, not 5 per console.
// Counts per address and per unknown name stay in each process: one record per name anybody
// types would let a stranger fill ZooKeeper, and an unknown name has no password to guess.

const { NAME } = require('./accounts')

const WINDOW_MS = 15 * 60 * 1000

/** Failures per key within `windowMs`, in this process. */
class LoginLimiter {
  constructor({ limit = 5, windowMs = WINDOW_MS } = {}) {
    this.limit = limit
    this.windowMs = windowMs
    this.failures = new Map()
  }

  /** Seconds to wait before `keys` may try again, 0 when they may now. */
  retryAfter(keys, now = Date.now()) {
    let wait = 0
    for (const k of keys) {
      const f = this.failures.get(k)
      if (!f) continue
      if (now - f.first > this.windowMs) this.failures.delete(k)
      else wait = Math.max(wait, waitFor(f, this.limit, this.windowMs, now))
    }
    return wait
  }

  fail(keys, now = Date.now()) {
    if (this.failures.size > 100000) this.failures.clear()
    for (const k of keys) {
      const f = this.failures.get(k)
      if (!f || now - f.first > this.windowMs) this.failures.set(k, { first: now, count: 1 })
      else f.count++
    }
  }

  succeed(keys) {
    for (const k of keys) this.failures.delete(k)
  }
}

/** Seconds until `{ first, count }` may try again (0: now). */
function waitFor(f, limit, windowMs, now) {
  if (!f || !(f.count >= limit) || now - f.first > windowMs) return 0
  return Math.ceil((f.first + windowMs - now) / 1000)
}

/** The failures of existing accounts, shared by every console through `admin`'s records. */
class SharedLoginLimiter {
  constructor(admin, { limit = 5, windowMs = WINDOW_MS } = {}) {
    this.admin = admin
    this.limit = limit
    this.windowMs = windowMs
  }

  async retryAfter(name, now = Date.now()) {
    if (!NAME.test(name)) return 0
    const r = await this.admin.consoleRecord('logins', name)
    return r ? waitFor(r.data, this.limit, this.windowMs, now) : 0
  }

  /** Counts one failure (compare-and-set, a few tries when consoles count at once). */
  async fail(name, now = Date.now()) {
    for (let attempt = 0; attempt < 5; attempt++) {
      const r = await this.admin.consoleRecord('logins', name)
      const fresh = !r || now - r.data.first > this.windowMs
      const data = fresh ? { first: now, count: 1 } : { first: r.data.first, count: r.data.count + 1 }
      try {
        return await this.admin.consolePut('logins', name, data, r ? { ifVersion: r.version } : {})
      } catch (e) {
        if (e.code !== 'ERR_RECORD_CONFLICT') throw e
      }
    }
  }

  async succeed(name) {
    await this.admin.consoleDelete('logins', name)
  }
}

/** The console's limits: per address and per name in the process, per account shared. */
class LoginLimits {
  constructor(admin) {
    this.byAddress = new LoginLimiter({ limit: 20 })
    this.byName = new LoginLimiter({ limit: 5 })
    this.shared = new SharedLoginLimiter(admin, { limit: 5 })
  }

  /** Seconds the login of `name` from `address` must wait (0: it may try now). */
  async retryAfter(address, name) {
    const local = Math.max(this.byAddress.retryAfter([`ip:${address}`]), this.byName.retryAfter([`name:${name}`]))
    return Math.max(local, await this.shared.retryAfter(name))
  }

  /** A failed login; `known`: the account exists (its count is shared). */
  async fail(address, name, known) {
    this.byAddress.fail([`ip:${address}`])
    this.byName.fail([`name:${name}`])
    if (known) await this.shared.fail(name)
  }

  async succeed(name) {
    this.byName.succeed([`name:${name}`])
    await this.shared.succeed(name)
  }
}

module.exports = { LoginLimits, LoginLimiter, SharedLoginLimiter, WINDOW_MS }
