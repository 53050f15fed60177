'use strict'
// Avalanche protection end to end: a provider replying 500 is ejected and comes back after it
// recovers; "all dead → all alive"; retries never exceed the budget under a full outage.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { serviceHarness, rejection, sleep } = require('./harness/service')
const { waitFor } = require('./harness/providers')

const h = serviceHarness('guard')

test('a provider replying 500 is ejected, traffic moves, and it comes back after it recovers', async () => {
  const group = 'eject'
  const cluster = h.cluster()
  const ps = await h.providers(cluster, group, 3)
  const consumer = await h.consumer(cluster, group, 3, {
    idempotent: true,
    warmupMs: 0,
    breaker: { ejectMs: 1500 },
  })
  const sick = ps[1]
  sick.set({ status: 500, body: '{"error":"db down"}' })
  for (let i = 0; i < 30; i++) await consumer.call('get', { i }) // every call succeeds through failover
  const sickHits = sick.hits
  assert.ok(sickHits >= 5 && sickHits <= 7, `ejected after 5 consecutive failures, got ${sickHits} hits`)
  const health = consumer.health().find((p) => p.address === sick.address)
  assert.equal(health.breaker, 'open')
  for (let i = 0; i < 60; i++) await consumer.call('get', { i })
  assert.equal(sick.hits, sickHits, 'no traffic while ejected')
  assert.equal(ps[0].hits + ps[2].hits, 90, 'the healthy two took every call')

  sick.set({}) // recovers
  await sleep(1800) // the back-off (1.5 s ± 10 %) passes
  for (let i = 0; i < 60; i++) await consumer.call('get', { i })
  assert.ok(sick.hits - sickHits >= 15, `back in rotation: ${sick.hits - sickHits} of 60`)
  assert.equal(consumer.health().find((p) => p.address === sick.address).breaker, 'closed')
})

test('a still-sick provider is probed and ejected again for longer; all dead → all used', async () => {
  const group = 'reeject'
  const cluster = h.cluster()
  const ps = await h.providers(cluster, group, 2)
  const consumer = await h.consumer(cluster, group, 2, { idempotent: true, warmupMs: 0, breaker: { ejectMs: 1000 } })
  ps[0].set({ status: 503 })
  for (let i = 0; i < 20; i++) await consumer.call('get')
  const first = ps[0].hits
  await sleep(1250) // past the first back-off (1 s ± 10 %)
  for (let i = 0; i < 20; i++) await consumer.call('get')
  assert.equal(ps[0].hits - first, 1, 'one failed probe re-ejects it')
  await sleep(400) // the second back-off is 2 s ± 10 %: still out
  for (let i = 0; i < 20; i++) await consumer.call('get')
  assert.equal(ps[0].hits - first, 1, 'the back-off doubled')

  // Both sick: at most one of two may be ejected, so the other keeps receiving calls and the
  // service is not cut off by its own breakers.
  ps[1].set({ status: 503 })
  for (let i = 0; i < 20; i++) await rejection(consumer.call('get'))
  const states = consumer.health().map((p) => p.breaker)
  assert.ok(states.filter((s) => s === 'open').length <= 1, `${states}`)
  ps[0].set({})
  ps[1].set({})
  await waitFor(
    async () => {
      await consumer.call('get').catch(() => {})
      return consumer.health().every((p) => p.breaker === 'closed')
    },
    { timeoutMs: 8000, what: 'every breaker closed again' },
  )

  // With maxEjectedPercent: 100 every provider may be ejected: calls then fail fast.
  const strict = await h.consumer(cluster, group, 2, {
    idempotent: true,
    breaker: { ejectMs: 60000, maxEjectedPercent: 100, consecutiveFailures: 2 },
  })
  ps[0].set({ status: 503 })
  ps[1].set({ status: 503 })
  const codes = []
  for (let i = 0; i < 10; i++) codes.push((await rejection(strict.call('get'))).code)
  assert.equal(codes[codes.length - 1], 'ERR_CIRCUIT_OPEN', `${codes}`)
  ps[0].set({})
  ps[1].set({})
})

test('under a full outage, retries never exceed the retry budget', async () => {
  const group = 'outage'
  const cluster = h.cluster()
  const ps = await h.providers(cluster, group, 3, { status: 500 })
  const consumer = await h.consumer(cluster, group, 3, {
    idempotent: true,
    retries: 2,
    // No ejection here, so that only the budget limits retries.
    breaker: { consecutiveFailures: 1000000, minCalls: 1000000 },
  })
  const calls = 150
  const started = Date.now()
  const codes = new Map()
  let budgetCauses = 0
  for (let i = 0; i < calls; i++) {
    const e = await rejection(consumer.call('get', { i }))
    codes.set(e.code, (codes.get(e.code) || 0) + 1)
    if (e.cause && e.cause.code === 'ERR_RETRY_BUDGET') budgetCauses++
  }
  const tookS = (Date.now() - started) / 1000
  const hits = ps.reduce((n, p) => n + p.hits, 0)
  const retries = hits - calls
  // Budget: 20 % of the calls in the last 10 s + 1/s × 10 s. The calls took well under 10 s,
  // so the window holds them all.
  assert.ok(tookS < 9, `took ${tookS} s`)
  assert.ok(retries <= Math.floor(0.2 * calls + 10), `${retries} retries for ${calls} calls`)
  assert.ok(retries >= 0.2 * calls, `the budget was used: ${retries}`)
  assert.deepEqual([...codes.keys()], ['ERR_PROVIDER_STATUS'])
  assert.ok(budgetCauses >= calls - retries, `refused retries say why (${budgetCauses})`)
  assert.ok(hits < 3 * calls, 'not three times the load')
})
