'use strict'
// Provider tokens: a provider with `token` writes a secret into a node only its own identity and
// `tokenReaders` may read, and refuses calls without it (401, ERR_UNAUTHORIZED); consumers that
// may read it send it by themselves; one that may not gets ERR_UNAUTHORIZED for that service
// only. Real Express, Koa and node:http providers, over HTTP and HTTPS, a real ZooKeeper checked
// from the outside, and a pm2 reload that rotates every worker's token without a failed call.

const { test, after } = require('node:test')
const assert = require('node:assert/strict')
const crypto = require('node:crypto')
const fs = require('node:fs')
const http = require('node:http')
const https = require('node:https')
const os = require('node:os')
const path = require('node:path')
const { execFile } = require('node:child_process')
const lemon = require('../lib')
const { Cluster, Admin } = lemon
const { freePort } = require('../harness/zookeeper')
const { makePki } = require('../harness/tls')
const { zooKeeperForFile, otherZooKeeperClient, runFixture } = require('./harness/file')
const { startProvider, serviceHandler, waitFor } = require('./harness/providers')

const pki = makePki()
after(() => pki.remove())
const suite = zooKeeperForFile()
const { cleanups } = suite

const OWNER = 'shop:owner-password'
const READER = 'cart:reader-password'
const STRANGER = 'intruder:other-password'
const TOKEN_HEADER = 'x-lemon-token'

/** The ZooKeeper digest identity of `user:password`, as `tokenReaders` takes it. */
function digestId(credentials) {
  const user = credentials.split(':')[0]
  return `digest:${user}:${crypto.createHash('sha1').update(credentials).digest('base64')}`
}

const methods = {
  echo(args, { req }) {
    return { args, headers: Object.keys(req.headers), raw: req.rawHeaders.filter((_, i) => i % 2 === 0).map((h) => h.toLowerCase()) }
  },
}

function newCluster(extra = {}) {
  const records = []
  const logger = {
    debug: (...a) => records.push(a.join(' ')),
    info: (...a) => records.push(a.join(' ')),
    warn: (...a) => records.push(a.join(' ')),
    error: (...a) => records.push(a.join(' ')),
  }
  const cluster = new Cluster({ zk: suite.zk.connectString, host: '127.0.0.1', cacheDir: false, logger, ...extra })
  const warnings = []
  cluster.on('warning', (w) => warnings.push(w))
  cleanups.push(() => cluster.close())
  return { cluster, warnings, records }
}

/** Serves `group` with `kind` ('express' | 'koa' | 'http'), plain or over TLS, registered through `cluster`. */
async function tokenService(cluster, group, kind, { tls = false, token = true, tokenReaders = [digestId(READER)] } = {}) {
  const options = { cluster, app: 'tok', group, methods, token, tokenReaders }
  const { service, handler } = serviceHandler(kind, options, { json: true })
  // Counts the provider's refusals: a consumer that follows the tokens has none once settled.
  const counts = { refused: 0 }
  const counted = (req, res) => {
    res.once('finish', () => {
      if (res.statusCode === 401) counts.refused++
    })
    return handler(req, res)
  }
  const server = tls
    ? https.createServer({ key: pki.read('server.key'), cert: pki.read('server.pem') }, counted)
    : http.createServer(counted)
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const registration = await service.register(server)
  cleanups.push(async () => {
    await service.close({ drainTimeoutMs: 100 })
    server.closeAllConnections()
  })
  return { server, service, registration, counts, port: server.address().port }
}

/** POSTs `body` to a provider by hand; resolves to `{ status, body }`. */
function post(port, urlPath, headers = {}, body = '{}') {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path: urlPath, method: 'POST', headers: { 'content-type': 'application/json', ...headers } },
      (res) => {
        let text = ''
        res.setEncoding('utf8')
        res.on('data', (d) => (text += d))
        res.on('end', () => resolve({ status: res.statusCode, body: text ? JSON.parse(text) : null }))
      },
    )
    req.on('error', reject)
    req.setTimeout(5000, () => req.destroy(new Error('no reply in 5 s')))
    req.end(body)
  })
}

