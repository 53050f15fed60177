'use strict'
// layout: 'tree' — one znode per leaf key, followed with a persistent recursive watch: the same
// API and events as the one-znode layout, and writers of different keys never conflict.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const { zkGet, zkSet, zkCreate, zkDelete, zkLs } = require('../harness/zookeeper')
const { waitFor } = require('./harness/providers')
const { tempFile, sleep, configFile, exactly, save } = require('./harness/config')

const suite = configFile({ layout: 'tree' })
const { open } = suite

test('a tree written with zkCli.sh loads as a document; changes, new keys and deletions arrive once each', async () => {
  await zkCreate(suite.zk.connectString, '/tree1/example/test', '3', { parents: true })
  await zkCreate(suite.zk.connectString, '/tree1/db/host', '"db1"', { parents: true })
  await zkCreate(suite.zk.connectString, '/tree1/flag', 'plain text')
  const { conf, updates } = open({ name: 'tree1' })
  assert.deepEqual(conf.get(), { example: { test: 3 }, db: { host: 'db1' }, flag: 'plain text' })

  await zkSet(suite.zk.connectString, '/tree1/example/test', '4')
  await exactly(updates, 1, 'the modified key')
  assert.deepEqual(updates[0].changes, [{ key: 'example:test', old: 3, new: 4, type: 'modified' }])
  assert.equal(conf.get('example:test'), 4)

  await zkCreate(suite.zk.connectString, '/tree1/db/port', '5432')
  await exactly(updates, 2, 'the added key')
  assert.deepEqual(updates[1].changes, [{ key: 'db:port', new: 5432, type: 'added' }])

  await zkDelete(suite.zk.connectString, '/tree1/flag')
  await exactly(updates, 3, 'the removed key')
  assert.deepEqual(updates[2].changes, [{ key: 'flag', old: 'plain text', type: 'removed' }])
  assert.equal(conf.get('flag'), undefined)

  await zkSet(suite.zk.connectString, '/tree1/db/port', '5432')
  await sleep(700)
  assert.equal(updates.length, 3, 'a write that changes nothing fires nothing')
})

test('saves write one znode per key, with a transaction; the root is created when missing', async () => {
  const { conf, changes } = open({ name: 'apps/tree2', autoSave: -1 })
  assert.deepEqual(await zkLs(suite.zk.connectString, '/apps/tree2'), [])
  conf.set('example:test', 3)
  conf.set('a/b:c', 'slash')
  conf.set('list', [1, 2])
  await save(conf)
  assert.equal(await zkGet(suite.zk.connectString, '/apps/tree2/example/test'), '3')
  assert.equal(await zkGet(suite.zk.connectString, '/apps/tree2/a%2Fb/c'), '"slash"')
  assert.equal(await zkGet(suite.zk.connectString, '/apps/tree2/list'), '[1,2]')
  await waitFor(() => changes.length === 1, { what: 'the local change' })
  assert.equal(changes[0].origin, 'local')
  conf.clear('list')
  conf.set('example:test', { now: 'object' })
  await save(conf)
  assert.equal(await zkGet(suite.zk.connectString, '/apps/tree2/list'), null)
  assert.equal(await zkGet(suite.zk.connectString, '/apps/tree2/example/test/now'), '"object"')
  await sleep(500)
  assert.equal(changes.length, 2)
})

test('two writers of different keys, 50 saves each at once: every key is there, no conflict error', async () => {
  await zkCreate(suite.zk.connectString, '/tree3', '')
  const one = open({ name: 'tree3', autoSave: -1 })
  const two = open({ name: 'tree3', autoSave: -1 })
  const run = async (conf, prefix) => {
    for (let i = 0; i < 50; i++) {
      conf.set(`${prefix}:k${i}`, i)
      await save(conf)
    }
  }
  await Promise.all([run(one.conf, 'a'), run(two.conf, 'b')])
  assert.equal((await zkLs(suite.zk.connectString, '/tree3/a')).length, 50)
  assert.equal((await zkLs(suite.zk.connectString, '/tree3/b')).length, 50)
  await waitFor(() => Object.keys(one.conf.get('b') || {}).length === 50 && Object.keys(two.conf.get('a') || {}).length === 50, {
    what: 'each to see the other',
  })
})

test('outages: snapshot at start while ZooKeeper is down, then a restart while running, one callback per change', async () => {
  const cacheFile = tempFile()
  await zkCreate(suite.zk.connectString, '/tree4/v', '1', { parents: true })
  const first = open({ name: 'tree4', cacheFile })
  await waitFor(() => fs.existsSync(cacheFile), { what: 'the snapshot' })
  await first.store.close()
  await suite.zk.stop()
  const { conf, store, updates } = open({ name: 'tree4', cacheFile, connectTimeoutMs: 800, sessionTimeoutMs: 20000 })
  assert.equal(conf.get('v'), 1)
  assert.equal(store.source, 'snapshot')
  await suite.zk.start()
  await waitFor(() => store.source === 'zookeeper', { timeoutMs: 15000, what: 'ZooKeeper again' })
  await zkSet(suite.zk.connectString, '/tree4/v', '2')
  await exactly(updates, 1, 'the change after the start')
  await suite.zk.stop()
  await sleep(1000)
  await suite.zk.start()
  await zkSet(suite.zk.connectString, '/tree4/v', '3')
  await exactly(updates, 2, 'the change after the restart')
  await zkSet(suite.zk.connectString, '/tree4/v', '4')
  await exactly(updates, 3, 'the next change')
  assert.equal(conf.get('v'), 4)
})

test('session expiry, and the whole tree deleted and re-created: data kept, one callback per change', async () => {
  await zkCreate(suite.zk.connectString, '/tree5/k', '"v1"', { parents: true })
  const { conf, updates, warnings } = open({ name: 'tree5', sessionTimeoutMs: 1000, connectTimeoutMs: 1000 })
  await suite.zk.stop()
  await sleep(2500)
  await suite.zk.start()
  await zkSet(suite.zk.connectString, '/tree5/k', '"v2"')
  await waitFor(() => warnings.some((w) => w.code === 'ERR_ZK_SESSION_EXPIRED'), { timeoutMs: 15000, what: 'the expiry' })
  await exactly(updates, 1, 'the change across the expiry')
  assert.equal(conf.get('k'), 'v2')

  await zkDelete(suite.zk.connectString, '/tree5', { recursive: true })
  await waitFor(() => warnings.some((w) => w.code === 'ERR_CONFIG_NODE_DELETED'), { what: 'the deletion warning' })
  assert.equal(conf.get('k'), 'v2', 'the last data stays in use')
  await zkCreate(suite.zk.connectString, '/tree5/k', '"v3"', { parents: true })
  await waitFor(() => conf.get('k') === 'v3', { timeoutMs: 15000, what: 'the re-created tree' })
  await sleep(700)
  // Re-creating takes two writes (the root, then the key), and the tree in between is empty:
  // each step seen is reported once, in order (both steps, or — if the store read the tree only
  // after the second write — one change).
  const steps = updates.slice(1).map((u) => u.changes.map((c) => `${c.type}:${c.key}`).join())
  assert.ok(JSON.stringify(steps) === '["removed:k","added:k"]' || JSON.stringify(steps) === '["modified:k"]', JSON.stringify(steps))
})
