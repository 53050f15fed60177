'use strict'
// Registration and discovery end to end: a real ZooKeeper, real HTTP providers, and Debian's
// own zkCli.sh as the outside observer and hand-writer of nodes.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { Cluster } = require('..')
const { zooKeeperForFile } = require('./harness/file')
const { zkCreate, zkGet, zkLs } = require('../harness/zookeeper')
const { startProvider, waitFor } = require('./harness/providers')

const APP = 'movie'
const suite = zooKeeperForFile()
const { cleanups } = suite

function newCluster(extra = {}) {
  const cluster = new Cluster({ zk: suite.zk.connectString, host: '127.0.0.1', ...extra })
  cleanups.push(() => cluster.close())
  return cluster
}

async function providers(n) {
  const list = []
  for (let i = 0; i < n; i++) {
    const p = await startProvider()
    cleanups.push(() => p.close())
    list.push(p)
  }
  return list
}

test('3 providers are seen within 1 s and 300 calls split exactly 100/100/100', async () => {
  const group = 'split'
  const servers = await providers(3)
  const cluster = newCluster()
  await cluster.ready()
  const consumer = cluster.consumer({ app: APP, group })
  await consumer.ready()
  const started = Date.now()
  await Promise.all(servers.map((s) => cluster.provide({ app: APP, group, port: s.port, methods: ['getMovie'] })))
  await waitFor(() => consumer.providers().length === 3, { timeoutMs: 1000, what: '3 providers' })
  assert.ok(Date.now() - started < 1000)

  for (let i = 0; i < 300; i++) {
    const reply = await consumer.call('getMovie', { id: i })
    assert.deepEqual(reply.args, { id: i })
    assert.equal(reply.method, 'POST')
    assert.equal(reply.path, `/${APP}/${group}/getMovie`)
  }
  assert.deepEqual(
    servers.map((s) => s.hits),
    [100, 100, 100],
  )
})

test('close() removes a provider at once; update({weight}) changes the split', async () => {
  const group = 'lifecycle'
  const servers = await providers(3)
  const cluster = newCluster()
  const consumer = cluster.consumer({ app: APP, group, warmupMs: 0 }) // providers started just now: no warmup, exact weights
  const changes = []
  consumer.on('change', (c) => changes.push(c))
  const regs = []
  for (const s of servers) regs.push(await cluster.provide({ app: APP, group, port: s.port }))
  await waitFor(() => consumer.providers().length === 3, { what: '3 providers' })

  // Weights 100/100/200 over 400 calls: smooth weighted round robin is exact.
  const info = await regs[2].update({ weight: 200 })
  assert.equal(info.weight, 200)
  await waitFor(() => consumer.providers().find((p) => p.port === servers[2].port).weight === 200, { what: 'weight' })
  await waitFor(() => changes.some((c) => c.updated.some((p) => p.weight === 200)), { what: 'an updated event' })
  for (let i = 0; i < 400; i++) await consumer.call('any', i)
  assert.deepEqual(
    servers.map((s) => s.hits),
    [100, 100, 200],
  )

  const before = servers[0].hits
  const closedAt = Date.now()
  await regs[0].close()
  await waitFor(() => consumer.providers().length === 2, { timeoutMs: 500, what: 'the closed provider to go' })
  const tookMs = Date.now() - closedAt
  assert.ok(tookMs < 500, `took ${tookMs} ms`)
  // Events reach JavaScript through the event loop, just after the list itself changed.
  await waitFor(() => changes.some((c) => c.removed.some((p) => p.port === servers[0].port)), { what: 'a removed event' })
  for (let i = 0; i < 60; i++) await consumer.call('any', i)
  assert.equal(servers[0].hits, before, 'no call reaches a closed provider')
  await regs[0].close() // idempotent
})

