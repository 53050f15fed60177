'use strict'
// Issue 10, the provider side: oversized node data refused before it reaches ZooKeeper, a node
// deleted by hand re-created, a missing chroot named, the 413 reply delivered, the bound address
// registered, and a fallback that leaves a trace.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const http = require('node:http')
const express = require('express')
const Koa = require('koa')
const lemon = require('../lib')
const { Cluster } = lemon
const { zooKeeperForFile, otherZooKeeperClient } = require('./harness/file')
const { waitFor, deadPort, rejection } = require('./harness/providers')

const suite = zooKeeperForFile()

/** A cluster closed at the end of the file, recording its warnings. */
function cluster(options = {}) {
  const c = new Cluster({ zk: suite.zk.connectString, host: '127.0.0.1', cacheDir: false, ...options })
  c.warnings = []
  c.on('warning', (w) => c.warnings.push(w))
  suite.cleanups.push(() => c.close())
  return c
}

/** A session of another ZooKeeper client, as an operator's tool. */
const operator = () => otherZooKeeperClient(suite.zk.connectString)

async function listen(handler, host = '127.0.0.1') {
  const server = http.createServer(handler)
  await new Promise((resolve) => server.listen(0, host, resolve))
  suite.cleanups.push(() => {
    server.closeAllConnections()
    return new Promise((resolve) => server.close(() => resolve()))
  })
  return server
}

test('provider data over ZooKeeper limit is ERR_INVALID_ARG naming the field; the session is untouched', async () => {
  const c = cluster()
  await c.ready()
  const before = c.stats()
  const big = 'd'.repeat(2 * 1024 * 1024)
  const e = await rejection(c.provide({ app: 'size', group: 'g', port: 1000, description: big }))
  assert.equal(e.code, 'ERR_INVALID_ARG', e.message.slice(0, 300))
  assert.equal(e.field, 'provide.description')
  assert.match(e.message, /jute\.maxbuffer/)
  const reg = await c.provide({ app: 'size', group: 'g', port: 1001, description: 'small' })
  const e2 = await rejection(reg.update({ description: big }))
  assert.equal(e2.code, 'ERR_INVALID_ARG')
  assert.equal(e2.field, 'update.description')
  assert.equal((await reg.update({ description: 'still small' })).description, 'still small')
  await new Promise((r) => setTimeout(r, 300))
  const after = c.stats()
  assert.equal(after.sessions, before.sessions, 'no new session')
  assert.equal(after.reconnects, before.reconnects, 'no reconnect')
  assert.deepEqual(
    c.warnings.filter((w) => /^ERR_ZK/.test(w.code)),
    [],
  )
})

test('a provider node deleted by hand is re-created with a warning; path() and update() stay true', async () => {
  const c = cluster()
  const server = await listen((req, res) => {
    req.resume()
    req.on('end', () => res.end('{"ok":true}'))
  })
  const reg = await c.provide({ app: 'deleted', group: 'g', port: server.address().port })
  const consumer = c.consumer({ app: 'deleted', group: 'g' })
  await waitFor(() => consumer.providers().length === 1, { what: 'the provider' })
  const first = await reg.path()
  const { client, call } = await operator()
  try {
    await call('remove', first, -1)
    const warning = await waitFor(() => c.warnings.find((w) => w.code === 'ERR_ZK_NODE_DELETED'), {
      what: 'the ERR_ZK_NODE_DELETED warning',
    })
    assert.match(warning.message, /deleted by another ZooKeeper client/)
    assert.match(warning.message, /configurator/)
    const second = await reg.path()
    assert.notEqual(second, first)
    assert.equal(warning.path, second)
    assert.ok(await call('exists', second), 'path() names a node that exists')
    await waitFor(() => consumer.providers().length === 1, { what: 'the provider back in the list' })
    assert.deepEqual(await consumer.call('m', {}), { ok: true })
    // Deleted again, and updated at once: update() re-creates it with the new data if need be,
    // never an undocumented ERR_ZK.
    await call('remove', second, -1)
    const updated = await reg.update({ version: 'v2' })
    assert.equal(updated.version, 'v2')
    await waitFor(async () => (await reg.path()) !== second, { what: 'the second re-creation' })
    const third = await reg.path()
    const data = await call('getData', third)
    assert.equal(JSON.parse(data.toString()).version, 'v2')
    // A closed registration is not re-created.
    await reg.close()
    await waitFor(async () => !(await call('exists', third)), { what: 'the node gone' })
    await new Promise((r) => setTimeout(r, 300))
    assert.equal((await call('getChildren', '/lemonhjuice/deleted/g/providers')).length, 0)
  } finally {
    client.close()
  }
})

