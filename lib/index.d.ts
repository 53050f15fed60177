// Typings of the package's front door (lib/index.js): the native classes, generated into
// ../index.d.ts from the Rust doc comments, plus the hand-written JavaScript parts.

import type { IncomingMessage, ServerResponse, Server } from 'node:http'
import type { Cluster, Registration, ProvideOptions } from '../index'

// Every native class and the typings of their options, events and results.
export * from '../index'

/** What a method handler receives besides its arguments. */
export interface MethodContext {
  /** The method's name. */
  method: string
  /** Whether the request arrived marked gray; calls made from the handler are gray too. */
  gray: boolean
  req: IncomingMessage
}

/** A method: receives the parsed JSON body; its (awaited) result is sent back as JSON. */
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
  handler(): (req: IncomingMessage, res: ServerResponse) => void
  /** Express middleware; other paths go to `next()`. */
  express(): (req: any, res: any, next: (err?: unknown) => void) => void
  /** Koa middleware; other paths go to `next()`. */
  koa(): (ctx: any, next: () => Promise<unknown>) => Promise<unknown>
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
export declare function express(options: ServiceOptions): ReturnType<Service['express']> & { service: Service }
/** Koa middleware serving `options.methods`; the service is at `.service`. */
export declare function koa(options: ServiceOptions): ReturnType<Service['koa']> & { service: Service }
/** Whether the current async context handles a gray request. */
export declare function isGray(): boolean
/** Runs `fn` in the gray (true) or normal (false) lane. */
export declare function runInLane<T>(gray: boolean, fn: () => T): T
/** The HTTP header that carries the gray lane: `x-lemon-gray`. */
export declare const GRAY_HEADER: 'x-lemon-gray'

/** What every rejection and throw of lemon-cluster is (docs/errors.md lists the codes). */
export interface LemonError extends Error {
  /** Stable code: `ERR_INVALID_ARG`, `ERR_TIMEOUT`, `ERR_PROVIDER_STATUS`, `ERR_ZK_NO_CHROOT`, ... */
  code: string
  /** `ERR_INVALID_ARG`: the option or argument at fault (`method`, `args`, `provide.description`). */
  field?: string
  /** The provider involved, `host:port`. */
  address?: string
  /** `ERR_PROVIDER_STATUS`: the HTTP status. */
  status?: number
  /** `ERR_PROVIDER_STATUS`: the first KiB of the reply. */
  body?: string
  /** `ERR_PROVIDER_STATUS`: the provider's own code (`error.code` of a JSON error body), if any. */
  remoteCode?: string
  /** `ERR_ZK_AUTH`: the node refused. */
  path?: string
  /** Why retrying stopped early (`ERR_RETRY_BUDGET`). */
  cause?: LemonError
}
