'use strict'
// The package's front door: the native classes (generated loader in ../index.js) plus the
// hand-written JavaScript parts — provider middleware and gray lanes.

const native = require('../index.js')
const { Service, service, GRAY_HEADER } = require('./provider')
const { isGray, runInLane } = require('./gray')

// A call made while handling a gray request is gray too, unless the caller says otherwise.
const nativeCall = native.Consumer.prototype.call
Object.defineProperty(native.Consumer.prototype, 'call', {
  configurable: true,
  writable: true,
  value: function call(method, args, options) {
    if (isGray() && (options === undefined || options === null || options.gray === undefined)) {
      options = { ...(options || {}), gray: true }
    }
    return nativeCall.call(this, method, args, options)
  },
})

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

const { Admin, Cluster, Consumer, Registration } = native
module.exports = { Admin, Cluster, Consumer, Registration, Service, service, express, koa, isGray, runInLane, GRAY_HEADER }