test('a chroot that does not exist: ready() and provide() reject with ERR_ZK_NO_CHROOT naming it', async () => {
  const chroot = '/defects-missing-chroot'
  const c = cluster({ zk: `${suite.zk.connectString}${chroot}` })
  const e = await rejection(c.ready())
  assert.equal(e.code, 'ERR_ZK_NO_CHROOT', e.message)
  assert.match(e.message, new RegExp(`chroot ${chroot} `))
  assert.match(e.message, /create/)
  const e2 = await rejection(c.provide({ app: 'chroot', group: 'g', port: 1000 }))
  assert.equal(e2.code, 'ERR_ZK_NO_CHROOT', e2.message)
  assert.ok(
    c.warnings.some((w) => w.code === 'ERR_ZK_NO_CHROOT'),
    JSON.stringify(c.warnings),
  )
  // Once it exists, everything works without a restart.
  const { client, call } = await operator()
  try {
    await call('create', chroot)
  } finally {
    client.close()
  }
  assert.deepEqual(await c.ready(), { connected: true })
  const reg = await c.provide({ app: 'chroot', group: 'g', port: 1000 })
  assert.match(await reg.path(), /^\/lemonhjuice\/chroot\/g\/providers\//)
})

/** A consumer of `svc` served by `server` (already registered). */
async function consumerOf(c, group) {
  const consumer = c.consumer({ app: 'big', group })
  await waitFor(() => consumer.providers().length === 1, { what: 'the provider' })
  return consumer
}

test('413 ERR_BODY_TOO_LARGE reaches the caller from Express, Koa and node:http', async () => {
  const c = cluster()
  const body = { blob: 'b'.repeat(2 * 1024 * 1024) }
  const methods = { echo: (args) => ({ size: JSON.stringify(args).length }) }
  const frameworks = {
    http: (svc) => svc.handler(),
    express: (svc) => express().use(svc.express()),
    koa: (svc) => new Koa().use(svc.koa()).callback(),
  }
  for (const [group, serve] of Object.entries(frameworks)) {
    const svc = lemon.service({ cluster: c, app: 'big', group, methods, maxBodyBytes: 64 * 1024 })
    const server = await listen(serve(svc))
    await svc.register(server)
    const consumer = await consumerOf(c, group)
    assert.deepEqual(await consumer.call('echo', { small: 1 }), { size: 11 }, group)
    for (let i = 0; i < 3; i++) {
      const e = await rejection(consumer.call('echo', body))
      assert.equal(e.code, 'ERR_PROVIDER_STATUS', `${group}: ${e.code} ${e.message}`)
      assert.equal(e.status, 413, group)
      assert.equal(e.remoteCode, 'ERR_BODY_TOO_LARGE', group)
    }
    // The connection was closed after the reply, the next call is served on a new one.
    assert.deepEqual(await consumer.call('echo', { small: 1 }), { size: 11 }, group)
  }
})

test('register(server) registers the address a server bound to one address accepts on', async () => {
  // No `host` anywhere: the cluster's default is the machine's first non-internal IPv4.
  const c = cluster({ host: undefined })
  const svc = lemon.service({ cluster: c, app: 'bound', group: 'g', methods: { hi: () => 'hi' } })
  const server = await listen(svc.handler(), '127.0.0.1')
  const reg = await svc.register(server)
  assert.match(await reg.path(), new RegExp(`/providers/127\\.0\\.0\\.1:${server.address().port}-`))
  const consumer = c.consumer({ app: 'bound', group: 'g' })
  await waitFor(() => consumer.providers().length === 1, { what: 'the provider' })
  assert.equal(await consumer.call('hi', {}), 'hi')
  assert.ok(!c.warnings.some((w) => w.code === 'ERR_PROVIDER_HOST'))
})

test('an explicit host that cannot reach the bound address is registered, with ERR_PROVIDER_HOST', async () => {
  const c = cluster()
  const svc = lemon.service({ cluster: c, app: 'bound', group: 'explicit', host: '192.0.2.77', methods: { hi: () => 'hi' } })
  const server = await listen(svc.handler(), '127.0.0.1')
  const reg = await svc.register(server)
  assert.match(await reg.path(), /\/providers\/192\.0\.2\.77:/)
  const w = c.warnings.find((x) => x.code === 'ERR_PROVIDER_HOST')
  assert.ok(w, JSON.stringify(c.warnings))
  assert.match(w.message, new RegExp(`listens on 127\\.0\\.0\\.1:${server.address().port} only`))
  // `localhost` reaches 127.0.0.1: no warning.
  const svc2 = lemon.service({ cluster: c, app: 'bound', group: 'localhost', host: 'localhost', methods: { hi: () => 'hi' } })
  await svc2.register(await listen(svc2.handler(), '127.0.0.1'))
  assert.equal(c.warnings.filter((x) => x.code === 'ERR_PROVIDER_HOST').length, 1)
})

test('a fallback that hides failures leaves a rate-limited warning', async () => {
  const c = cluster()
  const port = await deadPort()
  await c.provide({ app: 'fallback', group: 'g', port })
  const consumer = c.consumer({ app: 'fallback', group: 'g', fallback: { degraded: true }, retries: 0 })
  await waitFor(() => consumer.providers().length === 1, { what: 'the provider' })
  for (let i = 0; i < 20; i++) assert.deepEqual(await consumer.call('m', {}), { degraded: true })
  const traces = c.warnings.filter((w) => /answered by its fallback/.test(w.message))
  assert.ok(traces.length >= 1, JSON.stringify(c.warnings))
  assert.ok(traces.length <= 2, `rate-limited: ${traces.length}`)
  assert.equal(traces[0].code, 'ERR_CONNECT')
  assert.match(traces[0].message, /fallback\/g\.m/)
})

test('the cache file is named as docs/registry.md says', async () => {
  const documented = (connect, providers) => `${connect}${providers}`.replace(/[^A-Za-z0-9.-]/g, '_') + '.json'
  const doc = fs.readFileSync(path.join(__dirname, '..', 'docs', 'registry.md'), 'utf8')
  assert.ok(doc.includes(documented('10.0.0.1:2181', '/lemonhjuice/movie/query/providers')), 'the example follows the rule')
  assert.match(doc, /every character other than ASCII letters, digits, `-` and `\.`/)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lemon-defects-cache-'))
  suite.cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }))
  const c = cluster({ cacheDir: dir })
  await c.provide({ app: 'cached', group: 'g', port: 1000 })
  const consumer = c.consumer({ app: 'cached', group: 'g' })
  await waitFor(() => consumer.providers().length === 1, { what: 'the provider' })
  const name = documented(suite.zk.connectString, '/lemonhjuice/cached/g/providers')
  await waitFor(() => fs.readdirSync(dir).includes(name), { what: `${name} in ${dir}` })
})
