'use strict'
// lemon.prometheus(): the statsd figures in a prom-client registry, scraped from a real
// `/metrics` HTTP endpoint after real calls to real providers — counters, the latency
// histograms, the provider gauge — and with no statsd configured at all.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const http = require('node:http')
const client = require('prom-client')
const lemon = require('../lib')
const { zooKeeperForFile } = require('./harness/file')
const { waitFor } = require('./harness/providers')

const suite = zooKeeperForFile()

async function listen(server) {
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  suite.cleanups.push(() => new Promise((resolve) => server.close(resolve)))
  return server.address().port
}

function get(port, path) {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path }, (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (d) => (body += d))
        res.on('end', () => resolve({ status: res.statusCode, type: res.headers['content-type'], body }))
      })
      .on('error', reject)
  })
}

/** `name{labels}` -> value, from the Prometheus text format. */
function parse(text) {
  const samples = new Map()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const at = line.lastIndexOf(' ')
    samples.set(line.slice(0, at), Number(line.slice(at + 1)))
  }
  return samples
}

test('a real /metrics endpoint shows the calls, errors, latency histogram, providers and served requests', async () => {
  const register = new client.Registry()
  assert.equal(lemon.prometheus(register), register)
  assert.equal(lemon.prometheus(register), register, 'a second call with the same registry changes nothing')

  const cluster = new lemon.Cluster({ zk: suite.zk.connectString, host: '127.0.0.1' })
  suite.cleanups.push(() => cluster.close())
  const svc = lemon.service({
    cluster,
    app: 'prom',
    group: 'q',
    methods: {
      get: ({ id }) => ({ id }),
      fail: () => {
        throw new Error('nope')
      },
    },
  })
  const server = http.createServer(svc.handler())
  await listen(server)
  await svc.register(server)
  const consumer = cluster.consumer({ app: 'prom', group: 'q' })
  await waitFor(() => consumer.providers().length === 1, { what: 'the provider' })
  for (let i = 0; i < 5; i++) assert.deepEqual(await consumer.call('get', { id: i }), { id: i })
  await assert.rejects(consumer.call('fail', {}), { code: 'ERR_PROVIDER_STATUS' })

  const endpoint = http.createServer(async (req, res) => {
    res.setHeader('content-type', register.contentType)
    res.end(await register.metrics())
  })
  const port = await listen(endpoint)
  const scraped = await get(port, '/metrics')
  assert.equal(scraped.status, 200)
  assert.match(scraped.type, /^text\/plain; version=0\.0\.4/)
  const text = scraped.body
  assert.match(text, /^# TYPE lemon_calls_total counter$/m)
  assert.match(text, /^# TYPE lemon_call_duration_seconds histogram$/m)
  assert.match(text, /^# TYPE lemon_providers gauge$/m)
  const s = parse(text)
  const at = (name) => {
    assert.ok(s.has(name), `${name} in\n${text}`)
    return s.get(name)
  }
  assert.equal(at('lemon_calls_total{app="prom",group="q",method="get"}'), 5)
  assert.equal(at('lemon_calls_total{app="prom",group="q",method="fail"}'), 1)
  assert.equal(at('lemon_call_errors_total{app="prom",group="q",method="fail",code="ERR_PROVIDER_STATUS"}'), 1)
  assert.equal(at('lemon_providers{app="prom",group="q"}'), 1)
  assert.equal(at('lemon_served_total{app="prom",group="q",method="get"}'), 5)
  assert.equal(at('lemon_served_errors_total{app="prom",group="q",method="fail",status="500"}'), 1)
  assert.ok(!s.has('lemon_call_errors_total{app="prom",group="q",method="get",code="ERR_PROVIDER_STATUS"}'))

  // The histogram: cumulative buckets ending in +Inf = _count, a positive sum in seconds.
  for (const [name, method, count] of [
    ['lemon_call_duration_seconds', 'get', 5],
    ['lemon_served_duration_seconds', 'get', 5],
    ['lemon_call_duration_seconds', 'fail', 1],
  ]) {
    const labels = `app="prom",group="q",method="${method}"`
    const buckets = [...s].filter(([k]) => k.startsWith(`${name}_bucket{${labels},le=`)).map(([, v]) => v)
    assert.ok(buckets.length >= 10, `${name} buckets`)
    for (let i = 1; i < buckets.length; i++) assert.ok(buckets[i] >= buckets[i - 1], `${name} buckets are cumulative`)
    assert.equal(at(`${name}_bucket{${labels},le="+Inf"}`), count)
    assert.equal(at(`${name}_count{${labels}}`), count)
    const sum = at(`${name}_sum{${labels}}`)
    assert.ok(sum > 0 && sum < count * 5, `${name}_sum ${sum} s for ${count} loopback calls`)
  }

  // Totals are read at scrape time: more calls, a higher count at the next scrape.
  await consumer.call('get', { id: 9 })
  const again = parse((await get(port, '/metrics')).body)
  assert.equal(again.get('lemon_calls_total{app="prom",group="q",method="get"}'), 6)
  assert.equal(again.get('lemon_call_duration_seconds_count{app="prom",group="q",method="get"}'), 6)
})

test("without an argument, prometheus() feeds prom-client's default registry", async () => {
  assert.equal(lemon.prometheus(), client.register)
  const text = await client.register.metrics()
  assert.match(text, /^# TYPE lemon_calls_total counter$/m)
  assert.match(text, /^# TYPE lemon_served_duration_seconds histogram$/m)
})

test('prometheus() refuses what is not a registry', () => {
  assert.throws(() => lemon.prometheus({}), { code: 'ERR_INVALID_ARG', field: 'register' })
  assert.throws(() => lemon.prometheus(null), { code: 'ERR_INVALID_ARG', field: 'register' })
})
