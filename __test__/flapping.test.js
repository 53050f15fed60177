'use strict'
// ZooKeeper flapping: restarted 5 times in about 30 s while a provider and a consumer run. No
// duplicate registrations, no duplicate callbacks, no leaked sessions, threads or sockets, and
// memory stays flat.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const { Cluster } = require('..')
const { zooKeeperForFile } = require('./harness/file')
const { zkLs, fourLetterWord } = require('../harness/zookeeper')
const { startProvider, waitFor } = require('./harness/providers')

const suite = zooKeeperForFile()
const { cleanups } = suite

const { sleep } = require('../harness/wait')
const threads = () => fs.readdirSync('/proc/self/task').length
const sockets = () =>
  fs.readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return fs.readlinkSync(`/proc/self/fd/${fd}`).startsWith('socket:')
    } catch {
      return false
    }
  }).length
/** Client connections the server holds (`cons` lists one line per connection, ours included). */
async function serverConnections() {
  const cons = await fourLetterWord(suite.zk.port, 'cons', { timeoutMs: 1000 })
  return cons.split('\n').filter((l) => l.includes('queued=')).length - 1
}

test('5 restarts in 30 s: one node per registration, no extra callbacks, no leaks', { timeout: 120000 }, async () => {
  const server = await startProvider()
  cleanups.push(() => server.close())
  const providerSide = new Cluster({ zk: suite.zk.connectString, host: '127.0.0.1', sessionTimeoutMs: 10000, connectTimeoutMs: 1000 })
  const consumerSide = new Cluster({ zk: suite.zk.connectString, host: '127.0.0.1', sessionTimeoutMs: 10000, connectTimeoutMs: 1000 })
  cleanups.push(
    () => providerSide.close(),
    () => consumerSide.close(),
  )
  await providerSide.provide({ app: 'flap', group: 'g', port: server.port })
  const consumer = consumerSide.consumer({ app: 'flap', group: 'g' })
  const changes = []
  consumer.on('change', (c) => changes.push(c))
  await waitFor(() => consumer.providers().length === 1 && changes.length === 1, { what: 'provider and one change event' })
  await waitFor(async () => (await serverConnections()) === 2, { what: 'two sessions' })

  // Let the runtime settle before taking the baseline.
  for (let i = 0; i < 20; i++) await consumer.call('m', {})
  const base = { threads: threads(), sockets: sockets(), rss: process.memoryUsage().rss }

  let calls = 0
  const started = Date.now()
  for (let round = 0; round < 5; round++) {
    await suite.zk.stop()
    for (let i = 0; i < 20; i++) {
      await consumer.call('m', { round, i })
      calls++
      await sleep(40)
    }
    await suite.zk.start()
    await waitFor(async () => (await serverConnections()) === 2, { timeoutMs: 15000, what: `both sessions back (round ${round})` })
    for (let i = 0; i < 20; i++) {
      await consumer.call('m', { round, i })
      calls++
      await sleep(100)
    }
  }
  const tookMs = Date.now() - started
  assert.ok(tookMs < 60000, `5 restarts took ${tookMs} ms`)
  assert.equal(calls, 200)

  const nodes = await zkLs(suite.zk.connectString, '/lemonhjuice/flap/g/providers')
  assert.equal(nodes.length, 1, `one provider node, not ${nodes}`)
  assert.equal((await zkLs(suite.zk.connectString, '/lemonhjuice/flap/g/consumers')).length, 1, 'one consumer node')
  assert.equal(changes.length, 1, 'no change events: the provider set never changed')
  assert.equal(await serverConnections(), 2, 'one session per cluster, none leaked')
  const now = { threads: threads(), sockets: sockets(), rss: process.memoryUsage().rss }
  assert.ok(now.threads <= base.threads + 2, `threads ${base.threads} -> ${now.threads}`)
  assert.ok(now.sockets <= base.sockets + 2, `sockets ${base.sockets} -> ${now.sockets}`)
  assert.ok(now.rss < base.rss + 32 * 1024 * 1024, `rss ${base.rss} -> ${now.rss}`)
})