/** The token nodes of `group`, read as `credentials` from another ZooKeeper client: `{ name, data, acl }`. */
async function tokenNodes(group, credentials) {
  const { client, call } = await otherZooKeeperClient(suite.zk.connectString)
  try {
    if (credentials) client.addAuthInfo('digest', Buffer.from(credentials))
    const folder = `/lemonhjuice/tok/${group}/tokens`
    const names = await call('getChildren', folder)
    const nodes = []
    for (const name of names) {
      // Reading the ACL needs read access too (ZooKeeper 3.6+): an error stands for either.
      const acl = await call('getACL', `${folder}/${name}`).then(
        (acls) => acls.map((a) => `${a.id.scheme}:${a.id.id}:${a.permission}`),
        (e) => e,
      )
      const data = await call('getData', `${folder}/${name}`).then(
        (d) => d.toString('utf8'),
        (e) => e,
      )
      nodes.push({ name, data, acl })
    }
    return nodes
  } finally {
    client.close()
  }
}

test('Express, Koa and node:http with token: true: a reader calls, the token node is readable by the ACL only', async () => {
  const provider = newCluster({ auth: OWNER })
  const reader = newCluster({ auth: READER })
  for (const kind of ['express', 'koa', 'http']) {
    const group = `tok-${kind}`
    const { registration, port } = await tokenService(provider.cluster, group, kind)
    assert.equal(registration.tokenRequired, true)
    const consumer = reader.cluster.consumer({ app: 'tok', group })
    await waitFor(() => consumer.providers().length === 1, { what: `the ${kind} provider` })
    assert.equal(consumer.providers()[0].token, true)
    for (let i = 0; i < 3; i++) {
      const reply = await consumer.call('echo', { i })
      assert.deepEqual(reply.args, { i })
      // The handler never sees the token header, so it cannot log it.
      assert.ok(!reply.headers.includes(TOKEN_HEADER) && !reply.raw.includes(TOKEN_HEADER), JSON.stringify(reply))
    }
    // From the outside: the provider data says only that a token is needed...
    const { client, call } = await otherZooKeeperClient(suite.zk.connectString)
    const folder = `/lemonhjuice/tok/${group}/providers`
    const [providerNode] = await call('getChildren', folder)
    const data = JSON.parse((await call('getData', `${folder}/${providerNode}`)).toString())
    client.close()
    assert.equal(data.token, true)
    // ...and the token node is one per process, readable by the owner and the reader only.
    const [owned] = await tokenNodes(group, OWNER)
    assert.match(owned.name, new RegExp(`^127\\.0\\.0\\.1:${port}-\\d{10}$`))
    assert.match(owned.data, /^[A-Za-z0-9_-]{43}$/, 'a 256-bit token, base64url')
    assert.ok(!JSON.stringify(data).includes(owned.data), 'the token is not in the provider data')
    assert.deepEqual(owned.acl.map((a) => a.split(':')[0]).sort(), ['digest', 'digest'])
    assert.ok(owned.acl.includes(`${digestId(READER)}:1`), `the reader may read, nothing more: ${owned.acl}`)
    assert.ok(!owned.acl.some((a) => a.startsWith('world:')), `${owned.acl}`)
    const [anonymous] = await tokenNodes(group, undefined)
    assert.equal(anonymous.data.name, 'NO_AUTH', 'anyone else gets NoAuth')
    assert.equal(anonymous.acl.name, 'NO_AUTH')
    const [stranger] = await tokenNodes(group, STRANGER)
    assert.equal(stranger.data.name, 'NO_AUTH', 'so do other credentials')
  }
})

