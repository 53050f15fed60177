'use strict'
// Gray (canary) lanes across a call chain. A request that arrived marked gray runs its handler
// inside a gray context; every consumer.call() made from that handler — however deep in its
// async work — is gray too, so a whole chain stays in its lane.

const { AsyncLocalStorage } = require('node:async_hooks')

// The HTTP header that carries the lane from consumer to provider, as the core sends it.
const { GRAY_HEADER } = require('./native').binding

const lane = new AsyncLocalStorage()

/** Runs `fn` in the given lane. */
function runInLane(gray, fn) {
  return lane.run({ gray: Boolean(gray) }, fn)
}

/**
 * Calls a method, `fn(args, context)`, in a request's lane (see runInLane), or, for a request
 * that is not gray while no lane is entered, calls it as it is: it is then not gray either way,
 * and entering a lane turns on the async-context tracking of every promise in the process, which
 * a provider that never sees a gray request should not pay for.
 */
function inLane(gray, fn, args, context) {
  if (!gray && lane.getStore() === undefined) return fn(args, context)
  return lane.run({ gray: Boolean(gray) }, fn, args, context)
}

/** Whether the current async context is gray (false outside any handler). */
function isGray() {
  return lane.getStore()?.gray === true
}

/** Whether an incoming request's headers mark it gray. */
function headerIsGray(headers) {
  const v = headers[GRAY_HEADER]
  return v === '1' || v === 'true'
}

module.exports = { GRAY_HEADER, runInLane, inLane, isGray, headerIsGray }
