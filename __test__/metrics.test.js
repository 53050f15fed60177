'use strict'
// Metrics to statsd, received on a real UDP socket: the exact lines (name, value, type, sample
// rate) from the consumer and the provider side.

const { test, before } = require('node:test')
const assert = require('node:assert/strict')
const dgram = require('node:dgram')
const http = require('node:http')
const lemon = require('../lib')
const { zooKeeperForFile } = require('./harness/file')
const { waitFor } = require('./harness/providers')

const suite = zooKeeperForFile()
const { cleanups } = suite
let statsd
const lines = []

before(async () => {
  statsd = dgram.createSocket('udp4')
  cleanups.push(() => statsd.close())
  statsd.on('message', (m) => lines.push(...m.toString().split('\n').filter(Boolean)))
  await new Promise((resolve) => statsd.bind(0, '127.0.0.1', resolve))
})

async function serve(cluster, app, group) {
  const s = lemon.service({
    cluster,
    app,
    group,
    methods: {
      get: ({ id }) => ({ id }),
      fail: () => {
        throw new Error('nope')
      },
    },
  })
  const server = http.createServer(s.handler())
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanups.push(() => new Promise((resolve) => server.close(resolve)))
  await s.register(server)
}

test('consumer and provider metrics arrive as exact statsd lines', async () => {
  const cluster = new lemon.Cluster({
    zk: suite.zk.connectString,
    host: '127.0.0.1',
    statsd: { host: '127.0.0.1', port: statsd.address().port, prefix: 'test' },
  })
  cleanups.push(() => cluster.close())
  await serve(cluster, 'movie.v2', 'q')
  const consumer = cluster.consumer({ app: 'movie.v2', group: 'q' })
  await waitFor(() => consumer.providers().length === 1, { what: 'provider' })
  for (let i = 0; i < 3; i++) await consumer.call('get', { id: i })
  await assert.rejects(consumer.call('fail', {}), { code: 'ERR_PROVIDER_STATUS' })

  const count = (name) => lines.filter((l) => l === name).length
  // Datagrams from the consumer (sent after the call) and the provider (sent before the reply)
  // arrive in any order: wait for the last of each kind.
  await waitFor(
    () =>
      count('test.movie_v2.q.get.calls:1|c') === 3 &&
      count('test.movie_v2.q.fail.errors.ERR_PROVIDER_STATUS:1|c') === 1 &&
      count('test.movie_v2.q.fail.served_errors.500:1|c') === 1,
    { what: 'the metric lines' },
  )
  assert.equal(count('test.movie_v2.q.fail.calls:1|c'), 1)
  assert.equal(count('test.movie_v2.q.fail.errors.ERR_PROVIDER_STATUS:1|c'), 1)
  assert.equal(count('test.movie_v2.q.get.served:1|c'), 3)
  assert.equal(count('test.movie_v2.q.fail.served:1|c'), 1)
  assert.ok(lines.includes('test.movie_v2.q.providers:1|g'), 'the provider-count gauge')
  const latencies = lines.filter((l) => l.startsWith('test.movie_v2.q.get.latency:'))
  assert.equal(latencies.length, 3)
  for (const l of latencies) assert.match(l, /^test\.movie_v2\.q\.get\.latency:\d+(\.\d+)?\|ms$/)
  const rts = lines.filter((l) => l.startsWith('test.movie_v2.q.get.response_time:'))
  assert.equal(rts.length, 3)
  for (const l of rts) assert.match(l, /^test\.movie_v2\.q\.get\.response_time:\d+(\.\d+)?\|ms$/)
  for (const l of lines) assert.match(l, /^test\.[A-Za-z0-9_.-]+:[\d.]+\|(c|ms|g)(\|@[\d.]+)?$/, 'well-formed')
})

test('a sample rate sends about that share, marked with @rate', async () => {
  lines.length = 0
  const cluster = new lemon.Cluster({
    zk: suite.zk.connectString,
    host: '127.0.0.1',
    statsd: { host: '127.0.0.1', port: statsd.address().port, prefix: 'sampled', sampleRate: 0.5 },
  })
  cleanups.push(() => cluster.close())
  await serve(cluster, 'rate', 'q')
  const consumer = cluster.consumer({ app: 'rate', group: 'q' })
  await waitFor(() => consumer.providers().length === 1, { what: 'provider' })
  for (let i = 0; i < 400; i++) await consumer.call('get', { id: i })
  await new Promise((r) => setTimeout(r, 200))
  const calls = lines.filter((l) => l === 'sampled.rate.q.get.calls:1|c|@0.5').length
  // Binomial(400, 0.5): mean 200, sd 10; ±80 is 8 sd.
  assert.ok(calls > 120 && calls < 280, `${calls} of 400 sampled`)
  assert.ok(lines.includes('sampled.rate.q.providers:1|g'), 'gauges are never sampled')
})

test('a bad statsd option is refused', () => {
  assert.throws(() => new lemon.Cluster({ zk: '127.0.0.1:1', statsd: 'udp://nohost' }), {
    code: 'ERR_INVALID_ARG',
    field: 'options.statsd',
  })
  assert.throws(() => new lemon.Cluster({ zk: '127.0.0.1:1', statsd: { host: 'h', sampleRate: 2 } }), {
    code: 'ERR_INVALID_ARG',
    field: 'options.statsd.sampleRate',
  })
})

test('retries, breaker changes and ejections are reported per provider', async () => {
  lines.length = 0
  const { startProvider } = require('./harness/providers')
  const healthy = await startProvider()
  const broken = await startProvider({ status: 503, body: '{"error":{"code":"E","message":"down"}}' })
  cleanups.push(
    () => healthy.close(),
    () => broken.close(),
  )
  const cluster = new lemon.Cluster({
    zk: suite.zk.connectString,
    host: '127.0.0.1',
    cacheDir: false,
    statsd: { host: '127.0.0.1', port: statsd.address().port, prefix: 'brk' },
  })
  cleanups.push(() => cluster.close())
  for (const p of [healthy, broken]) await cluster.provide({ app: 'eject', group: 'g', port: p.port })
  const consumer = cluster.consumer({ app: 'eject', group: 'g', idempotent: true, warmupMs: 0 })
  await waitFor(() => consumer.providers().length === 2, { what: 'providers' })
  for (let i = 0; i < 30; i++) await consumer.call('get', {})
  const address = `provider.127_0_0_1_${broken.port}`
  await waitFor(() => lines.includes(`brk.eject.g.${address}.breaker.open:1|c`), { what: 'the breaker-open line' })
  assert.ok(lines.includes(`brk.eject.g.${address}.ejections:1|c`))
  assert.ok(
    lines.some((l) => l === 'brk.eject.g.get.retries:1|c'),
    'retries of the failed idempotent calls',
  )
  assert.ok(!lines.some((l) => l.startsWith(`brk.eject.g.provider.127_0_0_1_${healthy.port}.breaker`)), 'the healthy one never changes')
})