test('requests without the token, with a wrong one, or before the method is known get 401 ERR_UNAUTHORIZED', async () => {
  const provider = newCluster({ auth: OWNER })
  const given = 'a-given-token-of-32-characters!!'
  const { port } = await tokenService(provider.cluster, 'tok-raw', 'http', { token: given })
  for (const headers of [{}, { [TOKEN_HEADER]: 'wrong-token-wrong-token' }, { [TOKEN_HEADER]: '' }, { [TOKEN_HEADER]: given.slice(1) }]) {
    for (const method of ['echo', 'no-such-method']) {
      const reply = await post(port, `/tok/tok-raw/${method}`, headers)
      assert.equal(reply.status, 401, JSON.stringify({ headers, reply }))
      assert.equal(reply.body.error.code, 'ERR_UNAUTHORIZED')
      assert.ok(!JSON.stringify(reply.body).includes(given), 'the refusal does not repeat the token')
    }
  }
  // The right token, alone or among others (a consumer sends all of an endpoint's tokens).
  for (const offered of [given, `someone-elses-token-xx, ${given}`]) {
    const ok = await post(port, '/tok/tok-raw/echo', { [TOKEN_HEADER]: offered }, '{"x":1}')
    assert.equal(ok.status, 200, JSON.stringify(ok))
    assert.deepEqual(ok.body.args, { x: 1 })
  }
})

test('a consumer that may not read the token gets ERR_UNAUTHORIZED naming the provider; its other services keep working', async () => {
  const provider = newCluster({ auth: OWNER })
  const { port } = await tokenService(provider.cluster, 'tok-denied', 'express')
  const plain = await startProvider()
  cleanups.push(() => plain.close())
  await provider.cluster.provide({ app: 'tok', group: 'tok-plain', port: plain.port })
  for (const extra of [{}, { auth: STRANGER }]) {
    const { cluster, warnings } = newCluster(extra)
    const secured = cluster.consumer({ app: 'tok', group: 'tok-denied' })
    const open = cluster.consumer({ app: 'tok', group: 'tok-plain' })
    await waitFor(() => secured.providers().length === 1 && open.providers().length === 1, { what: 'both providers' })
    // The book is read once the provider node says it needs a token.
    await waitFor(() => warnings.some((w) => w.code === 'ERR_UNAUTHORIZED'), { what: 'the ERR_UNAUTHORIZED warning' })
    const hitsBefore = plain.hits
    await assert.rejects(secured.call('echo', {}), (e) => {
      assert.equal(e.code, 'ERR_UNAUTHORIZED', e.message)
      assert.equal(e.address, `127.0.0.1:${port}`)
      assert.match(e.message, /tok\/tok-denied/)
      assert.match(e.message, /tokenReaders/)
      if (extra.auth) assert.match(e.message, /digest:intruder/)
      return true
    })
    assert.equal((await open.call('m', {})).port, plain.port)
    assert.equal(plain.hits, hitsBefore + 1)
  }
})

test('token needs credentials, and bad tokens or readers are refused without echoing them', async () => {
  const anonymous = newCluster()
  await assert.rejects(anonymous.cluster.provide({ app: 'tok', group: 'tok-noauth', port: 1, token: true }), (e) => {
    assert.equal(e.code, 'ERR_INVALID_ARG')
    assert.equal(e.field, 'provide.token')
    assert.match(e.message, /auth/)
    return true
  })
  const owner = newCluster({ auth: OWNER })
  const cases = [
    [{ token: 'short-secret' }, 'provide.token'],
    [{ token: 42 }, 'provide.token'],
    [{ token: true, tokenReaders: ['world:anyone'] }, 'provide.tokenReaders[0]'],
    [{ token: true, tokenReaders: ['digest:cart:reader-password'] }, 'provide.tokenReaders[0]'],
    [{ tokenReaders: [digestId(READER)] }, 'provide.tokenReaders'],
  ]
  for (const [extra, field] of cases) {
    await assert.rejects(owner.cluster.provide({ app: 'tok', group: 'tok-bad', port: 1, ...extra }), (e) => {
      assert.equal(e.code, 'ERR_INVALID_ARG', JSON.stringify(extra))
      assert.equal(e.field, field)
      assert.ok(!e.message.includes('short-secret') && !e.message.includes('reader-password'), e.message)
      return true
    })
  }
  // Nothing was registered by the refused calls.
  const { client, call } = await otherZooKeeperClient(suite.zk.connectString)
  const exists = await call('exists', '/lemonhjuice/tok/tok-bad/providers')
  client.close()
  assert.equal(exists, null)
})

