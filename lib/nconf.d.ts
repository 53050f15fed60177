// Typings for `require('lemon-cluster/nconf')`: the ZooKeeper store for nconf (see
// docs/configuration.md), and an augmentation of nconf's own typings (`@types/nconf`) with what
// registering the store adds to nconf: `nconf.zookeeper(...)`, chainable after `.argv().env()`.
import { EventEmitter } from 'node:events'
import type { Provider } from 'nconf'

declare namespace register {
  interface KeyChange {
    /** `example:test` (joined with the store's logicalSeparator) */
    key: string
    old?: unknown
    new?: unknown
    type: 'added' | 'removed' | 'modified'
  }

  interface Change {
    changes: KeyChange[]
    /** `'remote'`: another process wrote it; `'local'`: a save of this store. */
    origin: 'remote' | 'local'
    /** The znode's mzxid (the tree's largest zxid in the tree layout). */
    version: number
    source: 'zookeeper' | 'snapshot' | 'empty'
  }

  interface SourceChange {
    /** Where the data came from before: `'snapshot'` or `'empty'` (after an outage at start). */
    from: 'zookeeper' | 'snapshot' | 'empty'
    to: 'zookeeper' | 'snapshot' | 'empty'
    version: number
  }

  interface Warning {
    code: string
    message: string
    path?: string
  }

  interface ZookeeperOptions {
    /** `'zk1,zk2:2182'`, or an array of `'host[:port]'` or `{ host, port, rootPath }`. Default `'127.0.0.1'`. */
    host?: string | Array<string | { host: string; port?: number | string; rootPath?: string }>
    /** Given to every host without a port. Default 2181. */
    port?: number | string
    /** The chroot. Default `'/'`. */
    rootPath?: string
    /** The znode, `/{name}` inside the chroot. Default `'nconf-zookeeper'`. */
    name?: string
    /** 0 = save at once after a change, N = N ms after the last change, < 0 = only when asked. A number (not `'0'`). Default -1. */
    autoSave?: number | null
    /** Apply versions written by others. Default true. */
    autoUpdate?: boolean | null
    /** Called once per new version that changed something. */
    onUpdated?: (change: Change) => void
    /** Snapshot file used when ZooKeeper is down at start. */
    cacheFile?: string
    /** How long `use()` may wait for ZooKeeper. Default 5000. */
    connectTimeoutMs?: number
    /** Default 10000. */
    sessionTimeoutMs?: number
    readOnly?: boolean
    /** Default `':'`. */
    logicalSeparator?: string
    parseValues?: boolean
    /** `'user:password'` (ZooKeeper digest scheme). */
    auth?: string
    /** Default `'document'`. */
    layout?: 'document' | 'tree'
    /** Key for `ENC(...)` values: 64 hex digits or base64 of 32 bytes. Default: `$LEMON_CONFIG_KEY`. */
    secretKey?: string
    /** Environment variable holding the key. Default `'LEMON_CONFIG_KEY'`. */
    secretKeyEnv?: string
    /** The ensemble's `jute.maxbuffer` in bytes: a save sending more is refused (`ERR_CONFIG_TOO_LARGE`) before anything is sent. Default 1048575 (1 MiB). */
    juteMaxBuffer?: number
    /** Versions kept in the document's history (`.lemon/history/config/<name>` beside it), each save recorded in the same transaction. 0 records none. Default 50. */
    historyLimit?: number
    /** TLS to ZooKeeper's `secureClientPort`, as the Cluster's `zkTls` (PEM text or file paths). */
    zkTls?: { ca: string; cert?: string; key?: string }
    /** What a gray release (`config <path> gray start --labels l`) can select this store by. */
    labels?: string[]
    type?: 'zookeeper'
  }

  /** The store: at run time a subclass of the registered nconf's Memory store, with EventEmitter's methods. */
  class Zookeeper extends EventEmitter {
    constructor(options?: ZookeeperOptions)
    type: 'zookeeper'
    readOnly: boolean
    /** The document (secrets decrypted), a plain object. */
    store: Record<string, unknown>
    source: 'zookeeper' | 'snapshot' | 'empty'
    version: number
    get(key?: string | null): any
    set(key: string | null, value: unknown): boolean
    clear(key: string): boolean
    merge(key: string, value: unknown): boolean
    reset(): boolean
    loadSync(): Record<string, unknown>
    /** `value`: the history message of this version (a string or `{ message }`); other values are ignored, as nconf passes its own. */
    save(value?: unknown): Promise<void>
    save(value: unknown, cb: (err: Error | null, data?: Record<string, unknown>) => void): void
    saveSync(value?: string | { message: string }): Record<string, unknown>
    close(): Promise<void>
    on(event: 'change', listener: (change: Change) => void): this
    on(event: 'warning', listener: (warning: Warning) => void): this
    /** The store is on other data than before, e.g. back on ZooKeeper's after an outage. */
    on(event: 'source', listener: (change: SourceChange) => void): this
  }

  /** Every option the store knows (the core's and the JavaScript ones). */
  const options: readonly string[]
  /** Seals a secret as `"ENC(...)"` (AES-256-GCM). */
  function encrypt(plaintext: string, key: string): string
  /** A fresh random key (base64). */
  function generateKey(): string
}

/** Registers the `zookeeper` store and the chainable `nconf.zookeeper(options)` on nconf; returns nconf. */
declare function register<T>(nconf: T): T

/** nconf calls `load` and `save` callbacks with `(err, data)`; @types/nconf types only `(err)`. */
type NconfCallback = (err: Error | null, data?: Record<string, unknown>) => void

declare module 'nconf' {
  interface Provider {
    /** `use('zookeeper', options)`, chainable: `nconf.argv().env().zookeeper({ ... }).file(...)`. */
    zookeeper(options?: register.ZookeeperOptions): Provider
    load(callback: NconfCallback): void
    save(callback: NconfCallback): void
  }
  /** `nconf.use('zookeeper', options)`, chainable. */
  function zookeeper(options?: register.ZookeeperOptions): Provider
  function load(callback: NconfCallback): void
  function save(callback: NconfCallback): void
  /** The store class, set by registering: `nconf.Zookeeper`. */
  let Zookeeper: typeof register.Zookeeper
}

export = register
