'use strict'
// Live stats: what an operator needs to see why traffic goes where it goes.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { Cluster } = require('..')
const { zooKeeperForFile } = require('./harness/file')
const { startProvider, waitFor } = require('./harness/providers')

const suite = zooKeeperForFile()
const { cleanups } = suite

test('stats(): per provider weight, in-flight, breaker, ejection, EWMA, percentiles; cluster totals', async () => {
  const fast = await startProvider()
  const slow = await startProvider({ delayMs: 40 })
  const broken = await startProvider({ status: 500, body: '{"error":{"code":"E","message":"down"}}' })
  cleanups.push(
    () => fast.close(),
    () => slow.close(),
    () => broken.close(),
  )
  const cluster = new Cluster({ zk: suite.zk.connectString, host: '127.0.0.1', cacheDir: false })
  cleanups.push(() => cluster.close())
  for (const p of [fast, slow, broken]) await cluster.provide({ app: 'stats', group: 'g', port: p.port, weight: 50 })
  const consumer = cluster.consumer({ app: 'stats', group: 'g', warmupMs: 0, loadBalance: 'roundrobin' })
  await waitFor(() => consumer.providers().length === 3, { what: '3 providers' })

  for (let i = 0; i < 60; i++) await consumer.call('m', {}).catch(() => {})
  const s = consumer.stats()
  assert.equal(s.service, 'stats/g')
  assert.equal(s.providers.length, 3)
  const by = (p) => s.providers.find((x) => x.address === `127.0.0.1:${p.port}`)
  assert.equal(by(fast).weight, 50)
  assert.equal(by(fast).breaker, 'closed')
  assert.ok(by(fast).successes > 0)
  assert.ok(by(slow).latency.p50 >= 35, `slow p50 ${by(slow).latency.p50}`)
  assert.ok(by(slow).latency.p99 >= by(slow).latency.p50)
  assert.ok(by(fast).latency.p50 < by(slow).latency.p50)
  assert.ok(by(slow).ewmaMs >= 35)
  assert.ok(by(broken).failures > 0)
  assert.equal(by(broken).breaker, 'open', 'the failing provider is ejected')
  assert.ok(by(broken).ejectedForMs > 0)
  assert.equal(s.inflight, 0)
  assert.equal(s.successes, by(fast).successes + by(slow).successes)

  const all = cluster.stats()
  assert.equal(all.host, '127.0.0.1')
  assert.equal(all.connected, true)
  assert.equal(all.sessions, 1)
  assert.equal(all.consumers.length, 1)
  assert.equal(all.consumers[0].service, 'stats/g')
  assert.equal(all.metricsDropped, 0)

  await consumer.close()
  assert.equal(cluster.stats().consumers.length, 0, 'a closed consumer is gone from the stats')
})
