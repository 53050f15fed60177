'use strict'
// Live consumer health through ZooKeeper alone: a provider process that starts answering 500
// shows as ejected in `lemon-cluster health` within seconds; the reports cost a write only when
// something changed, and nothing is left when the consumer closes.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { zooKeeperForFile } = require('./harness/file')
const { waitFor } = require('./harness/providers')
const { zkCli, zkLs } = require('../harness/zookeeper')
const { cli, steered } = require('./harness/ops')

const suite = zooKeeperForFile()
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

async function health(service) {
  const r = await cli(['health', service, '--json'], { env: { LEMON_ZK: suite.zk.connectString } })
  assert.equal(r.code, 0, r.err)
  return r.json
}

/** The data version of a node (how often its data was rewritten), through zkCli. */
async function dataVersion(path) {
  const r = await zkCli(suite.zk.connectString, 'stat', path)
  const m = /^dataVersion = (\d+)$/m.exec(r.stdout)
  assert.ok(m, r.stdout + r.stderr)
  return Number(m[1])
}

test('a provider that starts answering 500 shows as ejected by the consumer within seconds', async () => {
  const cs = suite.zk.connectString
  const providers = [await steered('ops-provider.js', [cs, 'shop', 'flaky']), await steered('ops-provider.js', [cs, 'shop', 'flaky'])]
  suite.cleanups.push(() => Promise.all(providers.map((p) => p.kill())))
  const consumer = await steered('ops-consumer.js', [cs, 'shop', 'flaky', '1000'])
  suite.cleanups.push(() => consumer.kill())
  await consumer.request({ loop: true })
  const sick = `127.0.0.1:${providers[0].hello.port}`
  const who = `127.0.0.1:${consumer.hello.pid}`
  await waitFor(async () => (await health('shop/flaky')).consumers.length === 1, { timeoutMs: 10000, what: 'the first report' })
  let h = await health('shop/flaky')
  assert.deepEqual(
    h.endpoints.map((e) => e.ejected),
    [false, false],
  )
  const started = Date.now()
  await providers[0].request({ status: 500 })
  h = await waitFor(
    async () => {
      const now = await health('shop/flaky')
      return now.endpoints.find((e) => e.address === sick)?.ejected && now
    },
    { timeoutMs: 15000, what: 'the consumer to report the provider ejected' },
  )
  const tookMs = Date.now() - started
  assert.deepEqual(h.endpoints.find((e) => e.address === sick).ejectedBy, [who])
  const view = h.consumers[0].providers.find((p) => p.address === sick)
  assert.equal(view.breaker, 'open')
  assert.ok(view.ejectedUntil > Date.now() - 1000, JSON.stringify(view))
  assert.ok(view.errorRate > 0, JSON.stringify(view))
  assert.ok(h.endpoints.find((e) => e.address !== sick).ejected === false)
  // The readable table marks it, and `services` counts it.
  const table = await cli(['health', 'shop/flaky'], { env: { LEMON_ZK: cs } })
  assert.match(table.out, new RegExp(`EJECTED ${sick.replace(/\./g, '\\.')} by ${who}`))
  assert.match(table.out, /open/)
  const services = await cli(['services', '--json'], { env: { LEMON_ZK: cs } })
  assert.equal(services.json.find((s) => s.service === 'shop/flaky').ejected, 1)
  console.log(`# ejected within ${tookMs} ms`)
  await consumer.request({ stop: true })
})

