// Typings of the package's front door (lib/index.js): the native classes, generated into
// ../binding.d.ts from the Rust doc comments, plus the hand-written JavaScript parts.

import type { IncomingMessage, ServerResponse, Server } from 'node:http'
import type { Cluster, Registration, ProvideOptions } from '../binding'

// Every native class and the typings of their options, events and results.
export * from '../binding'

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
