'use strict'
// Load balancing end to end: a provider 50 ms slower gets a small share from p2c and
// shortestresponse while roundrobin keeps its third; consistent hashing keeps a key on one
// provider; leastactive and random spread; a configurator weight override applies live.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { serviceHarness } = require('./harness/service')
const { startProvider } = require('./harness/providers')
const { zkCreate } = require('../harness/zookeeper')

const h = serviceHarness('lb')

async function slowService(group) {
  const cluster = h.cluster()
  const ps = await h.providers(cluster, group, 3)
  ps[2].set({ delayMs: 50 })
  return { cluster, ps }
}

for (const loadBalance of ['p2c', 'shortestresponse']) {
  test(`${loadBalance}: the provider 50 ms slower gets a small share`, async () => {
    const group = `slow-${loadBalance}`
    const { cluster, ps } = await slowService(group)
    const consumer = await h.consumer(cluster, group, 3, { loadBalance, warmupMs: 0 })
    const calls = 150
    // Two callers at a time, as a service under load would have.
    const worker = async (n) => {
      for (let i = 0; i < n; i++) await consumer.call('get', { i })
    }
    await Promise.all([worker(calls / 2), worker(calls / 2)])
    const share = ps[2].hits / calls
    assert.ok(share < 0.12, `slow share ${share} (${ps.map((p) => p.hits)})`)
    assert.ok(ps[0].hits > 30 && ps[1].hits > 30, `the fast two share the rest: ${ps.map((p) => p.hits)}`)
  })
}

test('roundrobin keeps the slow provider at exactly a third', async () => {
  const group = 'slow-rr'
  const { cluster, ps } = await slowService(group)
  const consumer = await h.consumer(cluster, group, 3, { warmupMs: 0 })
  for (let i = 0; i < 90; i++) await consumer.call('get', { i })
  assert.deepEqual(
    ps.map((p) => p.hits),
    [30, 30, 30],
  )
})

test('consistenthash: a key stays on one provider; keys spread; only the leaver’s keys move', async () => {
  const group = 'hash'
  const cluster = h.cluster()
  const ps = await h.providers(cluster, group, 3)
  const consumer = await h.consumer(cluster, group, 3, { loadBalance: 'consistenthash', hashArgument: 'user' })
  const owner = new Map()
  for (let u = 0; u < 60; u++) {
    const a = (await consumer.call('get', { user: `u${u}` })).port
    const b = (await consumer.call('get', { user: `u${u}`, other: u })).port
    const c = (await consumer.call('get', {}, { hashKey: `u${u}` })).port
    assert.equal(a, b, 'the configured argument is the key')
    assert.equal(a, c, 'hashKey and the argument hash alike')
    owner.set(u, a)
  }
  assert.ok(
    ps.every((p) => p.hits > 20),
    `keys spread: ${ps.map((p) => p.hits)}`,
  )
  await ps[0].registration.close()
  await new Promise((r) => setTimeout(r, 300))
  for (let u = 0; u < 60; u++) {
    const now = (await consumer.call('get', { user: `u${u}` })).port
    if (owner.get(u) !== ps[0].port) assert.equal(now, owner.get(u), `key u${u} moved without need`)
  }
})

test('leastactive and random spread calls; weights are honoured', async () => {
  const group = 'spread'
  const cluster = h.cluster()
  const ps = await h.providers(cluster, group, 2)
  const heavy = await h.providers(cluster, group, 1, {}, { weight: 400 })
  const all = [...ps, ...heavy]
  const consumer = await h.consumer(cluster, group, 3, { warmupMs: 0 })
  for (const loadBalance of ['random', 'leastactive']) {
    const before = all.map((p) => p.hits)
    for (let i = 0; i < 300; i++) await consumer.call('get', {}, { loadBalance })
    const got = all.map((p, i) => p.hits - before[i])
    // Weights 100/100/400: the heavy one gets about two thirds.
    assert.ok(got[2] > 150 && got[2] < 250 && got[0] > 20 && got[1] > 20, `${loadBalance}: ${got}`)
  }
})

test('warmup: start times in the nodes ramp weights; a start time in the future falls back to first sight', async () => {
  const group = 'warmup'
  const cluster = h.cluster()
  const a = await startProvider()
  const b = await startProvider()
  h.cleanups.push(
    () => a.close(),
    () => b.close(),
  )
  const folder = `${h.base(group)}/providers`
  const now = Date.now()
  // A started 5 s ago; B claims to start in an hour (its clock is ahead).
  await zkCreate(h.zk.connectString, `${folder}/127.0.0.1:${a.port}`, JSON.stringify({ timestamp: now - 5000 }), { parents: true })
  await zkCreate(h.zk.connectString, `${folder}/127.0.0.1:${b.port}`, JSON.stringify({ timestamp: now + 3600000 }))
  const seenFrom = Date.now()
  const consumer = await h.consumer(cluster, group, 2, { warmupMs: 20000 })
  const weight = (p) => consumer.health().find((x) => x.address === `127.0.0.1:${p.port}`).weight
  const [wa, wb] = [weight(a), weight(b)]
  // Weight = 100 × uptime / 20 s. zkCli is slow under load, so compute from the clock.
  const expectA = (100 * (Date.now() - (now - 5000))) / 20000
  assert.ok(Math.abs(wa - expectA) <= 6, `A warms from its own start time: ${wa}, expected ≈ ${expectA}`)
  const maxB = (100 * (Date.now() - seenFrom)) / 20000 + 1
  assert.ok(wb >= 1 && wb <= maxB, `B counts from when this consumer first saw it: ${wb} ≤ ${maxB}`)
  assert.ok(wa > 3 * wb, `${wa} vs ${wb}`)
  for (let i = 0; i < 100; i++) await consumer.call('get')
  assert.ok(a.hits > 70, `the warmer provider takes most calls: ${a.hits}/${b.hits}`)
  await new Promise((r) => setTimeout(r, 1200))
  assert.ok(weight(b) > wb && weight(a) > wa, 'both keep warming')
})