test('an idle consumer does not rewrite its report; the report goes when the consumer closes, and the process exits', async () => {
  const cs = suite.zk.connectString
  const provider = await steered('ops-provider.js', [cs, 'shop', 'idle'])
  suite.cleanups.push(() => provider.kill())
  const consumer = await steered('ops-consumer.js', [cs, 'shop', 'idle', '1000'])
  suite.cleanups.push(() => consumer.kill())
  await consumer.request({ calls: 20 })
  await waitFor(async () => (await health('shop/idle')).consumers.length === 1, { timeoutMs: 10000, what: 'the first report' })
  const [node] = await zkLs(cs, '/lemonhjuice/shop/idle/consumers')
  const path = `/lemonhjuice/shop/idle/consumers/${node}`
  // Reports change while the 20 calls are in the 10 s window; once they have left it, the
  // summary stays the same and is not rewritten (the report interval here is 1 s).
  await sleep(11500)
  const settled = await dataVersion(path)
  await sleep(4000)
  assert.equal(await dataVersion(path), settled, 'no write while nothing changes')
  assert.ok(settled <= 12, `at most one write per second while it changed: ${settled}`)

  const closed = await consumer.request({ close: true })
  assert.equal(closed.closed, true)
  const exit = await consumer.exited
  assert.deepEqual([exit.code, exit.signal], [0, null], consumer.stderr)
  assert.deepEqual(await zkLs(cs, '/lemonhjuice/shop/idle/consumers'), [])
  assert.deepEqual((await health('shop/idle')).consumers, [])
})

test('healthReportMs: 0 turns the report off; a bad value is refused by the consumer options reader', async () => {
  const cs = suite.zk.connectString
  const { Cluster } = require('..')
  const cluster = new Cluster({ zk: cs, host: '127.0.0.1', cacheDir: false })
  suite.cleanups.push(() => cluster.close())
  const off = cluster.consumer({ app: 'shop', group: 'quiet', healthReportMs: 0 })
  await off.ready()
  await waitFor(async () => ((await zkLs(cs, '/lemonhjuice/shop/quiet/consumers')) || []).length === 1, { what: 'the consumer node' })
  await sleep(1500)
  const h = await health('shop/quiet')
  assert.deepEqual([h.consumers.length, h.silent], [0, 1])
  for (const bad of [500, -1, 'often']) {
    assert.throws(
      () => cluster.consumer({ app: 'shop', group: 'quiet', healthReportMs: bad }),
      (e) => e.code === 'ERR_INVALID_ARG' && /healthReportMs/.test(e.message),
    )
  }
})

test('after a session expiry the consumer node comes back with its report, and reports go on', async () => {
  const cs = suite.zk.connectString
  const { Cluster } = require('..')
  const { startProvider } = require('./harness/providers')
  const server = await startProvider()
  suite.cleanups.push(() => server.close())
  const cluster = new Cluster({ zk: cs, host: '127.0.0.1', cacheDir: false, sessionTimeoutMs: 1000, connectTimeoutMs: 1000 })
  suite.cleanups.push(() => cluster.close())
  const warnings = []
  cluster.on('warning', (w) => warnings.push(w))
  await cluster.provide({ app: 'shop', group: 'expiry', port: server.port })
  const consumer = cluster.consumer({ app: 'shop', group: 'expiry', warmupMs: 0, healthReportMs: 1000 })
  await consumer.ready()
  for (let i = 0; i < 20; i++) await consumer.call('get')
  await waitFor(async () => (await health('shop/expiry')).consumers.length === 1, { timeoutMs: 10000, what: 'the first report' })
  const [before] = await zkLs(cs, '/lemonhjuice/shop/expiry/consumers')

  await suite.zk.stop()
  await sleep(2500)
  await suite.zk.start()
  await waitFor(() => warnings.some((w) => w.code === 'ERR_ZK_SESSION_EXPIRED'), { timeoutMs: 15000, what: 'the expiry' })
  const h = await waitFor(
    async () => {
      const nodes = await zkLs(cs, '/lemonhjuice/shop/expiry/consumers')
      if (!nodes || nodes.length !== 1 || nodes[0] === before) return false
      const now = await health('shop/expiry')
      return now.consumers.length === 1 && now
    },
    { timeoutMs: 20000, what: 'the re-created node with its report' },
  )
  assert.equal(h.consumers[0].providers[0].address, `127.0.0.1:${server.port}`)
  // And the report still follows changes: the provider fails, the consumer ejects it.
  server.set({ status: 500 })
  for (let i = 0; i < 20; i++) await consumer.call('get').catch(() => {})
  await waitFor(async () => (await health('shop/expiry')).endpoints[0]?.ejected, {
    timeoutMs: 15000,
    what: 'the ejection reported after the expiry',
  })
})
