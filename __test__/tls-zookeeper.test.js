'use strict'
// TLS to ZooKeeper (`zkTls`): a real Debian ZooKeeper serving its secureClientPort through Netty,
// certificates made by openssl for this file. Everything the plain tests check about a session
// (register, watch, expiry and recovery) holds over TLS; a certificate that does not verify, on
// either side, is `ERR_ZK_TLS` saying which, never a fallback to clear text.

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { Cluster } = require('..')
const { zkLs } = require('../harness/zookeeper')
const { makePki, startSecureZooKeeper } = require('../harness/tls')
const { startProvider, waitFor } = require('./harness/providers')
const { openStore, save } = require('./harness/config')
const { runFixture } = require('./harness/file')
const { spawnSync } = require('node:child_process')
const path = require('node:path')

const CLI = path.join(__dirname, '..', 'lib', 'cli.js')

const pki = makePki()
const suite = { zk: null, cleanups: [] }
before(async () => {
  suite.zk = await startSecureZooKeeper(pki)
})
after(async () => {
  for (const c of suite.cleanups.reverse()) await c()
  if (suite.zk) await suite.zk.cleanup()
  pki.remove()
})

function newCluster(extra = {}) {
  const cluster = new Cluster({
    zk: suite.zk.secureConnectString,
    host: '127.0.0.1',
    cacheDir: false,
    sessionTimeoutMs: 1000,
    // The JVM's first TLS handshakes are slow on a loaded machine.
    connectTimeoutMs: 5000,
    zkTls: { ca: pki.ca },
    ...extra,
  })
  const warnings = []
  cluster.on('warning', (w) => warnings.push(w))
  suite.cleanups.push(() => cluster.close())
  return { cluster, warnings }
}

test('over TLS: register, watch, expire and recover, calls never stop', async () => {
  const app = 'tls'
  const group = 'svc'
  const folder = `/lemonhjuice/${app}/${group}`
  const server = await startProvider()
  suite.cleanups.push(() => server.close())
  // The CA as PEM text for one side, as a file path for the other.
  const providerSide = newCluster({ zkTls: { ca: pki.read('ca.pem') } })
  const consumerSide = newCluster()
  assert.equal((await providerSide.cluster.ready()).connected, true)
  await providerSide.cluster.provide({ app, group, port: server.port })
  const consumer = consumerSide.cluster.consumer({ app, group })
  await waitFor(() => consumer.providers().length === 1, { what: 'the provider, read over TLS' })
  assert.equal((await consumer.call('m', { a: 1 })).args.a, 1)
  const [oldNode] = await zkLs(suite.zk.connectString, `${folder}/providers`)

  // Longer than the session timeout without ZooKeeper: the session expires, a new TLS session
  // re-creates the node and re-arms the watch.
  await suite.zk.stop()
  const outageEnds = Date.now() + 2500
  for (let i = 0; i < 500 && Date.now() < outageEnds; i++) {
    await consumer.call('m', { i })
    await new Promise((r) => setTimeout(r, 20))
  }
  await suite.zk.start()
  await waitFor(() => consumerSide.warnings.some((w) => w.code === 'ERR_ZK_SESSION_EXPIRED'), { timeoutMs: 10000, what: 'expiry' })
  await waitFor(
    async () => {
      const nodes = await zkLs(suite.zk.connectString, `${folder}/providers`)
      return nodes?.length === 1 && nodes[0] !== oldNode
    },
    { timeoutMs: 15000, what: 'the provider node re-created over TLS' },
  )
  const late = await startProvider()
  suite.cleanups.push(() => late.close())
  await providerSide.cluster.provide({ app, group, port: late.port })
  await waitFor(() => consumer.providers().length === 2, { timeoutMs: 10000, what: 'the re-armed watch' })
  assert.ok(!consumerSide.warnings.some((w) => w.code === 'ERR_ZK_TLS'), JSON.stringify(consumerSide.warnings))
})

test('a server certificate from another CA: ERR_ZK_TLS names what did not verify; requireRegistry rejects with it', async () => {
  const { cluster, warnings } = newCluster({ zkTls: { ca: pki.otherCa }, requireRegistry: true })
  const err = await cluster.ready().then(
    () => assert.fail('ready() resolved'),
    (e) => e,
  )
  assert.equal(err.code, 'ERR_ZK_TLS', err.message)
  assert.match(err.message, /not signed by the CA given in `ca`/)
  assert.match(err.message, new RegExp(suite.zk.secureConnectString))
  assert.ok(
    warnings.some((w) => w.code === 'ERR_ZK_TLS'),
    JSON.stringify(warnings),
  )
  // A consumer's ready() says the same.
  const consumer = cluster.consumer({ app: 'tls', group: 'never' })
  await assert.rejects(consumer.ready(), { code: 'ERR_ZK_TLS' })
  // Without requireRegistry, ready() resolves false and the warning says why.
  const lenient = newCluster({ zkTls: { ca: pki.otherCa }, connectTimeoutMs: 1500 })
  assert.equal((await lenient.cluster.ready()).connected, false)
  await waitFor(() => lenient.warnings.some((w) => w.code === 'ERR_ZK_TLS'), { what: 'the TLS warning' })
})