test('over HTTPS with a token: a reader with the CA calls', async () => {
  const provider = newCluster({ auth: OWNER })
  await tokenService(provider.cluster, 'tok-tls', 'koa', { tls: true })
  const reader = newCluster({ auth: READER, tls: { ca: pki.ca } })
  const consumer = reader.cluster.consumer({ app: 'tok', group: 'tok-tls' })
  await waitFor(() => consumer.providers().length === 1, { what: 'the HTTPS provider' })
  assert.equal(consumer.providers()[0].protocol, 'https')
  assert.deepEqual((await consumer.call('echo', { tls: true })).args, { tls: true })
})

test('the token appears in no log record, warning, error, stats, cache file or Admin inventory', async () => {
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lemon-tokens-'))
  cleanups.push(() => fs.rmSync(cacheDir, { recursive: true, force: true }))
  const provider = newCluster({ auth: OWNER })
  const given = 'given-token-that-must-never-leak-0001'
  const served = await tokenService(provider.cluster, 'tok-leak', 'http', { token: given })
  const generated = await tokenService(provider.cluster, 'tok-leak2', 'express')
  const reader = newCluster({ auth: READER, cacheDir })
  const stranger = newCluster({ auth: STRANGER })
  const calls = []
  for (const group of ['tok-leak', 'tok-leak2']) {
    const consumer = reader.cluster.consumer({ app: 'tok', group })
    const denied = stranger.cluster.consumer({ app: 'tok', group })
    await waitFor(() => consumer.providers().length === 1 && denied.providers().length === 1, { what: group })
    calls.push(await consumer.call('echo', { group }))
    calls.push(await denied.call('echo', {}).catch((e) => ({ code: e.code, message: e.message, stack: e.stack })))
    calls.push(consumer.stats(), consumer.providers())
  }
  assert.equal(calls[1].code, 'ERR_UNAUTHORIZED', 'the stranger was refused: the run did what it claims')
  // The generated token, read from ZooKeeper as its owner.
  const [{ data: secret }] = await tokenNodes('tok-leak2', OWNER)
  assert.match(secret, /^[A-Za-z0-9_-]{43}$/)
  await waitFor(() => fs.readdirSync(cacheDir).length >= 2, { what: 'the cache files' })
  const admin = new Admin({ zk: suite.zk.connectString, auth: OWNER })
  cleanups.push(() => admin.close())
  const inventory = [await admin.services(), await admin.providers('tok/tok-leak'), await admin.providers('tok/tok-leak2')]
  assert.ok(JSON.stringify(inventory).includes(`127.0.0.1:${served.port}`), 'the inventory lists the provider')
  const everything = [
    ...[provider, reader, stranger].flatMap((c) => [...c.records, ...c.warnings.map((w) => w.message), JSON.stringify(c.cluster.stats())]),
    JSON.stringify(calls),
    JSON.stringify(inventory),
    JSON.stringify(await served.registration.update({ weight: 50 })),
    ...fs.readdirSync(cacheDir).map((f) => fs.readFileSync(path.join(cacheDir, f), 'utf8')),
  ].join('\n')
  assert.ok(everything.includes('ERR_UNAUTHORIZED'), 'the refusals were recorded')
  for (const token of [given, secret]) assert.ok(!everything.includes(token), `the token leaked:\n${everything}`)
  void generated
})

