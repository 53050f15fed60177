'use strict'
// The package's front door: the native classes (napi's generated loader ../binding.js, through ./native.js) plus the
// hand-written JavaScript parts — provider middleware and gray lanes.
//
// `Cluster` and `Consumer` here wrap the native ones rather than patch them: the one thing added
// is that a call made while handling a gray request is gray too (see ./gray), which needs the
// caller's async context, something only JavaScript has.

const { binding: native } = require('./native')
const { Service, service, GRAY_HEADER, TOKEN_HEADER } = require('./provider')
const { isGray, runInLane } = require('./gray')
const { prometheus } = require('./prometheus')

/** The cluster: the native one, whose `consumer()` returns a gray-aware {@link Consumer}. */
class Cluster extends native.Cluster {
  consumer(options) {
    return new Consumer(super.consumer(options))
  }
}

/** A consumer of one service: the native consumer, with calls that follow the gray lane. */
class Consumer {
  #native
  // What native.consumerCall needs: a plain function is cheaper to call than the native method.
  #target

  constructor(consumer) {
    this.#native = consumer
    this.#target = native.consumerCallTarget(consumer)
  }

  get service() {
    return this.#native.service
  }

  get pendingFailbacks() {
    return this.#native.pendingFailbacks
  }

  ready() {
    return this.#native.ready()
  }

  providers() {
    return this.#native.providers()
  }

  health() {
    return this.#native.health()
  }

  stats() {
    return this.#native.stats()
  }

  /** A call made while handling a gray request is gray too, unless the caller says otherwise. */
  call(method, args, options) {
    if (isGray() && (options === undefined || options === null || options.gray === undefined)) {
      options = { ...(options || {}), gray: true }
    }
    return native.consumerCall(this.#target, method, args, options)
  }

  on(event, listener) {
    return this.#native.on(event, listener)
  }

  close() {
    return this.#native.close()
  }
}

/** Express middleware serving `options.methods`; the {@link Service} is at `.service`. */
function express(options) {
  const s = service(options)
  const middleware = s.express()
  middleware.service = s
  return middleware
}

/** Koa middleware serving `options.methods`; the {@link Service} is at `.service`. */
function koa(options) {
  const s = service(options)
  const middleware = s.koa()
  middleware.service = s
  return middleware
}

const { Admin, Registration } = native
module.exports = {
  Admin,
  Cluster,
  Consumer,
  Registration,
  Service,
  service,
  express,
  koa,
  isGray,
  runInLane,
  GRAY_HEADER,
  TOKEN_HEADER,
  prometheus,
}
