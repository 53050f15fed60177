'use strict'
// The `zookeeper` store for nconf: a drop-in for nconf-zookeeper that survives ZooKeeper
// outages.
//
//   require('lemon-cluster/nconf')(nconf)
//   nconf.use('zookeeper', { host: 'zk1,zk2,zk3', port: 2181, name: 'app', onUpdated })
//
// The store is a subclass of the application's nconf Memory store, as nconf's own File store
// is: the document lives here as a plain object (`this.store`) and `get()` is Memory's own, so a
// read never calls into native code. The native half (src/config.rs
// over crates/core/src/config) does ZooKeeper, the snapshot file, compare-and-set and secrets,
// and pushes each new version here through a weak thread-safe function.
//
// Unsaved changes are remembered as the keys this process set, merged or cleared (`_pending`).
// A remote version replaces the document but those keys keep their local values; a save sends
// exactly those keys, which the native side re-applies on top of newer versions on a conflict.

const { EventEmitter } = require('node:events')
const { binding: native } = require('./native')
const { codedError, invalidArg } = require('./errors')
const { own, put, splitKey, parseValue, toJson, lookup, assign, remove } = require('./config-document')

const ROOT = Symbol('root')
// Marks our classes, also across copies of this file (two versions of the package in one app).
const STORE = Symbol.for('lemon-cluster.nconf.store')
const PROVIDER = Symbol.for('lemon-cluster.nconf.provider')

// The options the native half reads (one list, the core's), and the ones handled here.
const NATIVE_OPTIONS = native.configOptionNames()
const JS_OPTIONS = ['type', 'autoSave', 'autoUpdate', 'onUpdated', 'parseValues']
// `register.options`: every option, for tools and the tests that hold the typings and docs to it.
const OPTIONS = Object.freeze([...NATIVE_OPTIONS, ...JS_OPTIONS])
const KNOWN_OPTIONS = new Set(OPTIONS)
const SECRET_OPTIONS = new Set(['auth', 'secretKey', 'zkTls'])
// Save errors that the same pending changes would meet again.
const FINAL = new Set(['ERR_CONFIG_TOO_LARGE', 'ERR_INVALID_ARG', 'ERR_CONFIG_READ_ONLY'])

// What a bad option value is called in a message: its type, and the value when it is short.
function describe(value) {
  if (typeof value === 'string') return value.length <= 40 ? `the string ${JSON.stringify(value)}` : 'a string'
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  return value === null ? 'null' : typeof value
}

function invalid(field, reason, value) {
  return invalidArg(field, arguments.length > 2 ? `${reason}, got ${describe(value)}` : reason)
}

// Never throws: stderr is the last resort.
function stderr(line) {
  try {
    process.stderr.write(`[lemon-cluster] ${line}\n`)
  } catch {
    // Nowhere left to say it.
  }
}

function errorText(err) {
  try {
    return err instanceof Error ? `${err.name}: ${err.message}` : `${typeof err} ${String(err)}`
  } catch {
    return 'a value that cannot be printed'
  }
}

