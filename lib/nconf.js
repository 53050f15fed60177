'use strict'
// The `zookeeper` store for nconf: a drop-in for nconf-zookeeper that survives ZooKeeper
// outages.
//
//   require('lemon-cluster/nconf')(nconf)
//   nconf.use('zookeeper', { host: 'zk1,zk2,zk3', port: 2181, name: 'app', onUpdated })
//
// The document lives here as a plain object (`this.store`), so `get()` is the same in-memory
// walk as nconf's Memory store and never calls into native code. The native half (src/config.rs
// over crates/core/src/config) does ZooKeeper, the snapshot file, compare-and-set and secrets,
// and pushes each new version here through a weak thread-safe function.
//
// Unsaved changes are remembered as the keys this process set, merged or cleared (`_pending`).
// A remote version replaces the document but those keys keep their local values; a save sends
// exactly those keys, which the native side re-applies on top of newer versions on a conflict.

const { EventEmitter } = require('node:events')
const native = require('../index.js')
const { codedError, invalidArg } = require('./errors')

const ROOT = Symbol('root')
const PATCHED = Symbol.for('lemon-cluster.nconf.patched')

const NATIVE_OPTIONS = [
  'host',
  'port',
  'rootPath',
  'name',
  'cacheFile',
  'connectTimeoutMs',
  'sessionTimeoutMs',
  'readOnly',
  'auth',
  'layout',
  'logicalSeparator',
  'secretKey',
  'secretKeyEnv',
  'zkTls',
]
const JS_OPTIONS = ['type', 'autoSave', 'autoUpdate', 'onUpdated', 'parseValues']
const KNOWN_OPTIONS = new Set([...NATIVE_OPTIONS, ...JS_OPTIONS])
const SECRET_OPTIONS = new Set(['auth', 'secretKey', 'zkTls'])

const own = (obj, key) => obj !== null && typeof obj === 'object' && Object.prototype.hasOwnProperty.call(obj, key)

// Assigns an own property, also for `__proto__`, which a plain assignment would turn into a
// prototype change.
function put(obj, key, value) {
  if (key === '__proto__') {
    Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true })
  } else {
    obj[key] = value
  }
}

function splitKey(key, sep) {
  return key == null ? [] : key.split(sep)
}

// nconf's `common.parseValues`.
function parseValue(value) {
  try {
    return JSON.parse(value)
  } catch {
    return value === 'undefined' ? undefined : value
  }
}

function lookup(obj, path) {
  let target = obj
  for (const key of path) {
    if (!own(target, key)) return { found: false }
    target = target[key]
  }
  return { found: true, value: target }
}

function assign(obj, path, value) {
  let target = obj
  for (let i = 0; i < path.length - 1; i++) {
    if (!own(target, path[i]) || !target[path[i]] || typeof target[path[i]] !== 'object') put(target, path[i], {})
    target = target[path[i]]
  }
  put(target, path[path.length - 1], value)
}

function remove(obj, path) {
  let target = obj
  for (let i = 0; i < path.length - 1; i++) {
    if (!own(target, path[i])) return
    target = target[path[i]]
  }
  if (target && typeof target === 'object') delete target[path[path.length - 1]]
}

/**
 * The nconf store. Options are nconf-zookeeper's (`host`, `port`, `rootPath`, `name`,
 * `autoSave`, `autoUpdate`, `onUpdated`) plus `cacheFile`, `connectTimeoutMs`,
 * `sessionTimeoutMs`, `readOnly`, `logicalSeparator`, `parseValues`, `auth`, `layout`,
 * `secretKey`, `secretKeyEnv`. Events: 'change' ({ changes, origin, version, source }) and
 * 'warning' ({ code, message, path }).
 */
