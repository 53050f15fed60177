'use strict'
// Session life: an outage longer than the session timeout expires the session; a new one is
// made, every ephemeral node re-created and every watch re-armed — checked from outside with
// Debian's zkCli.sh. Throughout, the last known provider list stays in use.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { Cluster } = require('..')
const { zooKeeperForFile } = require('./harness/file')
const { zkLs } = require('../harness/zookeeper')
const { startProvider, waitFor } = require('./harness/providers')

const suite = zooKeeperForFile()
const { cleanups } = suite

function newCluster() {
  const cluster = new Cluster({ zk: suite.zk.connectString, host: '127.0.0.1', sessionTimeoutMs: 1000, connectTimeoutMs: 1000 })
  cleanups.push(() => cluster.close())
  return cluster
}

test('after session expiry the nodes come back, the watch is re-armed, and calls never stop', async () => {
  const app = 'expiry'
  const group = 'svc'
  const folder = `/lemonhjuice/${app}/${group}`
  const server = await startProvider()
  cleanups.push(() => server.close())
  const providerSide = newCluster()
  const consumerSide = newCluster()
  const warnings = []
  consumerSide.on('warning', (w) => warnings.push(w))
  await providerSide.provide({ app, group, port: server.port })
  const consumer = consumerSide.consumer({ app, group })
  await waitFor(() => consumer.providers().length === 1, { what: 'the provider' })
  await waitFor(async () => (await zkLs(suite.zk.connectString, `${folder}/consumers`)).length === 1, { what: 'consumer node' })
  const [oldProviderNode] = await zkLs(suite.zk.connectString, `${folder}/providers`)
  const [oldConsumerNode] = await zkLs(suite.zk.connectString, `${folder}/consumers`)

  // ZooKeeper goes away for longer than the session timeout (the client expires the session
  // itself after 7/5 of it).
  await suite.zk.stop()
  const outageEnds = Date.now() + 2500
  let callsDuringOutage = 0
  for (let i = 0; i < 1000 && Date.now() < outageEnds; i++) {
    assert.equal(consumer.providers().length, 1, 'the last known list stays in use')
    await consumer.call('m', { i })
    callsDuringOutage++
    await new Promise((r) => setTimeout(r, 20))
  }
  assert.ok(callsDuringOutage > 10)
  await suite.zk.start()

  await waitFor(() => warnings.some((w) => w.code === 'ERR_ZK_SESSION_EXPIRED'), { timeoutMs: 10000, what: 'expiry warning' })
  // The old session's nodes expire on the server; the new session's replace them.
  await waitFor(
    async () => {
      const ps = await zkLs(suite.zk.connectString, `${folder}/providers`)
      const cs = await zkLs(suite.zk.connectString, `${folder}/consumers`)
      return ps?.length === 1 && ps[0] !== oldProviderNode && cs?.length === 1 && cs[0] !== oldConsumerNode
    },
    { timeoutMs: 15000, what: 're-created provider and consumer nodes' },
  )
  assert.equal(consumer.providers().length, 1)
  assert.equal(consumer.providers()[0].port, server.port)

  // The consumer's watch works in the new session: a provider that arrives now is seen, and
  // goes again when it closes.
  const late = await startProvider()
  cleanups.push(() => late.close())
  const lateSide = newCluster()
  const reg = await lateSide.provide({ app, group, port: late.port })
  await waitFor(() => consumer.providers().length === 2, { what: 'the late provider' })
  await consumer.call('m', {})
  await consumer.call('m', {})
  assert.equal(late.hits, 1)
  await reg.close()
  await waitFor(() => consumer.providers().length === 1, { what: 'the late provider to go' })
})

test('after a short outage (the session survives) changes are still seen', { timeout: 60000 }, async () => {
  const app = 'blip'
  const group = 'svc'
  const first = await startProvider()
  const second = await startProvider()
  cleanups.push(
    () => first.close(),
    () => second.close(),
  )
  const providerSide = new Cluster({ zk: suite.zk.connectString, host: '127.0.0.1', sessionTimeoutMs: 15000 })
  const consumerSide = new Cluster({ zk: suite.zk.connectString, host: '127.0.0.1', sessionTimeoutMs: 15000 })
  cleanups.push(
    () => providerSide.close(),
    () => consumerSide.close(),
  )
  const warnings = []
  consumerSide.on('warning', (w) => warnings.push(w))
  await providerSide.provide({ app, group, port: first.port })
  const consumer = consumerSide.consumer({ app, group })
  await waitFor(() => consumer.providers().length === 1, { what: 'the provider' })

  await suite.zk.stop()
  await new Promise((r) => setTimeout(r, 1500))
  await suite.zk.start()
  await waitFor(() => warnings.some((w) => w.code === 'ERR_ZK_DISCONNECTED'), { what: 'the disconnection to be noticed' })
  await waitFor(
    () =>
      providerSide.ready().then(
        () => true,
        () => false,
      ),
    { timeoutMs: 20000, what: 'the provider side to reconnect' },
  )
  // The sessions survive the short outage; the watch must still report what happens next.
  const reg = await providerSide.provide({ app, group, port: second.port })
  await waitFor(() => consumer.providers().length === 2, { timeoutMs: 10000, what: 'the provider registered after the outage' })
  await reg.close()
  await waitFor(() => consumer.providers().length === 1, { timeoutMs: 10000, what: 'its removal' })
  assert.ok(!warnings.some((w) => w.code === 'ERR_ZK_SESSION_EXPIRED'), 'the session did not expire')
})