// The store class for one nconf module: it extends that module's Memory store (nconf is the
// application's, a peer dependency), as nconf's own File store does, and is an event emitter
// by mixing EventEmitter's methods into its own prototype.
function storeClass(Memory) {
  /**
   * The nconf store. Options are nconf-zookeeper's (`host`, `port`, `rootPath`, `name`,
   * `autoSave`, `autoUpdate`, `onUpdated`) plus `cacheFile`, `connectTimeoutMs`,
   * `sessionTimeoutMs`, `readOnly`, `logicalSeparator`, `parseValues`, `auth`, `layout`,
   * `secretKey`, `secretKeyEnv`. Events: 'change' ({ changes, origin, version, source }) and
   * 'warning' ({ code, message, path }).
   */
  class Zookeeper extends Memory {
    constructor(options) {
      options = options || {}
      for (const key of Object.keys(options)) {
        if (!KNOWN_OPTIONS.has(key)) {
          throw invalid(key, `unknown option (known: ${[...KNOWN_OPTIONS].join(', ')})`)
        }
      }
      if (options.onUpdated != null && typeof options.onUpdated !== 'function') {
        throw invalid('onUpdated', 'must be a function', options.onUpdated)
      }
      for (const key of ['autoUpdate', 'parseValues', 'readOnly']) {
        if (options[key] != null && typeof options[key] !== 'boolean') throw invalid(key, 'must be true or false', options[key])
      }
      if (options.type != null && options.type !== 'zookeeper') throw invalid('type', "must be 'zookeeper'", options.type)
      // A number, not a string that looks like one: `autoSave: '0'` is most likely a value read
      // from the environment unconverted, and nconf-zookeeper turned it into "never".
      const autoSave = options.autoSave == null ? -1 : options.autoSave
      if (typeof autoSave !== 'number' || !Number.isFinite(autoSave)) {
        throw invalid(
          'autoSave',
          'must be a finite number of ms (0 = at once, N = N ms after the last change, < 0 = only when asked)',
          autoSave,
        )
      }
      const nativeOptions = {}
      for (const key of NATIVE_OPTIONS) if (options[key] !== undefined) nativeOptions[key] = options[key]
      const handle = new native.ConfigStore(nativeOptions)
      // nconf's Memory store: `store`, `mtimes`, `readOnly`, `logicalSeparator`, `parseValues`.
      super({ logicalSeparator: options.logicalSeparator, parseValues: Boolean(options.parseValues) })
      EventEmitter.call(this)

      // Copied so that nconf.use('zookeeper', sameOptions) finds them equal and keeps this store.
      // Credentials are copied too, but not enumerable: `console.log(store)` must not print them.
      for (const key of Object.keys(options)) {
        if (SECRET_OPTIONS.has(key)) Object.defineProperty(this, key, { value: options[key], writable: true, configurable: true })
        else this[key] = options[key]
      }
      this.type = 'zookeeper'
      this.readOnly = Boolean(options.readOnly)
      // As given (nconf's use() compares them with the options), defaults when not given.
      if (options.autoUpdate === undefined) this.autoUpdate = true
      if (options.autoSave === undefined) this.autoSave = -1
      /** Where the data comes from: 'zookeeper', 'snapshot' or 'empty'. */
      this.source = 'empty'
      /** The znode's mzxid of the data in use (0 when not from ZooKeeper). */
      this.version = 0

      Object.defineProperties(this, {
        _native: { value: handle },
        _autoSaveMs: { value: autoSave },
        _autoUpdate: { value: options.autoUpdate == null ? true : options.autoUpdate },
        _pending: { value: new Map(), writable: true },
        _seq: { value: 0, writable: true },
        _generation: { value: 0, writable: true },
        _saving: { value: Promise.resolve(), writable: true },
        _timer: { value: null, writable: true },
        _closing: { value: null, writable: true },
        _closed: { value: false, writable: true },
        _offs: { value: [] },
        _backlog: { value: [] },
        _listenerThrew: { value: false, writable: true },
      })
      // Warnings emitted before anyone listened (say, during use()) go to the first listener.
      this.on('newListener', (event, listener) => {
        if (event === 'warning') for (const w of this._backlog.splice(0)) listener.call(this, w)
      })
      this._offs.push(handle.onUpdate((u) => this._guard(() => this._receive(u))))
      this._offs.push(handle.onWarning((w) => this._guard(() => this._warn(w, true))))
    }

    // --- nconf's Memory store contract ---------------------------------------------------------
    // `get` is Memory's own. The writes are not: Memory's walk follows inherited properties
    // (`set('__proto__:x', 1)` changes Object.prototype, `clear('constructor:name')` reaches into
    // Object) and does not know which keys are unsaved. These walk own properties only, store
    // `__proto__` as an ordinary key, and record the key as pending; their results are Memory's
    // (tested operation by operation against it).

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
      super.reset()
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

    /**
     * nconf ≥ 0.8 calls `save(value, cb)`; `cb(err, data)`. Without a callback, returns a promise.
     * `value` may be the message of the version in the document's history (a string, or
     * `{ message }`); nconf's own `value` (an object) is ignored as before.
     */
    save(value, cb) {
      if (typeof value === 'function') cb = value
      const done = this._queueSave(messageOf(value))
      if (typeof cb !== 'function') return done
      done.then(
        () => cb(null, this.store),
        (err) => cb(err),
      )
    }

    saveSync(value) {
      if (this._closed) throw codedError('ERR_CLOSED', 'the zookeeper configuration store is closed')
      if (this._pending.size === 0) return this.store
      const { json, captured } = this._patch()
      const updates = this._native.saveSync(json, this._generation, messageOf(value))
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

    // The top of every native event: a bug of ours is reported, not thrown into the event loop.
    _guard(run) {
      try {
        run()
      } catch (err) {
        stderr(`warn ERR_INTERNAL: the zookeeper store failed to handle an event: ${errorText(err)}`)
      }
    }

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
          // Retrying a save that can never be sent (too large, not JSON) would only repeat the
          // refusal: the next change schedules a save again.
          const hopeless = FINAL.has(err.code)
          this._warn({ code: err.code || 'ERR_INTERNAL', message: `autoSave failed: ${err.message}${hopeless ? '' : '; retrying'}` })
          // The changes stay pending; try again later (ZooKeeper may be back), without keeping
          // the process alive for it.
          if (!hopeless && !this._closing && this._pending.size > 0 && !this._timer) {
            this._timer = setTimeout(run, Math.max(this._autoSaveMs, 1000))
            this._timer.unref()
          }
        })
      }
      if (this._autoSaveMs === 0) return void queueMicrotask(run)
      clearTimeout(this._timer)
      this._timer = setTimeout(run, this._autoSaveMs)
    }

    _queueSave(message) {
      const next = this._saving.catch(() => {}).then(() => this._saveOnce(message))
      this._saving = next
      return next
    }

    async _saveOnce(message) {
      if (this._pending.size === 0) return
      if (this._closed) throw codedError('ERR_CLOSED', 'the zookeeper configuration store is closed')
      const { json, captured } = this._patch()
      const updates = await this._native.save(json, this._generation, message)
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
      return { json: toJson(ops, sep), captured }
    }

    _saved(captured, updates) {
      for (const [key, seq] of captured) if (this._pending.get(key) === seq) this._pending.delete(key)
      for (const u of updates) this._receive(u)
    }

    _receive(u) {
      if (u.generation <= this._generation) return
      if (u.origin === 'remote' && !this._autoUpdate && this.source === 'zookeeper') {
        this._generation = u.generation
        return
      }
      const from = this.source
      this._apply(u)
      if (from !== u.source) this._notify("a 'source' listener", () => this.emit('source', { from, to: u.source, version: u.version }))
      const changes = JSON.parse(u.changes)
      if (changes.length === 0) return
      const change = { changes, origin: u.origin, version: u.version, source: u.source }
      this._notify("a 'change' listener", () => this.emit('change', change))
      if (typeof this.onUpdated === 'function') this._notify('onUpdated', () => this.onUpdated(change))
    }

    // Calls the application's code: what it throws is reported, never left to kill the process
    // (these calls come from native events, where nothing up the stack could catch it).
    _notify(who, call) {
      try {
        call()
      } catch (err) {
        this._warn({
          code: 'ERR_CONFIG_LISTENER',
          message: `${who} threw ${errorText(err)}; the configuration is applied regardless (the listener must handle its own errors)`,
        })
      }
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

    // `logged`: a warning of the core, already in the log (stderr by default); printing it here
    // too would show every warning twice.
    _warn(w, logged = false) {
      if (this.listenerCount('warning') > 0) {
        try {
          return void this.emit('warning', w)
        } catch (err) {
          // A logger that throws (a closed transport: "write after end") must not take the
          // process down, nor the warning with it: stderr has it, and says why, once.
          if (!this._listenerThrew) {
            this._listenerThrew = true
            stderr(`warn ERR_CONFIG_LISTENER: a 'warning' listener threw ${errorText(err)}; the warnings it misses are written here`)
          }
          if (!logged) stderr(`warn ${w.code}: ${w.message}`)
          return
        }
      }
      if (!logged) stderr(`warn ${w.code}: ${w.message}`)
      if (this._backlog.push(w) > 32) this._backlog.shift()
    }
  }
  for (const key of Reflect.ownKeys(EventEmitter.prototype)) {
    if (key !== 'constructor') Object.defineProperty(Zookeeper.prototype, key, Object.getOwnPropertyDescriptor(EventEmitter.prototype, key))
  }
  Object.defineProperty(Zookeeper.prototype, STORE, { value: true })
  return Zookeeper
}

