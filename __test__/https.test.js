'use strict'
// HTTPS between consumers and providers: real https.createServer providers (Express, Koa,
// node:http) register `https` themselves; consumers call them over rustls with the Cluster's
// `tls` (CA, client certificate), and every failure is ERR_TLS naming the provider and what did
// not verify, without costing another service its calls.

const { test, after } = require('node:test')
const assert = require('node:assert/strict')
const https = require('node:https')
const lemon = require('../lib')
const { Cluster } = lemon
const { zooKeeperForFile } = require('./harness/file')
const { zkGet } = require('../harness/zookeeper')
const { makePki } = require('../harness/tls')
const { startProvider, serviceHandler, waitFor } = require('./harness/providers')

const pki = makePki()
after(() => pki.remove())
const suite = zooKeeperForFile()
const { cleanups } = suite

const methods = {
  echo(args) {
    return { args }
  },
}

function newCluster(extra = {}) {
  const cluster = new Cluster({ zk: suite.zk.connectString, host: '127.0.0.1', cacheDir: false, ...extra })
  const warnings = []
  cluster.on('warning', (w) => warnings.push(w))
  cleanups.push(() => cluster.close())
  return { cluster, warnings }
}

/** An HTTPS server for `handler` with the test CA's server certificate; `mutual` asks for a client certificate. */
async function listenTls(handler, { mutual = false } = {}) {
  const options = { key: pki.read('server.key'), cert: pki.read('server.pem') }
  if (mutual) Object.assign(options, { ca: pki.read('ca.pem'), requestCert: true, rejectUnauthorized: true })
  const server = https.createServer(options, handler)
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanups.push(() => {
    server.closeAllConnections()
    return new Promise((resolve) => server.close(() => resolve()))
  })
  return server
}

/** Serves `group` over HTTPS with `kind` ('express' | 'koa' | 'http'), registered through `cluster`. */
async function httpsService(cluster, group, kind, listenOptions) {
  const options = { cluster, app: 'tls', group, methods }
  const { service, handler } = serviceHandler(kind, options)
  const server = await listenTls(handler, listenOptions)
  await service.register(server)
  cleanups.push(() => service.close({ drainTimeoutMs: 100 }))
  return server
}

test('Express, Koa and node:http over HTTPS register `https` and are called over TLS with the CA', async () => {
  const providerSide = newCluster()
  const consumerSide = newCluster({ tls: { ca: pki.ca } })
  for (const kind of ['express', 'koa', 'http']) {
    const server = await httpsService(providerSide.cluster, `tls-${kind}`, kind)
    const consumer = consumerSide.cluster.consumer({ app: 'tls', group: `tls-${kind}` })
    await waitFor(() => consumer.providers().length === 1, { what: `the ${kind} provider` })
    const [provider] = consumer.providers()
    assert.equal(provider.protocol, 'https')
    assert.equal(provider.port, server.address().port)
    // The node says https twice: as `protocol`, and in a port older readers cannot take for a number.
    const [name] = provider.nodes
    const node = JSON.parse(await zkGet(suite.zk.connectString, `/lemonhjuice/tls/tls-${kind}/providers/${name}`))
    assert.equal(node.protocol, 'https')
    assert.equal(node.port, `https:${server.address().port}`)
    for (let i = 0; i < 3; i++) assert.deepEqual(await consumer.call('echo', { i, kind }), { args: { i, kind } })
  }
})

test('a consumer without the CA gets ERR_TLS naming the provider; its plain-HTTP service keeps working', async () => {
  const providerSide = newCluster()
  const server = await httpsService(providerSide.cluster, 'no-ca', 'http')
  const plain = await startProvider()
  cleanups.push(() => plain.close())
  await providerSide.cluster.provide({ app: 'tls', group: 'plain', port: plain.port })
  const { cluster } = newCluster() // trusts Mozilla's roots only
  const secure = cluster.consumer({ app: 'tls', group: 'no-ca' })
  const clear = cluster.consumer({ app: 'tls', group: 'plain' })
  await waitFor(() => secure.providers().length === 1 && clear.providers().length === 1, { what: 'both providers' })
  const address = `127.0.0.1:${server.address().port}`
  await assert.rejects(secure.call('echo', {}), (e) => {
    assert.equal(e.code, 'ERR_TLS', e.message)
    assert.equal(e.address, address)
    assert.match(e.message, /not signed by the CA given in `ca`/)
    return true
  })
  assert.equal((await clear.call('m', {})).port, plain.port)
})

test('mutual TLS: a provider asking for a client certificate refuses a consumer without one, serves one with it', async () => {
  const providerSide = newCluster()
  await httpsService(providerSide.cluster, 'mutual', 'express', { mutual: true })
  const anonymous = newCluster({ tls: { ca: pki.ca } }).cluster.consumer({ app: 'tls', group: 'mutual' })
  const identified = newCluster({ tls: { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey } }).cluster.consumer({
    app: 'tls',
    group: 'mutual',
  })
  await waitFor(() => anonymous.providers().length === 1 && identified.providers().length === 1, { what: 'the provider' })
  await assert.rejects(anonymous.call('echo', {}), (e) => e.code === 'ERR_TLS' && /refused this client's certificate/.test(e.message))
  assert.deepEqual(await identified.call('echo', { who: 'me' }), { args: { who: 'me' } })
})

test('tls.require: a plain-HTTP provider is never called', async () => {
  const providerSide = newCluster()
  await httpsService(providerSide.cluster, 'mixed', 'koa')
  const plain = await startProvider()
  cleanups.push(() => plain.close())
  await providerSide.cluster.provide({ app: 'tls', group: 'mixed', port: plain.port })
  await providerSide.cluster.provide({ app: 'tls', group: 'only-plain', port: plain.port })
  const { cluster } = newCluster({ tls: { ca: pki.ca, require: true } })
  const mixed = cluster.consumer({ app: 'tls', group: 'mixed', retries: 2 })
  const onlyPlain = cluster.consumer({ app: 'tls', group: 'only-plain' })
  await waitFor(() => mixed.providers().length === 2 && onlyPlain.providers().length === 1, { what: 'the providers' })
  for (let i = 0; i < 10; i++) assert.deepEqual(await mixed.call('echo', { i }), { args: { i } })
  await assert.rejects(onlyPlain.call('m', {}), (e) => e.code === 'ERR_TLS' && /plain HTTP and `tls.require` is set/.test(e.message))
  assert.equal(plain.hits, 0, 'the plain provider was never called')
})

test('bad tls options are refused at once, naming the field', () => {
  const cases = [
    [{ ca: '/nonexistent.pem' }, /tls\.ca`: cannot read/],
    [{ key: pki.clientKey }, /tls\.cert`: is required with `key`/],
    [{ require: 'yes' }, /tls\.require`: must be a boolean/],
    [{ rejectUnauthorized: false }, /tls\.rejectUnauthorized`: unknown option/],
  ]
  for (const [tls, message] of cases) {
    assert.throws(
      () => new Cluster({ zk: '127.0.0.1:1', tls }),
      (e) => e.code === 'ERR_INVALID_ARG' && message.test(e.message),
      JSON.stringify(tls),
    )
  }
})
