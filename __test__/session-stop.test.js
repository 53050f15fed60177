'use strict'
// A process that stops (SIGSTOP: a debugger, a swapped-out VM, a stalled container) for longer
// than its session timeout wakes to a session the server has already expired. Every ephemeral
// node it owns — provider, token, consumer and config instance nodes — must come back on the new
// session, and stay, even when the process kept no reference to the Cluster that made them (its
// garbage collection used to end the session: the nodes went and never came back). Checked from
// outside with another ZooKeeper client library; the process is a real child, stopped for real.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { zooKeeperForFile, otherZooKeeperClient } = require('./harness/file')
const { steered } = require('./harness/ops')
const { sleep, waitFor } = require('../harness/wait')

const suite = zooKeeperForFile()
const { cleanups } = suite

async function stopAndResume(kinds, app) {
  const group = 'svc'
  const cs = suite.zk.connectString
  const folder = `/lemonhjuice/${app}/${group}`
  const child = await steered('session-stop-child.js', [cs, app, group, 'stop:stop-password', kinds], { limitMs: 85000 })
  cleanups.push(() => child.kill())
  const outside = await otherZooKeeperClient(cs)
  cleanups.push(() => outside.client.close())
  const ls = (path) => outside.call('getChildren', path).catch((e) => (e.name === 'NO_NODE' ? [] : Promise.reject(e)))
  const kindsOf = kinds === 'all' ? ['providers', 'tokens', 'consumers', 'instances'] : ['providers', 'tokens']
  const nodes = async () => {
    const n = {}
    for (const k of kindsOf) n[k] = await ls(k === 'instances' ? `/.lemon/instances/config/${app}` : `${folder}/${k}`)
    return n
  }
  const one = (n) => kindsOf.every((k) => n[k].length === 1)
  const expect = async (what, timeoutMs) => {
    let last
    try {
      await waitFor(async () => one((last = await nodes())), { timeoutMs, what })
    } catch (e) {
      assert.fail(`${e.message}: now ${JSON.stringify(last)}; stderr:\n${child.stderr}`)
    }
    return last
  }
  const before = await expect('one node of each kind', 15000)

  // Nothing references the Cluster any more: collecting it must not end the registration.
  await child.request({ gc: true })
  await sleep(1000)
  const collected = await nodes()
  assert.ok(one(collected), `after garbage collection: ${JSON.stringify(collected)}\n${child.stderr}`)

  // Stopped past the session timeout: the server expires the session and deletes its nodes.
  process.kill(child.hello.pid, 'SIGSTOP')
  let stopped = true
  cleanups.push(() => stopped && process.kill(child.hello.pid, 'SIGCONT'))
  await waitFor(async () => Object.values(await nodes()).every((l) => l.length === 0), {
    timeoutMs: 20000,
    what: 'the server to expire the stopped session',
  })
  await sleep(2000)
  process.kill(child.hello.pid, 'SIGCONT')
  stopped = false

  // Each comes back once, under a new name, within a few session timeouts, and stays.
  const back = await expect('every node back', 20000)
  assert.notEqual(back.providers[0], before.providers[0])
  assert.notEqual(back.tokens[0], before.tokens[0])
  await waitFor(() => /ERR_ZK_SESSION_EXPIRED/.test(child.stderr), { timeoutMs: 5000, what: 'the expiry warning' })
  // The server deleted the nodes with the session: no other client did, and nothing failed.
  assert.doesNotMatch(child.stderr, /deleted by another ZooKeeper client|could not be re-created/)
  await child.request({ gc: true })
  await sleep(3000)
  const later = await nodes()
  assert.ok(one(later), `a moment later: ${JSON.stringify(later)}\n${child.stderr}`)
}

test('a provider (and its token) whose session expired while stopped registers again', { timeout: 90000 }, () =>
  stopAndResume('provider', 'stopped'),
)