// The history message a save was given: `save('why')` or `save({ message: 'why' })`.
function messageOf(value) {
  if (typeof value === 'string') return value
  if (value && typeof value === 'object' && typeof value.message === 'string') return value.message
  return undefined
}

// The Provider class for one nconf module: nconf's own, plus the chainable `zookeeper()` and
// closing a zookeeper store that is removed or replaced (nconf only forgets it, and its
// session and pending saves would linger until it is collected).
function providerClass(Base) {
  class Provider extends Base {
    /** `use('zookeeper', options)`, chainable: `nconf.argv().env().zookeeper({ ... })`. */
    zookeeper(options) {
      return this.use('zookeeper', options)
    }

    add(name, ...rest) {
      const previous = this.stores && this.stores[name]
      const result = super.add(name, ...rest)
      if (isStore(previous) && this.stores[name] !== previous) previous.close().catch(() => {})
      return result
    }

    remove(name) {
      const store = this.stores && this.stores[name]
      if (isStore(store)) store.close().catch(() => {})
      return super.remove(name)
    }
  }
  Object.defineProperty(Provider.prototype, PROVIDER, { value: true })
  return Provider
}

const isStore = (value) => value !== null && typeof value === 'object' && value[STORE] === true

// The store class made for the first nconf registered (`register.Zookeeper`).
let firstStoreClass

