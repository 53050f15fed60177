'use strict'
// Waiting, bounded: a sleep, and a poll until a condition holds or a time limit passes.

/** Resolves after `ms`. */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/**
 * Polls `check` every 10 ms until it returns something truthy (returned), at most `timeoutMs`
 * (then throws, naming `what`).
 */
async function waitFor(check, { timeoutMs = 5000, what = 'condition' } = {}) {
  const started = Date.now()
  for (let i = 0; i < 100000; i++) {
    const v = await check()
    if (v) return v
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await sleep(10)
  }
  throw new Error(`gave up waiting for ${what}`)
}

/** Awaits `promise` and returns what it rejected with; fails the test if it resolved. */
async function rejection(promise) {
  try {
    await promise
  } catch (e) {
    return e
  }
  throw new Error('expected a rejection, but the promise resolved')
}

module.exports = { sleep, waitFor, rejection }