test('nodes are written strictly, and several processes on one host:port are one endpoint', async () => {
  const group = 'pm2'
  const [server] = await providers(1)
  const workerA = newCluster()
  const workerB = newCluster()
  const consumerSide = newCluster()
  const consumer = consumerSide.consumer({ app: APP, group, version: '2' })
  const regA = await workerA.provide({ app: APP, group, port: server.port, version: '2', methods: ['a', 'b()'], weight: 7 })
  const regB = await workerB.provide({ app: APP, group, port: server.port, version: '2', methods: ['a', 'b()'], weight: 7 })

  const folder = `/lemonhjuice/${APP}/${group}/providers`
  const names = await zkLs(suite.zk.connectString, folder)
  assert.equal(names.length, 2, `one node per process: ${names}`)
  for (const name of names) assert.match(name, new RegExp(`^127\\.0\\.0\\.1:${server.port}-\\d{10}$`))
  const data = JSON.parse(await zkGet(suite.zk.connectString, `${folder}/${names[0]}`))
  assert.equal(data.port, server.port)
  assert.equal(data.host, '127.0.0.1')
  assert.equal(data.gray, false)
  assert.equal(data.weight, 7)
  assert.deepEqual(data.methods, ['a', 'b'])
  assert.equal(data.version, '2')
  assert.equal(typeof data.timestamp, 'number')
  assert.equal(typeof data.pid, 'number')

  await waitFor(() => consumer.providers().length === 1 && consumer.providers()[0].nodes.length === 2, { what: 'one endpoint, two nodes' })
  await regA.close()
  await waitFor(() => consumer.providers()[0]?.nodes.length === 1, { what: 'one node left' })
  assert.equal((await consumer.call('a')).port, server.port, 'still alive while any worker lives')
  await regB.close()
  await waitFor(() => consumer.providers().length === 0, { what: 'endpoint gone' })

  const consumers = await zkLs(suite.zk.connectString, `/lemonhjuice/${APP}/${group}/consumers`)
  assert.equal(consumers.length, 1)
  assert.match(consumers[0], /^127\.0\.0\.1-\d{10}$/)
})

test('a hand-written node in the design note format works; a garbage node is skipped and reported', async () => {
  const group = 'handwritten'
  const [good, handServer] = await providers(2)
  const cluster = newCluster()
  const warnings = []
  cluster.on('warning', (w) => warnings.push(w))
  await cluster.provide({ app: APP, group, port: good.port })
  const consumer = cluster.consumer({ app: APP, group })
  await waitFor(() => consumer.providers().length === 1, { what: 'the registered provider' })

  const folder = `/lemonhjuice/${APP}/${group}/providers`
  // Exactly the design note's shape: no port in the name, every value a string.
  const handData = `{"port":"${handServer.port}","version":"V1","methods":"[getMovieById(),getMovieByCity()]","gray":"false","author":"","description":""}`
  await zkCreate(suite.zk.connectString, `${folder}/127.0.0.1`, handData)
  await zkCreate(suite.zk.connectString, `${folder}/garbage`, 'not-json{{')

  await waitFor(() => consumer.providers().length === 2, { what: 'the hand-written provider' })
  const hand = consumer.providers().find((p) => p.port === handServer.port)
  assert.equal(hand.version, 'V1')
  assert.deepEqual(hand.methods, ['getMovieById', 'getMovieByCity'])
  assert.equal(hand.gray, false)
  await waitFor(() => warnings.some((w) => w.code === 'ERR_BAD_PROVIDER_NODE'), { what: 'a warning' })
  const w = warnings.find((w) => w.code === 'ERR_BAD_PROVIDER_NODE')
  assert.equal(w.path, `${folder}/garbage`)
  assert.match(w.message, /not JSON/)

  // Both serve getMovieById (the registered one declares no methods, so it serves all); only the
  // registered one serves anything else.
  for (let i = 0; i < 20; i++) await consumer.call('getMovieById', { id: i })
  for (let i = 0; i < 10; i++) await consumer.call('other', {})
  assert.equal(handServer.hits, 10)
  assert.equal(good.hits, 20)
  assert.equal(warnings.filter((w) => w.code === 'ERR_BAD_PROVIDER_NODE').length, 1, 'reported once')
})