/**
 * Registers the store on the application's nconf: `nconf.use('zookeeper', options)` and the
 * chainable `nconf.zookeeper(options)`. A zookeeper store removed or replaced in nconf is closed.
 * Returns nconf.
 *
 * Nothing of nconf's is patched: the store type is registered the way nconf plugins are
 * (`nconf.Zookeeper`), `nconf.Provider` becomes a subclass of nconf's with the additions above,
 * and the `nconf` object itself (nconf's default Provider) an instance of it.
 */
function register(nconf) {
  if (!nconf || typeof nconf.Provider !== 'function' || typeof nconf.Memory !== 'function') {
    throw new TypeError("require('lemon-cluster/nconf')(nconf) expects the nconf module itself")
  }
  if (nconf.Provider.prototype[PROVIDER]) return nconf
  const Base = nconf.Provider
  const Zookeeper = storeClass(nconf.Memory)
  const Provider = providerClass(Base)
  firstStoreClass = firstStoreClass || Zookeeper
  nconf.Zookeeper = Zookeeper
  nconf.Provider = Provider
  if (Object.getPrototypeOf(nconf) === Base.prototype) Object.setPrototypeOf(nconf, Provider.prototype)
  return nconf
}

/** The store class (after `register(nconf)`; extends that nconf's Memory store). */
Object.defineProperty(register, 'Zookeeper', { get: () => firstStoreClass, enumerable: true })
/** Every option the store knows. */
register.options = OPTIONS
/** Seals a secret as an `"ENC(...)"` value (AES-256-GCM); `key`: 64 hex digits or base64 of 32 bytes. */
register.encrypt = (plaintext, key) => native.encryptConfigValue(String(plaintext), String(key))
/** A fresh random key (base64) for `secretKey` or the `LEMON_CONFIG_KEY` environment variable. */
register.generateKey = () => native.generateConfigKey()

module.exports = register