class Zookeeper extends EventEmitter {
  constructor(options) {
    super()
    options = options || {}
    for (const key of Object.keys(options)) {
      if (!KNOWN_OPTIONS.has(key)) {
        throw invalidArg(key, `unknown option (known: ${[...KNOWN_OPTIONS].join(', ')})`)
      }
    }
    if (options.onUpdated !== undefined && typeof options.onUpdated !== 'function') {
      throw invalidArg('onUpdated', 'must be a function')
    }
    const autoSave = options.autoSave === undefined || options.autoSave === null ? -1 : Number(options.autoSave)
    if (Number.isNaN(autoSave)) {
      throw invalidArg('autoSave', 'must be a number of ms (0 = at once, < 0 = off)')
    }
    const nativeOptions = {}
    for (const key of NATIVE_OPTIONS) if (options[key] !== undefined) nativeOptions[key] = options[key]
    const handle = new native.ConfigStore(nativeOptions)

    // Copied so that nconf.use('zookeeper', sameOptions) finds them equal and keeps this store.
    // Credentials are copied too, but not enumerable: `console.log(store)` must not print them.
    for (const key of Object.keys(options)) {
      if (SECRET_OPTIONS.has(key)) Object.defineProperty(this, key, { value: options[key], writable: true, configurable: true })
      else this[key] = options[key]
    }
    this.type = 'zookeeper'
    this.readOnly = Boolean(options.readOnly)
    this.logicalSeparator = options.logicalSeparator || ':'
    this.parseValues = Boolean(options.parseValues)
    this.autoUpdate = options.autoUpdate === undefined ? true : Boolean(options.autoUpdate)
    this.autoSave = options.autoSave === undefined ? -1 : options.autoSave
    this.store = {}
    this.mtimes = {}
    /** Where the data comes from: 'zookeeper', 'snapshot' or 'empty'. */
    this.source = 'empty'
    /** The znode's mzxid of the data in use (0 when not from ZooKeeper). */
    this.version = 0

    Object.defineProperties(this, {
      _native: { value: handle },
      _autoSaveMs: { value: autoSave },
      _pending: { value: new Map(), writable: true },
      _seq: { value: 0, writable: true },
      _generation: { value: 0, writable: true },
      _saving: { value: Promise.resolve(), writable: true },
      _timer: { value: null, writable: true },
      _closing: { value: null, writable: true },
      _closed: { value: false, writable: true },
      _offs: { value: [] },
      _backlog: { value: [] },
    })
    // Warnings emitted before anyone listened (say, during use()) go to the first listener.
    this.on('newListener', (event, listener) => {
      if (event === 'warning') for (const w of this._backlog.splice(0)) listener.call(this, w)
    })
    this._offs.push(handle.onUpdate((u) => this._receive(u)))
    this._offs.push(handle.onWarning((w) => this._warn(w, true)))
  }

  // --- nconf's Memory store contract ---------------------------------------------------------

  get(key) {
    let target = this.store
    const path = splitKey(key, this.logicalSeparator)
    while (path.length > 0) {
      key = path.shift()
      if (target && typeof target !== 'string' && Object.prototype.hasOwnProperty.call(target, key)) {
        target = target[key]
        continue
      }
      return undefined
    }
    return target
  }

  set(key, value) {
    if (this.readOnly) return this._refuse('set')
    let target = this.store
    const path = splitKey(key, this.logicalSeparator)
    if (path.length === 0) {
      if (!value || typeof value !== 'object') return false
      this.reset()
      this.store = value
      return true
    }
    this.mtimes[key] = Date.now()
    this._touch(key)
    while (path.length > 1) {
      key = path.shift()
      if (!own(target, key) || !target[key] || typeof target[key] !== 'object') put(target, key, {})
      target = target[key]
    }
    key = path.shift()
    put(target, key, this.parseValues ? parseValue(value) : value)
    return true
  }

  clear(key) {
    if (this.readOnly) return this._refuse('clear')
    let target = this.store
    let value = target
    const path = splitKey(key, this.logicalSeparator)
    delete this.mtimes[key]
    if (path.length === 0) {
      // What nconf's Memory store does with a null key: deletes a property named "undefined".
      delete target.undefined
      return true
    }
    let i
    for (i = 0; i < path.length - 1; i++) {
      value = own(target, path[i]) ? target[path[i]] : undefined
      if (typeof value !== 'function' && typeof value !== 'object') return false
      target = value
    }
    if (target === null) return false
    this._touch(key)
    delete target[path[i]]
    return true
  }

