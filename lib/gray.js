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

/** Whether the current async context is gray (false outside any handler). */
function isGray() {
  return lane.getStore()?.gray === true
}

/** Whether an incoming request's headers mark it gray. */
function headerIsGray(headers) {
  const v = headers[GRAY_HEADER]
  return v === '1' || v === 'true'
}

module.exports = { GRAY_HEADER, runInLane, isGray, headerIsGray }