test('a restarted provider has a new token and consumers follow it', async () => {
  const reader = newCluster({ auth: READER })
  const first = newCluster({ auth: OWNER })
  const a = await tokenService(first.cluster, 'tok-restart', 'http')
  const consumer = reader.cluster.consumer({ app: 'tok', group: 'tok-restart' })
  await waitFor(() => consumer.providers().length === 1, { what: 'the provider' })
  assert.ok(await consumer.call('echo', {}))
  const [{ data: before }] = await tokenNodes('tok-restart', OWNER)
  await a.service.close({ drainTimeoutMs: 100 })
  await first.cluster.close()
  // A new process on the same port: a new token; the first call after it may race the watch.
  const second = newCluster({ auth: OWNER })
  const b = await tokenService(second.cluster, 'tok-restart', 'http', {})
  await waitFor(() => consumer.providers().length === 1, { what: 'the new provider' })
  for (let i = 0; i < 5; i++) assert.deepEqual((await consumer.call('echo', { i })).args, { i })
  // The watch brought the new token: once settled, no call is refused first.
  const refusedSoFar = b.counts.refused
  await new Promise((r) => setTimeout(r, 300))
  for (let i = 0; i < 5; i++) await consumer.call('echo', { i })
  assert.equal(b.counts.refused, refusedSoFar)
  const nodes = await tokenNodes('tok-restart', OWNER)
  assert.equal(nodes.length, 1, 'the old token node went with its process')
  assert.notEqual(nodes[0].data, before)
})

test('after both sessions expire the token node is re-created and the consumer watches the folder again', async () => {
  const short = { sessionTimeoutMs: 1000, connectTimeoutMs: 1000 }
  const reader = newCluster({ auth: READER, ...short })
  const owner = newCluster({ auth: OWNER, ...short })
  const first = await tokenService(owner.cluster, 'tok-expiry', 'express')
  const consumer = reader.cluster.consumer({ app: 'tok', group: 'tok-expiry' })
  await waitFor(() => consumer.providers().length === 1, { what: 'the provider' })
  await consumer.call('echo', {})
  const [before] = await tokenNodes('tok-expiry', OWNER)
  // ZooKeeper away for longer than the session timeout: both sessions expire.
  await suite.zk.stop()
  await new Promise((r) => setTimeout(r, 2500))
  await suite.zk.start()
  for (const side of [reader, owner])
    await waitFor(() => side.warnings.some((w) => w.code === 'ERR_ZK_SESSION_EXPIRED'), { timeoutMs: 15000, what: 'the expiry' })
  await waitFor(
    async () => {
      const nodes = await tokenNodes('tok-expiry', OWNER).catch(() => [])
      return nodes.length === 1 && nodes[0].name !== before.name
    },
    { timeoutMs: 15000, what: 'the token node of the new session' },
  )
  const [after] = await tokenNodes('tok-expiry', OWNER)
  assert.equal(after.data, before.data, 'the same process keeps its token')
  // The watch of the new session sees a provider that starts now, with a new token.
  await first.service.close({ drainTimeoutMs: 100 })
  const second = await tokenService(newCluster({ auth: OWNER, ...short }).cluster, 'tok-expiry', 'http')
  await waitFor(async () => (await tokenNodes('tok-expiry', OWNER)).length === 1 && consumer.providers()[0]?.port === second.port, {
    what: 'the new provider and its token',
  })
  await new Promise((r) => setTimeout(r, 300))
  for (let i = 0; i < 5; i++) assert.deepEqual((await consumer.call('echo', { i })).args, { i })
  assert.equal(second.counts.refused, 0, 'the new token came from the watch, not after a refusal')
})