  merge(key, value) {
    if (this.readOnly) return this._refuse('merge')
    if (typeof value !== 'object' || Array.isArray(value) || value === null) return this.set(key, value)
    let target = this.store
    const path = splitKey(key, this.logicalSeparator)
    const fullKey = key
    this.mtimes[key] = Date.now()
    while (path.length > 1) {
      key = path.shift()
      if (!own(target, key) || !target[key]) put(target, key, {})
      target = target[key]
    }
    key = path.shift()
    const current = own(target, key) ? target[key] : undefined
    if (typeof current !== 'object' || current === null || Array.isArray(current)) {
      this._touch(fullKey)
      put(target, key, value)
      return true
    }
    return Object.keys(value).every((nested) => this.merge(`${fullKey}${this.logicalSeparator}${nested}`, value[nested]))
  }

  reset() {
    if (this.readOnly) return this._refuse('reset')
    this.mtimes = {}
    this.store = {}
    this._touch(null)
    return true
  }

  /** The data, at once: ZooKeeper's if it answers within `connectTimeoutMs`, else the snapshot's, else `{}`. */
  loadSync() {
    if (this._closed) return this.store
    const u = this._native.loadSync()
    this._apply(u)
    return this.store
  }

  /** nconf ≥ 0.8 calls `save(value, cb)`; `cb(err, data)`. Without a callback, returns a promise. */
  save(value, cb) {
    if (typeof value === 'function') cb = value
    const done = this._queueSave()
    if (typeof cb !== 'function') return done
    done.then(
      () => cb(null, this.store),
      (err) => cb(err),
    )
  }

  saveSync() {
    if (this._closed) throw codedError('ERR_CLOSED', 'the zookeeper configuration store is closed')
    if (this._pending.size === 0) return this.store
    const { json, captured } = this._patch()
    const updates = this._native.saveSync(json, this._generation)
    this._saved(captured, updates)
    return this.store
  }

  /** Ends the ZooKeeper session (after a last save of pending changes when autoSave is on). */
  close() {
    if (this._closing) return this._closing
    clearTimeout(this._timer)
    const flush = this._autoSaveMs >= 0 && this._pending.size > 0 ? this._queueSave().catch(() => {}) : this._saving
    this._closing = flush
      .catch(() => {})
      .then(() => {
        this._closed = true
        for (const off of this._offs.splice(0)) off()
        return this._native.close()
      })
    return this._closing
  }

  // --- internals -----------------------------------------------------------------------------

  _refuse(what) {
    this._warn({
      code: 'ERR_CONFIG_READ_ONLY',
      message: `${what}() refused: the zookeeper store for ${this.name || 'nconf-zookeeper'} is read-only (readOnly: true)`,
    })
    return false
  }

  _touch(key) {
    const k = key == null ? ROOT : key
    if (k === ROOT) this._pending.clear()
    this._pending.delete(k)
    this._pending.set(k, ++this._seq)
    this._scheduleAutoSave()
  }

  _scheduleAutoSave() {
    if (this._autoSaveMs < 0 || this._closing) return
    const run = () => {
      this._timer = null
      this._queueSave().catch((err) => {
        this._warn({ code: err.code || 'ERR_INTERNAL', message: `autoSave failed: ${err.message}; retrying` })
        // The changes stay pending; try again later (ZooKeeper may be back), without keeping
        // the process alive for it.
        if (!this._closing && this._pending.size > 0 && !this._timer) {
          this._timer = setTimeout(run, Math.max(this._autoSaveMs, 1000))
          this._timer.unref()
        }
      })
    }
    if (this._autoSaveMs === 0) return void queueMicrotask(run)
    clearTimeout(this._timer)
    this._timer = setTimeout(run, this._autoSaveMs)
  }

  _queueSave() {
    const next = this._saving.catch(() => {}).then(() => this._saveOnce())
    this._saving = next
    return next
  }

