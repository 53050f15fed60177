'use strict'
// ZooKeeper outages: down at start (snapshot, or nothing), down while running, and down long
// enough for the session to expire. nconf-zookeeper never finished loading in the first case
// and went silently dead for good in the last.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { zkSet, zkCreate } = require('../harness/zookeeper')
const { waitFor } = require('./harness/providers')
const { tempFile, sleep, configFile, exactly } = require('./harness/config')

const suite = configFile()
const { open } = suite

test('ZooKeeper down at start: the snapshot is served within connectTimeoutMs; later changes arrive', async () => {
  const cacheFile = tempFile()
  await zkCreate(suite.zk.connectString, '/outage-start', '{"db":{"pool":10},"feature":true}')
  const first = open({ name: 'outage-start', cacheFile })
  assert.equal(first.conf.get('db:pool'), 10)
  await first.store.close()

  await suite.zk.stop()
  const started = Date.now()
  const { conf, store, updates, warnings } = open({ name: 'outage-start', cacheFile, connectTimeoutMs: 1000 })
  const took = Date.now() - started
  assert.equal(conf.get('db:pool'), 10, 'the snapshot value, right after use()')
  assert.equal(conf.get('feature'), true)
  assert.equal(store.source, 'snapshot')
  assert.ok(took < 1000 + 2000, `use() took ${took} ms with connectTimeoutMs 1000`)
  await waitFor(() => warnings.some((w) => w.code === 'ERR_CONFIG_STALE' && w.message.includes(cacheFile)), {
    what: 'the stale-data warning',
  })

  await suite.zk.start()
  await waitFor(() => store.source === 'zookeeper', { timeoutMs: 15000, what: 'the store to reach ZooKeeper' })
  assert.equal(updates.length, 0, 'ZooKeeper holds what the snapshot held: no change to report')
  await zkSet(suite.zk.connectString, '/outage-start', '{"db":{"pool":20},"feature":true}')
  await exactly(updates, 1, 'the change made after ZooKeeper came back')
  assert.equal(conf.get('db:pool'), 20)
})

test('ZooKeeper down at start with no snapshot: starts empty, says so, loads when it comes up', async () => {
  await zkCreate(suite.zk.connectString, '/outage-empty', '{"x":1}')
  await suite.zk.stop()
  const started = Date.now()
  const { conf, store, updates, warnings } = open({ name: 'outage-empty', connectTimeoutMs: 800 })
  assert.ok(Date.now() - started < 800 + 2000)
  assert.deepEqual(conf.get(), {})
  assert.equal(store.source, 'empty')
  await waitFor(() => warnings.some((w) => w.code === 'ERR_CONFIG_STALE' && /empty/.test(w.message)), { what: 'the warning' })
  await suite.zk.start()
  await exactly(updates, 1, 'the data once ZooKeeper answers')
  assert.deepEqual(updates[0].changes, [{ key: 'x', new: 1, type: 'added' }])
  assert.equal(conf.get('x'), 1)
  assert.equal(store.source, 'zookeeper')
})

test('ZooKeeper stopped and restarted while running: data kept, then exactly one callback per change', async () => {
  await zkCreate(suite.zk.connectString, '/outage-run', '{"v":1}')
  const { conf, store, updates, warnings } = open({ name: 'outage-run', sessionTimeoutMs: 20000 })
  await suite.zk.stop()
  await waitFor(() => warnings.some((w) => w.code === 'ERR_ZK_DISCONNECTED'), { what: 'the disconnection' })
  assert.equal(conf.get('v'), 1)
  await sleep(1000)
  await suite.zk.start()
  await zkSet(suite.zk.connectString, '/outage-run', '{"v":2}')
  await exactly(updates, 1, 'the first change after the reconnect')
  await zkSet(suite.zk.connectString, '/outage-run', '{"v":3}')
  await exactly(updates, 2, 'the second change')
  assert.deepEqual(
    updates.map((u) => u.changes[0].new),
    [2, 3],
  )
  assert.equal(conf.get('v'), 3)
  assert.ok(!warnings.some((w) => w.code === 'ERR_ZK_SESSION_EXPIRED'), 'the session survived')
  assert.equal(store.source, 'zookeeper')
})

test('session expiry: a new session, a re-read, one diff; the watch works afterwards', async () => {
  await zkCreate(suite.zk.connectString, '/outage-expiry', '{"v":"a"}')
  const { conf, updates, warnings } = open({ name: 'outage-expiry', sessionTimeoutMs: 1000, connectTimeoutMs: 1000 })
  await suite.zk.stop()
  await sleep(2500)
  assert.equal(conf.get('v'), 'a')
  await suite.zk.start()
  // Changed as soon as the server is back: the new session's re-read or its watch sees it,
  // and either way it is reported once.
  await zkSet(suite.zk.connectString, '/outage-expiry', '{"v":"b"}')
  await waitFor(() => warnings.some((w) => w.code === 'ERR_ZK_SESSION_EXPIRED'), { timeoutMs: 15000, what: 'the expiry' })
  await exactly(updates, 1, 'the change across the expiry')
  assert.equal(conf.get('v'), 'b')
  await zkSet(suite.zk.connectString, '/outage-expiry', '{"v":"c"}')
  await exactly(updates, 2, 'a change in the new session')
  assert.equal(conf.get('v'), 'c')
})

test('a warning listener attached long after use() still hears why the store started on nothing', async () => {
  const { freePort } = require('../harness/zookeeper')
  const { provider } = require('./harness/config')
  const conf = provider()
  conf.use('zookeeper', { host: `127.0.0.1:${await freePort()}`, name: 'late', connectTimeoutMs: 300 })
  const store = conf.stores.zookeeper
  suite.cleanups.push(() => store.close())
  await sleep(500)
  const heard = []
  store.on('warning', (w) => heard.push(w.code))
  assert.ok(heard.includes('ERR_CONFIG_STALE'), JSON.stringify(heard))
})

test('autoSave while ZooKeeper is down: the change stays in use and is written once ZooKeeper is back', async () => {
  const { zkGet } = require('../harness/zookeeper')
  await zkCreate(suite.zk.connectString, '/outage-save', '{"v":1}')
  const { conf, warnings } = open({ name: 'outage-save', autoSave: 0, connectTimeoutMs: 500, sessionTimeoutMs: 20000 })
  await suite.zk.stop()
  conf.set('v', 2)
  await waitFor(() => warnings.some((w) => /autoSave failed/.test(w.message)), { timeoutMs: 10000, what: 'the failed autoSave' })
  assert.equal(conf.get('v'), 2)
  await suite.zk.start()
  await waitFor(async () => (await zkGet(suite.zk.connectString, '/outage-save')) === '{"v":2}', {
    timeoutMs: 20000,
    what: 'the retried save',
  })
})
