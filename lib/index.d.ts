// Typings of the package's front door (lib/index.js): the native classes, generated into
// ../binding.d.ts from the Rust doc comments, plus the hand-written JavaScript parts.

import type { IncomingMessage, ServerResponse, Server } from 'node:http'
import type { Cluster, Registration, ProvideOptions } from '../binding'

// The native classes lib/index.js exports and the types of their options, events and results.
// Only what exists at runtime is a value here (the configuration store's native class and
// functions are reached through lemon-cluster/nconf): __test__/typings.test.js compares these
// value exports with what `import * as lemon from 'lemon-cluster'` gives at runtime.
export { Admin, Cluster, Consumer, Registration } from '../binding'
// What `Admin` takes and returns (hand-written beside it: lib/admin.d.ts).
export type * from './admin'
export type {
  BreakerOptions,
  CallOptions,
  ChangeEvent,
  ClusterOptions,
  ClusterReady,
  ClusterStatsInfo,
  ConsumerOptions,
  ConsumerReady,
  ConsumerStatsInfo,
  LatencyInfo,
  ProvideOptions,
  ProviderHealthInfo,
  ProviderInfo,
  ProviderPatch,
  RetryBudgetOptions,
  StatsdOptions,
  TlsOptions,
  WarningEvent,
  ZkTlsOptions,
} from '../binding'

// ---- errors -------------------------------------------------------------------------------

/** Every `code` a lemon-cluster error carries (docs/errors.md; a test keeps the two equal). */
export type LemonErrorCode =
  | 'ERR_INVALID_ARG'
  | 'ERR_NO_PROVIDER'
  | 'ERR_TIMEOUT'
  | 'ERR_CONNECT'
  | 'ERR_TLS'
  | 'ERR_UNAUTHORIZED'
  | 'ERR_PROVIDER_STATUS'
  | 'ERR_BAD_RESPONSE'
  | 'ERR_CIRCUIT_OPEN'
  | 'ERR_OVERLOADED'
  | 'ERR_RETRY_BUDGET'
  | 'ERR_DEGRADED'
  | 'ERR_ZK_UNAVAILABLE'
  | 'ERR_ZK_NO_CHROOT'
  | 'ERR_ZK_AUTH'
  | 'ERR_ZK_TLS'
  | 'ERR_ZK'
  | 'ERR_CLOSED'
  | 'ERR_CONFIG_INVALID'
  | 'ERR_CONFIG_CONFLICT'
  | 'ERR_CONFIG_READ_ONLY'
  | 'ERR_CONFIG_DECRYPT'
  | 'ERR_CONFIG_TOO_LARGE'
  | 'ERR_CONFIG_VERSION_UNKNOWN'
  | 'ERR_CONFIG_ROTATION'
  | 'ERR_INTERNAL'
  | 'ERR_NATIVE_BINDING'

/**
 * The shape of every error lemon-cluster rejects or throws with: a plain `Error` with these
 * properties (there is no class to `instanceof`). `catch (e)` gives `unknown`: cast after checking
 * `e instanceof Error && 'code' in e`.
 */
export interface LemonError extends Error {
  code: LemonErrorCode
  /** `ERR_INVALID_ARG`: the option or argument at fault, e.g. `'loadBalance'`. */
  field?: string
  /** The provider an attempt went to: `'10.0.0.7:20080'`. */
  address?: string
  /** `ERR_PROVIDER_STATUS`: the HTTP status the provider answered. */
  status?: number
  /** `ERR_PROVIDER_STATUS`: the first KiB of the provider's reply. */
  body?: string
  /** `ERR_PROVIDER_STATUS`: the provider's own code for a business error, when its reply has one. */
  remoteCode?: string
  /** `ERR_ZK_AUTH`: the ZooKeeper node. */
  path?: string
  /** `ERR_CONFIG_TOO_LARGE`: the configuration key at fault, the save's size and the limit. */
  key?: string
  bytes?: number
  limit?: number
  /** `ERR_NATIVE_BINDING`: the platform package that is missing or did not load. */
  package?: string
  /** Why: the last attempt's error, the budget's refusal, the loader's errors. */
  cause?: unknown
}

// ---- serving --------------------------------------------------------------------------------

/** An Express (4 or 5) middleware: `app.use(svc.express())`. */
export type ExpressMiddleware = (req: IncomingMessage & { body?: unknown }, res: ServerResponse, next: (err?: unknown) => void) => void

