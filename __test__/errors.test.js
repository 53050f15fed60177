'use strict'
// Every error code produced by a real situation: a dead port, a slow provider, a 500, a non-JSON
// reply, an oversized reply, no provider, bad options, an unreachable ZooKeeper.

const { test, before } = require('node:test')
const assert = require('node:assert/strict')
const { Cluster } = require('..')
const { zooKeeperForFile } = require('./harness/file')
const { startProvider, deadPort, waitFor, rejection } = require('./harness/providers')

const suite = zooKeeperForFile()
const { cleanups } = suite
let cluster

before(async () => {
  await suite.started
  cluster = new Cluster({ zk: suite.zk.connectString, host: '127.0.0.1', maxResponseBytes: 1024 })
  cleanups.push(() => cluster.close())
  await cluster.ready()
})

/** One provider with `behaviour` (or a dead port) behind a fresh service; returns its consumer. */
async function serviceWith(group, behaviour) {
  let port
  if (behaviour === 'dead') {
    port = await deadPort()
  } else {
    const p = await startProvider(behaviour)
    cleanups.push(() => p.close())
    port = p.port
  }
  await cluster.provide({ app: 'err', group, port })
  const consumer = cluster.consumer({ app: 'err', group })
  await waitFor(() => consumer.providers().length === 1, { what: 'the provider' })
  return { consumer, address: `127.0.0.1:${port}` }
}

test('ERR_CONNECT: nothing listens on the provider port', async () => {
  const { consumer, address } = await serviceWith('dead', 'dead')
  const e = await rejection(consumer.call('m', {}))
  assert.ok(e instanceof Error)
  assert.equal(e.code, 'ERR_CONNECT')
  assert.equal(e.address, address)
  assert.match(e.message, /refused/i)
})

test('ERR_TIMEOUT: the provider answers after the timeout', async () => {
  const { consumer, address } = await serviceWith('slow', { delayMs: 1000 })
  const started = Date.now()
  const e = await rejection(consumer.call('m', {}, { timeoutMs: 100 }))
  assert.equal(e.code, 'ERR_TIMEOUT')
  assert.equal(e.address, address)
  assert.ok(Date.now() - started < 900, 'the timeout, not the provider, ended the call')
})

test('ERR_PROVIDER_STATUS: the provider replies 500', async () => {
  const body = JSON.stringify({ error: { code: 'BOOM', message: 'it broke' } })
  const { consumer, address } = await serviceWith('status', { status: 500, body })
  const e = await rejection(consumer.call('m', {}))
  assert.equal(e.code, 'ERR_PROVIDER_STATUS')
  assert.equal(e.status, 500)
  assert.equal(e.body, body)
  assert.equal(e.address, address)
})

test('ERR_BAD_RESPONSE: the reply is not JSON, or larger than maxResponseBytes', async () => {
  const { consumer, address } = await serviceWith('text', { body: '<html>oops</html>', contentType: 'text/html' })
  const e = await rejection(consumer.call('m', {}))
  assert.equal(e.code, 'ERR_BAD_RESPONSE')
  assert.equal(e.address, address)
  assert.match(e.message, /not JSON/)

  const big = await serviceWith('big', { body: JSON.stringify('x'.repeat(4096)) })
  const e2 = await rejection(big.consumer.call('m', {}))
  assert.equal(e2.code, 'ERR_BAD_RESPONSE')
  assert.match(e2.message, /maxResponseBytes/)
})

test('an empty 200 reply resolves to null', async () => {
  const { consumer } = await serviceWith('empty', { body: '' })
  assert.equal(await consumer.call('m', {}), null)
})

test('ERR_NO_PROVIDER: nobody serves the service or the method', async () => {
  const consumer = cluster.consumer({ app: 'err', group: 'nobody' })
  await consumer.ready()
  const e = await rejection(consumer.call('m', {}))
  assert.equal(e.code, 'ERR_NO_PROVIDER')
  assert.match(e.message, /no provider is registered under \/lemonhjuice\/err\/nobody\/providers/)
})

test('ERR_INVALID_ARG: bad options name the field and say why', () => {
  const cases = [
    [() => new Cluster({}), 'options.zk', /is required/],
    [() => new Cluster({ zk: 'a:99999' }), 'options.zk', /bad port/],
    [() => new Cluster({ zk: 'a', root: 'relative' }), 'options.root', /absolute/],
    [() => new Cluster({ zk: 'a', sessionTimeoutMs: 'soon' }), 'options.sessionTimeoutMs', /must be an integer/],
    [() => new Cluster('127.0.0.1:2181'), 'options', /must be an object/],
    [() => new Cluster({ zk: 'a', zkHost: 'b' }), 'options.zkHost', /unknown option/],
    [() => cluster.consumer({ app: 'a/b', group: 'g' }), 'app', /must not contain/],
    [() => cluster.consumer({ app: 'a', group: '..' }), 'group', /must not be/],
    [() => cluster.consumer({ app: 'a', group: 'g', loadBalance: 'best' }), 'consumer.loadBalance', /unknown balancer/],
  ]
  for (const [fn, field, message] of cases) {
    assert.throws(fn, (e) => e.code === 'ERR_INVALID_ARG' && e.field === field && message.test(e.message), `${field}`)
  }
})

test('ERR_INVALID_ARG from async methods: provide() and call()', async () => {
  const e = await rejection(cluster.provide({ app: 'a', group: 'g', port: 70000 }))
  assert.equal(e.code, 'ERR_INVALID_ARG')
  assert.equal(e.field, 'provide.port')
  const consumer = cluster.consumer({ app: 'err', group: 'args' })
  assert.throws(
    () => consumer.call('m', {}, { timeoutMs: -5 }),
    (e) => e.code === 'ERR_INVALID_ARG' && e.field === 'options.timeoutMs',
  )
  const bad = await rejection(consumer.call('a/b', {}))
  assert.equal(bad.code, 'ERR_INVALID_ARG')
  assert.equal(bad.field, 'method')
})

test('ERR_ZK_UNAVAILABLE: with requireRegistry, ready() with nothing listening rejects after connectTimeoutMs', async () => {
  const port = await deadPort()
  const lonely = new Cluster({ zk: `127.0.0.1:${port}`, connectTimeoutMs: 300, requireRegistry: true })
  const warnings = []
  lonely.on('warning', (w) => warnings.push(w))
  const started = Date.now()
  const e = await rejection(lonely.ready())
  assert.equal(e.code, 'ERR_ZK_UNAVAILABLE')
  assert.ok(Date.now() - started < 2000)
  // The warning and the rejection reach JavaScript through two thread-safe functions: in one
  // turn of a loaded event loop the rejection may come first.
  await waitFor(() => warnings.some((w) => w.code === 'ERR_ZK_UNAVAILABLE'), {
    timeoutMs: 2000,
    what: 'the ERR_ZK_UNAVAILABLE warning (the application is told)',
  })
  await lonely.close()
})