  async _saveOnce() {
    if (this._pending.size === 0) return
    if (this._closed) throw codedError('ERR_CLOSED', 'the zookeeper configuration store is closed')
    const { json, captured } = this._patch()
    const updates = await this._native.save(json, this._generation)
    this._saved(captured, updates)
  }

  _patch() {
    const captured = new Map(this._pending)
    const sep = this.logicalSeparator
    const ops = []
    for (const key of captured.keys()) {
      if (key === ROOT) {
        ops.push({ path: [], value: this.store })
        continue
      }
      const path = splitKey(key, sep)
      const { found, value } = lookup(this.store, path)
      ops.push(found && value !== undefined ? { path, value } : { path, deleted: true })
    }
    return { json: JSON.stringify(ops), captured }
  }

  _saved(captured, updates) {
    for (const [key, seq] of captured) if (this._pending.get(key) === seq) this._pending.delete(key)
    for (const u of updates) this._receive(u)
  }

  _receive(u) {
    if (u.generation <= this._generation) return
    if (u.origin === 'remote' && !this.autoUpdate && this.source === 'zookeeper') {
      this._generation = u.generation
      return
    }
    this._apply(u)
    const changes = JSON.parse(u.changes)
    if (changes.length === 0) return
    const change = { changes, origin: u.origin, version: u.version, source: u.source }
    this.emit('change', change)
    if (typeof this.onUpdated === 'function') this.onUpdated(change)
  }

  // Makes `u` the data in use, keeping this process's unsaved changes on top of it.
  _apply(u) {
    const view = JSON.parse(u.view)
    const local = this.store
    let next = view
    if (this._pending.has(ROOT)) {
      next = local
    } else {
      const sep = this.logicalSeparator
      for (const key of this._pending.keys()) {
        const path = splitKey(key, sep)
        const { found, value } = lookup(local, path)
        if (found) assign(next, path, value)
        else remove(next, path)
      }
    }
    this.store = next
    this._generation = Math.max(this._generation, u.generation)
    this.source = u.source
    this.version = u.version
  }

  // `logged`: a warning of the core, already in the log (stderr by default); printing it here too
  // would show every warning twice.
  _warn(w, logged = false) {
    if (this.listenerCount('warning') > 0) return void this.emit('warning', w)
    if (!logged) process.stderr.write(`[lemon-cluster] warn ${w.code}: ${w.message}\n`)
    if (this._backlog.push(w) > 32) this._backlog.shift()
  }
}

/**
 * Registers the store on the application's nconf: `nconf.use('zookeeper', options)` and the
 * chainable `nconf.zookeeper(options)`. A zookeeper store removed or replaced in nconf is closed.
 * Returns nconf.
 */
function register(nconf) {
  if (!nconf || typeof nconf.Provider !== 'function') {
    throw new TypeError("require('lemon-cluster/nconf')(nconf) expects the nconf module itself")
  }
  nconf.Zookeeper = Zookeeper
  const proto = nconf.Provider.prototype
  if (!proto[PATCHED]) {
    Object.defineProperty(proto, PATCHED, { value: true })
    proto.zookeeper = function zookeeper(options) {
      return this.use('zookeeper', options)
    }
    const add = proto.add
    proto.add = function addAndCloseReplaced(name, ...rest) {
      const previous = this.stores && this.stores[name]
      const result = add.call(this, name, ...rest)
      if (previous instanceof Zookeeper && this.stores[name] !== previous) previous.close().catch(() => {})
      return result
    }
    const removeStore = proto.remove
    proto.remove = function removeAndClose(name) {
      const store = this.stores && this.stores[name]
      if (store instanceof Zookeeper) store.close().catch(() => {})
      return removeStore.call(this, name)
    }
  }
  return nconf
}

register.Zookeeper = Zookeeper
/** Seals a secret as an `"ENC(...)"` value (AES-256-GCM); `key`: 64 hex digits or base64 of 32 bytes. */
register.encrypt = (plaintext, key) => native.encryptConfigValue(String(plaintext), String(key))
/** A fresh random key (base64) for `secretKey` or the `LEMON_CONFIG_KEY` environment variable. */
register.generateKey = () => native.generateConfigKey()

module.exports = register
