'use strict'
// The provider-list cache file: written after changes, used when ZooKeeper cannot be reached at
// start, replaced by the live list when ZooKeeper answers.

const { test, before } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { Cluster } = require('..')
const { zooKeeperForFile } = require('./harness/file')
const { startProvider, waitFor } = require('./harness/providers')

const suite = zooKeeperForFile()
const { cleanups } = suite
let cacheDir
before(() => {
  cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lemon-cache-'))
  cleanups.push(() => fs.rmSync(cacheDir, { recursive: true, force: true }))
})

function newCluster(extra = {}) {
  const c = new Cluster({ zk: suite.zk.connectString, host: '127.0.0.1', cacheDir, connectTimeoutMs: 800, ...extra })
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

  await suite.zk.stop()
  const cold = newCluster()
  const warnings = []
  cold.on('warning', (w) => warnings.push(w))
  const consumer = cold.consumer({ app: 'cached', group: 'g' })
  const started = Date.now()
  // requireRegistry does not matter when there is a cache: both resolve from it.
  const strict = newCluster({ requireRegistry: true }).consumer({ app: 'cached', group: 'g' })
  assert.deepEqual(await cold.ready(), { connected: false })
  assert.deepEqual(await consumer.ready(), { source: 'cache' })
  assert.ok(Date.now() - started < 3000, 'ready from the cache within about connectTimeoutMs')
  assert.deepEqual(await strict.ready(), { source: 'cache' })
  assert.deepEqual(
    consumer.providers().map((p) => p.port),
    [first.port],
  )
  // The warning comes through its own thread-safe function: it may arrive just after ready().
  await waitFor(() => warnings.some((w) => w.code === 'ERR_ZK_UNAVAILABLE' && /using the cached list of 1 node/.test(w.message)), {
    what: 'the warning that the cached list is used',
  })
  assert.equal((await consumer.call('m', { x: 1 })).args.x, 1, 'calls work from the cached list')

  await suite.zk.start()
  await providerSide.provide({ app: 'cached', group: 'g', port: second.port })
  await waitFor(() => consumer.providers().length === 2, { timeoutMs: 15000, what: 'the live list to replace the cache' })
  assert.deepEqual(await cold.ready(), { connected: true })
  assert.deepEqual(await consumer.ready(), { source: 'zookeeper' })
})

test('no cache and ZooKeeper down: ready() says so and resolves, the consumer keeps trying', { timeout: 30000 }, async () => {
  const provider = await startProvider()
  cleanups.push(() => provider.close())
  await suite.zk.stop()
  let c
  try {
    c = newCluster()
    const warnings = []
    c.on('warning', (w) => warnings.push(w))
    const consumer = c.consumer({ app: 'never', group: 'cached' })
    assert.deepEqual(await c.ready(), { connected: false })
    assert.deepEqual(await consumer.ready(), { source: 'none' })
    await waitFor(() => warnings.some((w) => /no cache file/.test(w.message)), { what: 'the no-cache warning' })
    assert.equal(consumer.providers().length, 0)
    await assert.rejects(consumer.call('m', {}, { timeoutMs: 200 }), {
      code: 'ERR_NO_PROVIDER',
      message: /could not be read from ZooKeeper yet/,
    })
  } finally {
    await suite.zk.start()
  }
  // Still trying: once ZooKeeper answers, the consumer finds the provider without being told.
  const consumer = c.consumer({ app: 'never', group: 'cached' })
  await newCluster().provide({ app: 'never', group: 'cached', port: provider.port })
  await waitFor(() => consumer.providers().length === 1, { timeoutMs: 15000, what: 'the live list' })
  assert.equal((await consumer.call('m', { x: 2 })).args.x, 2)
})

test('no cache, ZooKeeper down and requireRegistry: ready() rejects with ERR_ZK_UNAVAILABLE', { timeout: 30000 }, async () => {
  await suite.zk.stop()
  try {
    const c = newCluster({ requireRegistry: true })
    const consumer = c.consumer({ app: 'never', group: 'strict' })
    await assert.rejects(c.ready(), { code: 'ERR_ZK_UNAVAILABLE', message: /still retrying/ })
    await assert.rejects(consumer.ready(), { code: 'ERR_ZK_UNAVAILABLE', message: /requireRegistry/ })
  } finally {
    await suite.zk.start()
  }
})

test('requireRegistry must be a boolean', () => {
  assert.throws(() => new Cluster({ zk: '127.0.0.1:1', requireRegistry: 'yes' }), {
    code: 'ERR_INVALID_ARG',
    field: 'options.requireRegistry',
  })
})

test('cacheDir: false turns the cache off; a bad value is refused', () => {
  assert.throws(() => new Cluster({ zk: '127.0.0.1:1', cacheDir: 5 }), { code: 'ERR_INVALID_ARG', field: 'options.cacheDir' })
  const c = new Cluster({ zk: '127.0.0.1:1', cacheDir: false })
  return c.close()
})