test('a process serving and calling with tokens exits on its own after close(), its token node already gone', async () => {
  const result = await runFixture('tokens-exit-child.js', [suite.zk.connectString, OWNER, 'tok-exit'], 30000)
  assert.equal(result.signal, null, `killed: the process did not exit by itself\n${result.err}`)
  assert.equal(result.code, 0, result.err)
  const lingerMs = result.exitedAt - Number(/closed (\d+)/.exec(result.out)[1])
  assert.ok(lingerMs < 2000, `exited ${lingerMs} ms after close()`)
  assert.deepEqual(await tokenNodes('tok-exit', OWNER), [], 'the token node vanished with close(), not after the 20 s session timeout')
})

test('pm2 reload of token-requiring workers on one port: every token rotates, no call fails', { timeout: 150000 }, async () => {
  const PM2 = path.join(__dirname, '..', 'node_modules', '.bin', 'pm2')
  const APP = 'tokapp'
  const pm2Home = fs.mkdtempSync(path.join(os.tmpdir(), 'lemon-pm2-tok-'))
  const pm2 = (...args) =>
    new Promise((resolve, reject) => {
      execFile(PM2, args, { env: { ...process.env, PM2_HOME: pm2Home }, timeout: 60000 }, (err, stdout, stderr) => {
        if (err) reject(new Error(`pm2 ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`))
        else resolve(stdout)
      })
    })
  cleanups.push(async () => {
    await pm2('kill').catch(() => {})
    fs.rmSync(pm2Home, { recursive: true, force: true })
  })
  const port = await freePort()
  const config = path.join(pm2Home, 'ecosystem.config.js')
  fs.writeFileSync(
    config,
    `module.exports = { apps: [{ name: '${APP}', script: ${JSON.stringify(path.join(__dirname, '..', 'examples', 'pm2', 'provider.js'))},
      exec_mode: 'cluster', instances: 2, wait_ready: true, listen_timeout: 15000, kill_timeout: 12000,
      env: { ZK: '${suite.zk.connectString}', PORT: '${port}', APP: 'tok', GROUP: 'tok-pm2', AUTH: '${OWNER}', TOKEN: '1' } }] }`,
  )
  await pm2('start', config)
  const { cluster } = newCluster({ auth: OWNER })
  const consumer = cluster.consumer({ app: 'tok', group: 'tok-pm2' })
  await waitFor(() => consumer.providers()[0]?.nodes.length === 2, { timeoutMs: 30000, what: 'both workers registered' })
  const tokensBefore = (await tokenNodes('tok-pm2', OWNER)).map((n) => n.data)
  assert.equal(tokensBefore.length, 2)
  assert.notEqual(tokensBefore[0], tokensBefore[1], 'each worker has its own token')

  const stats = { ok: 0, failed: 0, errors: [] }
  let stop = false
  const deadline = Date.now() + 60000
  const loop = async () => {
    for (let i = 0; i < 1e6 && !stop && Date.now() < deadline; i++) {
      try {
        await consumer.call('getMovieById', { id: i }, { timeoutMs: 5000 })
        stats.ok++
      } catch (e) {
        stats.failed++
        if (stats.errors.length < 5) stats.errors.push(`${e.code}: ${e.message}`)
      }
    }
  }
  const loops = Array.from({ length: 8 }, loop)
  await new Promise((r) => setTimeout(r, 500))
  await pm2('reload', APP)
  await waitFor(async () => (await tokenNodes('tok-pm2', OWNER)).length === 2 && consumer.providers()[0]?.nodes.length === 2, {
    timeoutMs: 30000,
    what: 'two workers after the reload',
  })
  await new Promise((r) => setTimeout(r, 500))
  stop = true
  await Promise.all(loops)
  const tokensAfter = (await tokenNodes('tok-pm2', OWNER)).map((n) => n.data)
  assert.ok(
    tokensAfter.every((t) => !tokensBefore.includes(t)),
    'every token was replaced',
  )
  assert.deepEqual(stats.errors, [])
  assert.equal(stats.failed, 0)
  assert.ok(stats.ok > 100, `${stats.ok} calls during the reload`)
})
