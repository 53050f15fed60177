'use strict'
// The provider-list cache file: written after changes, used when ZooKeeper cannot be reached at
// start, replaced by the live list when ZooKeeper answers.

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Cluster } = require('..')
const { startZooKeeper } = require('./harness/zookeeper')
const { startProvider, waitFor } = require('./harness/providers')

let zk
let cacheDir
const cleanups = []
before(async () => {
  zk = await startZooKeeper()
  cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lemon-cache-'))
})
after(async () => {
  for (const c of cleanups.reverse()) await c()
  await zk.cleanup()
  fs.rmSync(cacheDir, { recursive: true, force: true })
})

function newCluster(extra = {}) {
  const c = new Cluster({ zk: zk.connectString, host: '127.0.0.1', cacheDir, connectTimeoutMs: 800, ...extra })
  cleanups.push(() => c.close())
  return c
}

test('written after a change, used while ZooKeeper is down at start, replaced when it answers', { timeout: 60000 }, async () => {
  const first = await startProvider()
  const second = await startProvider()
  cleanups.push(
    () => first.close(),
    () => second.close(),
  )
  const providerSide = newCluster({ sessionTimeoutMs: 20000 })
  await providerSide.provide({ app: 'cached', group: 'g', port: first.port })
  const warm = newCluster()
  const warmConsumer = warm.consumer({ app: 'cached', group: 'g' })
  await waitFor(() => warmConsumer.providers().length === 1, { what: 'provider' })
  const file = await waitFor(() => fs.readdirSync(cacheDir).find((f) => f.includes('cached_g_providers') && f.endsWith('.json')), {
    what: 'the cache file',
  })
  const stat = fs.statSync(path.join(cacheDir, file))
  assert.equal(stat.mode & 0o777, 0o600)
  const saved = JSON.parse(fs.readFileSync(path.join(cacheDir, file), 'utf8'))
  assert.equal(saved.nodes.length, 1)
  assert.match(saved.nodes[0].name, new RegExp(`^127\\.0\\.0\\.1:${first.port}-`))

  await zk.stop()
  const cold = newCluster()
  const warnings = []
  cold.on('warning', (w) => warnings.push(w))
  const consumer = cold.consumer({ app: 'cached', group: 'g' })
  const started = Date.now()
  await consumer.ready()
  assert.ok(Date.now() - started < 3000, 'ready from the cache within about connectTimeoutMs')
  assert.deepEqual(
    consumer.providers().map((p) => p.port),
    [first.port],
  )
  assert.ok(warnings.some((w) => w.code === 'ERR_ZK_UNAVAILABLE' && /using the cached list of 1 node/.test(w.message)))
  assert.equal((await consumer.call('m', { x: 1 })).args.x, 1, 'calls work from the cached list')

  await zk.start()
  await providerSide.provide({ app: 'cached', group: 'g', port: second.port })
  await waitFor(() => consumer.providers().length === 2, { timeoutMs: 15000, what: 'the live list to replace the cache' })
})

test('no cache and ZooKeeper down: the consumer says so and ready() rejects', { timeout: 30000 }, async () => {
  await zk.stop()
  try {
    const c = newCluster()
    const warnings = []
    c.on('warning', (w) => warnings.push(w))
    const consumer = c.consumer({ app: 'never', group: 'cached' })
    await assert.rejects(consumer.ready(), { code: 'ERR_ZK_UNAVAILABLE' })
    await waitFor(() => warnings.some((w) => /no cache file/.test(w.message)), { what: 'the no-cache warning' })
    assert.equal(consumer.providers().length, 0)
  } finally {
    await zk.start()
  }
})

test('cacheDir: false turns the cache off; a bad value is refused', () => {
  assert.throws(() => new Cluster({ zk: '127.0.0.1:1', cacheDir: 5 }), { code: 'ERR_INVALID_ARG', field: 'options.cacheDir' })
  const c = new Cluster({ zk: '127.0.0.1:1', cacheDir: false })
  return c.close()
})