/** What the Koa middleware uses of Koa's context; Koa's own `Context` is one. */
export interface KoaContextLike {
  req: IncomingMessage
  res: ServerResponse
  /** Where a body parser put the parsed body (`request.body`), if one ran. */
  request: object
  respond?: boolean
}

/** A Koa (2 or 3) middleware: `app.use(svc.koa())`. */
export type KoaMiddleware = (ctx: KoaContextLike, next: () => Promise<unknown>) => Promise<unknown>

/** A plain `node:http` request listener: `http.createServer(svc.handler())`. */
export type RequestListener = (req: IncomingMessage, res: ServerResponse) => void

/** What a method handler receives besides its arguments. */
export interface MethodContext {
  /** The method's name. */
  method: string
  /** Whether the request arrived marked gray; calls made from the handler are gray too. */
  gray: boolean
  req: IncomingMessage
}

/**
 * A method: receives the parsed JSON body (`any`: it is whatever the caller sent; check it) and
 * its context; its (awaited) result is sent back as JSON.
 */
export type MethodHandler = (args: any, context: MethodContext) => unknown

/** Options of {@link service}, {@link express} and {@link koa}. */
export interface ServiceOptions extends Omit<ProvideOptions, 'app' | 'group' | 'port' | 'methods'> {
  app: string
  group: string
  /** The methods served, by name. */
  methods: Record<string, MethodHandler>
  /** Needed by `register()`: the cluster to register in. */
  cluster?: Cluster
  /** Largest request body read, in bytes (413 above it). Default 1 MiB. */
  maxBodyBytes?: number
  /** How long `close()` waits for requests in flight. Default 10000. */
  drainTimeoutMs?: number
}

/** A service served by this process over `POST /{app}/{group}/{method}`. */
export declare class Service {
  constructor(options: ServiceOptions)
  readonly app: string
  readonly group: string
  /** Requests being handled right now. */
  readonly inFlight: number
  /** Whether a request is addressed to this service. */
  matches(req: IncomingMessage): boolean
  /** A plain node:http request listener (404 for other paths). */
  handler(): RequestListener
  /** Express middleware; other paths go to `next()`. */
  express(): ExpressMiddleware
  /** Koa middleware; other paths go to `next()`. */
  koa(): KoaMiddleware
  /** Registers in ZooKeeper once `server` listens; deregisters when it closes; `close()` drains it. */
  register(server: Server): Promise<Registration>
  /**
   * Graceful shutdown: removes the provider node first, stops accepting connections without
   * cutting open ones, answers with `Connection: close`, and waits (at most `drainTimeoutMs`)
   * until nothing is in flight and every connection has ended.
   */
  close(options?: { drainTimeoutMs?: number }): Promise<{ drained: boolean; inFlight: number }>
  /** Opt-in: close on SIGINT/SIGTERM (pm2 sends SIGINT). Returns a function removing the handlers. */
  closeOnSignals(options?: { signals?: NodeJS.Signals[]; closeCluster?: boolean }): () => void
}

/** Declares a service. */
export declare function service(options: ServiceOptions): Service
/** Express middleware serving `options.methods`; the service is at `.service`. */
export declare function express(options: ServiceOptions): ExpressMiddleware & { service: Service }
/** Koa middleware serving `options.methods`; the service is at `.service`. */
export declare function koa(options: ServiceOptions): KoaMiddleware & { service: Service }
/** Whether the current async context handles a gray request. */
export declare function isGray(): boolean
/** Runs `fn` in the gray (true) or normal (false) lane. */
export declare function runInLane<T>(gray: boolean, fn: () => T): T
/** The HTTP header that carries the gray lane: `x-lemon-gray`. */
export declare const GRAY_HEADER: 'x-lemon-gray'
/** The header that carries a provider's tokens (see docs/security.md, Provider tokens). */
export declare const TOKEN_HEADER: 'x-lemon-token'

// ---- metrics ------------------------------------------------------------------------------

/** What `prometheus()` needs of a registry: prom-client's `Registry` is one. */
export interface PrometheusRegistry {
  registerMetric(metric: any): void
}

/**
 * Feeds a prom-client registry (the default one when omitted) with the figures statsd gets, as
 * `lemon_*` metrics read from the core at scrape time; see docs/metrics.md. Needs `prom-client`.
 * Returns the registry.
 */
export declare function prometheus(): PrometheusRegistry
export declare function prometheus<R extends PrometheusRegistry>(register: R): R