test('every kind of ephemeral node comes back after a stop past the session timeout', { timeout: 90000 }, () =>
  stopAndResume('all', 'stopped-all'),
)

test('a node whose re-creation was refused is retried on the live session, not left for a reconnect', { timeout: 60000 }, async () => {
  const ZooKeeper = require('node-zookeeper-client')
  const { Cluster } = require('..')
  const { startProvider } = require('./harness/providers')
  const cs = suite.zk.connectString
  const folder = '/lemonhjuice/refused/svc/providers'
  const server = await startProvider()
  cleanups.push(() => server.close())
  const cluster = new Cluster({ zk: cs, host: '127.0.0.1', cacheDir: false, logger: quietLogger() })
  cleanups.push(() => cluster.close())
  const warnings = []
  cluster.on('warning', (w) => warnings.push(w))
  const registration = await cluster.provide({ app: 'refused', group: 'svc', port: server.port })
  const outside = await otherZooKeeperClient(cs)
  cleanups.push(() => outside.client.close())
  const anyone = new ZooKeeper.Id('world', 'anyone')
  const acl = (perms) => [new ZooKeeper.ACL(perms, anyone)]
  const [first] = await outside.call('getChildren', folder)

  // The folder refuses new nodes; the node is deleted: re-creating it fails on a healthy session.
  await outside.call('setACL', folder, acl(ZooKeeper.Permission.READ | ZooKeeper.Permission.DELETE | ZooKeeper.Permission.ADMIN), -1)
  await outside.call('remove', `${folder}/${first}`, -1)
  await waitFor(() => warnings.some((w) => /could not be re-created/.test(w.message)), { timeoutMs: 10000, what: 'the refusal' })
  assert.equal(await registration.path(), null)
  const sessions = cluster.stats().sessions
  const reconnects = cluster.stats().reconnects

  // The operator opens it again: the node comes back by itself, on the same session.
  await outside.call('setACL', folder, acl(ZooKeeper.Permission.ALL), -1)
  const path = await waitFor(() => registration.path(), { timeoutMs: 10000, what: 'the node re-created' })
  assert.deepEqual(await outside.call('getChildren', folder), [path.split('/').pop()])
  assert.deepEqual([cluster.stats().sessions, cluster.stats().reconnects], [sessions, reconnects])
})

/** A logger that keeps the expected refusal out of the test's output. */
function quietLogger() {
  const none = () => {}
  return { debug: none, info: none, warn: none, error: none }
}

test(
  "a config store's instance node that could not be written is written once it may be, without a change",
  { timeout: 60000 },
  async () => {
    const ZooKeeper = require('node-zookeeper-client')
    const { openStore } = require('./harness/config')
    const cs = suite.zk.connectString
    const dir = '/.lemon/instances/config/refused-instance'
    const outside = await otherZooKeeperClient(cs)
    cleanups.push(() => outside.client.close())
    const anyone = new ZooKeeper.Id('world', 'anyone')
    const acl = (perms) => [new ZooKeeper.ACL(perms, anyone)]
    // The instances folder exists and refuses new nodes.
    await outside.call('mkdirp', '/.lemon/instances/config', acl(ZooKeeper.Permission.ALL), ZooKeeper.CreateMode.PERSISTENT)
    await outside.call('create', dir, acl(ZooKeeper.Permission.READ | ZooKeeper.Permission.ADMIN), ZooKeeper.CreateMode.PERSISTENT)
    const { store } = openStore({ host: cs, name: 'refused-instance', autoSave: -1 })
    cleanups.push(() => store.close())
    await sleep(1500)
    assert.deepEqual(await outside.call('getChildren', dir), [])
    // Opened again: the node appears though the document did not change and the session lives.
    await outside.call('setACL', dir, acl(ZooKeeper.Permission.ALL), -1)
    await waitFor(async () => (await outside.call('getChildren', dir)).length === 1, { timeoutMs: 10000, what: 'the instance node' })
  },
)