test('zkTls against a plain port is ERR_ZK_TLS (no clear-text fallback)', async () => {
  const { cluster } = newCluster({ zk: suite.zk.connectString, requireRegistry: true })
  await assert.rejects(cluster.ready(), (e) => e.code === 'ERR_ZK_TLS' && /does not speak TLS/.test(e.message))
})

test('bad zkTls options are refused at once, naming the field', () => {
  const cases = [
    [{ ca: '/nonexistent/ca.pem' }, /zkTls\.ca`: cannot read/],
    [{ ca: pki.ca, cert: pki.clientCert }, /zkTls\.key`: is required with `cert`/],
    [{ ca: pki.ca, servername: 'zk' }, /zkTls\.servername`: is not supported/],
    [{ ca: pki.ca, rejectUnauthorized: false }, /zkTls\.rejectUnauthorized`: unknown option/],
    [{ ca: pki.clientKey }, /zkTls\.ca`: holds no certificate/],
  ]
  for (const [zkTls, message] of cases) {
    assert.throws(
      () => new Cluster({ zk: '127.0.0.1:1', zkTls }),
      (e) => e.code === 'ERR_INVALID_ARG' && message.test(e.message),
      JSON.stringify(zkTls),
    )
  }
})

test('mutual TLS (ssl.clientAuth=need): refused without a client certificate, served with one', async () => {
  const mutual = await startSecureZooKeeper(pki, { clientAuth: 'need' })
  suite.cleanups.push(() => mutual.cleanup())
  const anonymous = newCluster({ zk: mutual.secureConnectString, requireRegistry: true })
  const err = await anonymous.cluster.ready().then(
    () => assert.fail('ready() resolved without a client certificate'),
    (e) => e,
  )
  assert.equal(err.code, 'ERR_ZK_TLS', err.message)
  assert.match(err.message, /refused this client's certificate/)

  const server = await startProvider()
  suite.cleanups.push(() => server.close())
  const identified = newCluster({
    zk: mutual.secureConnectString,
    zkTls: { ca: pki.ca, cert: pki.clientCert, key: pki.read('client.key') },
  })
  assert.equal((await identified.cluster.ready()).connected, true)
  await identified.cluster.provide({ app: 'mtls', group: 'svc', port: server.port })
  const consumer = identified.cluster.consumer({ app: 'mtls', group: 'svc' })
  await waitFor(() => consumer.providers().length === 1, { what: 'the provider over mutual TLS' })
  assert.equal((await consumer.call('m', {})).port, server.port)
  // The key is nobody's business: not in warnings, not in errors.
  for (const w of [...anonymous.warnings, ...identified.warnings]) assert.ok(!w.message.includes('PRIVATE KEY'), w.message)

  // The CLI, as an operator types it: the same trust settings as flags (paths) or environment.
  const files = { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey }
  const cli = (args, env = {}) =>
    spawnSync(process.execPath, [CLI, '--zk', mutual.secureConnectString, '--json', ...args], {
      encoding: 'utf8',
      timeout: 60000,
      env: { ...process.env, LEMON_ZK: '', LEMON_ZK_TLS_CA: '', LEMON_ZK_TLS_CERT: '', LEMON_ZK_TLS_KEY: '', ...env },
    })
  const listed = cli(['services', '--zk-tls-ca', files.ca, '--zk-tls-cert', files.cert, '--zk-tls-key', files.key])
  assert.equal(listed.status, 0, listed.stderr)
  assert.ok(
    JSON.parse(listed.stdout).some((s) => s.service === 'mtls/svc'),
    listed.stdout,
  )
  const fromEnv = cli(['providers', 'mtls/svc'], { LEMON_ZK_TLS_CA: files.ca, LEMON_ZK_TLS_CERT: files.cert, LEMON_ZK_TLS_KEY: files.key })
  assert.equal(fromEnv.status, 0, fromEnv.stderr)
  const noCert = cli(['services', '--zk-tls-ca', files.ca])
  assert.notEqual(noCert.status, 0)
  assert.match(noCert.stderr, /ERR_ZK_TLS/)
})

test('the nconf store reads and writes its configuration over TLS', async () => {
  const opened = openStore({ host: suite.zk.secureConnectString, name: 'tls-app', zkTls: { ca: pki.ca } })
  suite.cleanups.push(() => opened.store.close())
  opened.conf.set('db:host', 'primary')
  await save(opened.conf)
  const reader = openStore({ host: suite.zk.secureConnectString, name: 'tls-app', zkTls: { ca: pki.ca } })
  suite.cleanups.push(() => reader.store.close())
  await waitFor(() => reader.conf.get('db:host') === 'primary', { timeoutMs: 10000, what: 'the value read over TLS' })
  assert.ok(!Object.keys(reader.store).includes('zkTls'), 'zkTls is not an enumerable property of the store')
})

test('a process with a TLS session and an HTTPS call exits on its own after close(), its node already gone', async () => {
  const result = await runFixture('tls-exit-child.js', [suite.zk.secureConnectString, pki.dir], 30000)
  assert.equal(result.signal, null, `killed: the process did not exit by itself\n${result.err}`)
  assert.equal(result.code, 0, result.err)
  const lingerMs = result.exitedAt - Number(/closed (\d+)/.exec(result.out)[1])
  assert.ok(lingerMs < 2000, `exited ${lingerMs} ms after close()`)
  assert.deepEqual(await zkLs(suite.zk.connectString, '/lemonhjuice/tlsexit/g/providers'), [])
})
