'use strict'
// What the configuration store got wrong when tried as a new user would (issue 10): an empty
// znode that wiped the running configuration, an oversized value that made autoSave drop the
// connection forever, a missing chroot reported three wrong ways, a corrupted snapshot called
// "no snapshot file yet", silence when the store is back on live data, throwing listeners that
// killed the host, and values and options accepted that should have been refused.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const { zkGet, zkSet, zkCreate, zkDelete, freePort } = require('./harness/zookeeper')
const { waitFor } = require('./harness/providers')
const { runFixture } = require('./harness/file')
const { provider, tempFile, sleep, configFile, save, exactly } = require('./harness/config')

const suite = configFile()
const { open } = suite

for (const [what, data] of [
  ['whitespace', '  '],
  ['zero bytes', ''],
]) {
  test(`an empty znode (${what}) keeps the last good data, warns ERR_CONFIG_INVALID and leaves the snapshot alone`, async () => {
    const name = `empty-${what.replace(/ /g, '-')}`
    const cacheFile = tempFile()
    await zkCreate(suite.zk.connectString, `/${name}`, '{"db":{"pool":10},"on":true}')
    const { conf, updates, warnings } = open({ name, cacheFile })
    assert.equal(conf.get('db:pool'), 10)
    await waitFor(() => fs.existsSync(cacheFile), { what: 'the first snapshot' })

    await zkSet(suite.zk.connectString, `/${name}`, data)
    await waitFor(() => warnings.some((w) => w.code === 'ERR_CONFIG_INVALID'), { what: 'the invalid-data warning' })
    await sleep(500)
    assert.equal(updates.length, 0, `no removals reported: ${JSON.stringify(updates)}`)
    assert.equal(conf.get('db:pool'), 10, 'the last good data stays in use')
    assert.equal(conf.get('on'), true)
    assert.deepEqual(JSON.parse(fs.readFileSync(cacheFile, 'utf8')), { db: { pool: 10 }, on: true }, 'the snapshot keeps it too')
    const w = warnings.find((x) => x.code === 'ERR_CONFIG_INVALID')
    assert.match(w.message, /empty/)
    assert.match(w.message, /'\{\}'/, 'says how to empty it on purpose')

    await zkSet(suite.zk.connectString, `/${name}`, '{"db":{"pool":11},"on":true}')
    await exactly(updates, 1, 'the next valid version, diffed against the last good data')
    assert.deepEqual(updates[0].changes, [{ key: 'db:pool', old: 10, new: 11, type: 'modified' }])
  })
}

test("tree layout: a root left without keys keeps the last good data; '{}' in the root empties it on purpose", async () => {
  const cacheFile = tempFile()
  await zkCreate(suite.zk.connectString, '/tree-empty/k', '"v"', { parents: true })
  const { conf, updates, warnings } = open({ name: 'tree-empty', layout: 'tree', cacheFile })
  assert.equal(conf.get('k'), 'v')
  await waitFor(() => fs.existsSync(cacheFile), { what: 'the first snapshot' })

  await zkDelete(suite.zk.connectString, '/tree-empty/k')
  await waitFor(() => warnings.some((w) => w.code === 'ERR_CONFIG_INVALID'), { what: 'the invalid-data warning' })
  await sleep(500)
  assert.equal(updates.length, 0, JSON.stringify(updates))
  assert.equal(conf.get('k'), 'v')
  assert.deepEqual(JSON.parse(fs.readFileSync(cacheFile, 'utf8')), { k: 'v' })

  await zkSet(suite.zk.connectString, '/tree-empty', '{}')
  await exactly(updates, 1, 'the deliberate removal')
  assert.deepEqual(updates[0].changes, [{ key: 'k', old: 'v', type: 'removed' }])
  assert.equal(conf.get('k'), undefined)
})

test('tree layout: a store that saves an empty document writes {} into the root and reads it back as empty', async () => {
  const { conf, store, updates, warnings } = open({ name: 'tree-reset', layout: 'tree' })
  conf.set('a', 1)
  await save(conf)
  conf.reset()
  await save(conf)
  assert.equal(await zkGet(suite.zk.connectString, '/tree-reset'), '{}')
  await sleep(500)
  assert.deepEqual(store.store, {})
  assert.ok(!warnings.some((w) => w.code === 'ERR_CONFIG_INVALID'), JSON.stringify(warnings))
  assert.equal(updates.at(-1).changes[0].type, 'removed')
})

test('an oversized value is refused before anything is sent: the key and sizes named, the key pending, the connection untouched', async () => {
  const { conf, store, warnings } = open({ name: 'oversized', autoSave: 0 })
  conf.set('small', 1)
  await waitFor(async () => (await zkGet(suite.zk.connectString, '/oversized')) === '{"small":1}', {
    timeoutMs: 15000,
    what: 'the small save',
  })
  conf.set('blob', 'x'.repeat(2 * 1024 * 1024))
  await waitFor(() => warnings.some((w) => w.code === 'ERR_CONFIG_TOO_LARGE'), { what: 'the refusal' })
  const w = warnings.find((x) => x.code === 'ERR_CONFIG_TOO_LARGE')
  assert.match(w.message, /`blob`/)
  assert.match(w.message, /2097\d{3} bytes/)
  assert.match(w.message, /1048575/)
  assert.match(w.message, /juteMaxBuffer/)
  await assert.rejects(save(conf), (e) => e.code === 'ERR_CONFIG_TOO_LARGE' && e.key === 'blob' && e.limit === 1048575)
  await sleep(2500)
  const codes = warnings.map((x) => x.code)
  assert.ok(!codes.includes('ERR_ZK_DISCONNECTED'), `the connection was dropped: ${codes}`)
  assert.equal(codes.filter((c) => c === 'ERR_CONFIG_TOO_LARGE').length, 1, `refused once, not retried every second: ${codes}`)
  assert.equal(await zkGet(suite.zk.connectString, '/oversized'), '{"small":1}')
  assert.equal(conf.get('blob').length, 2 * 1024 * 1024, 'the value stays in use, pending')
  conf.clear('blob')
  conf.set('other', 2)
  await waitFor(async () => (await zkGet(suite.zk.connectString, '/oversized')) === '{"other":2,"small":1}', {
    timeoutMs: 15000,
    what: 'the next save',
  })
  assert.equal(store.source, 'zookeeper')
})

test('juteMaxBuffer lowers (or raises) the limit; the tree layout checks the whole transaction', async () => {
  const doc = open({ name: 'limit-doc', juteMaxBuffer: 4096 })
  doc.conf.set('v', 'y'.repeat(5000))
  await assert.rejects(save(doc.conf), (e) => e.code === 'ERR_CONFIG_TOO_LARGE' && e.key === 'v' && e.limit === 4096)
  const tree = open({ name: 'limit-tree', layout: 'tree', juteMaxBuffer: 4096 })
  for (let i = 0; i < 5; i++) tree.conf.set(`k${i}`, 'z'.repeat(1000))
  await assert.rejects(save(tree.conf), (e) => e.code === 'ERR_CONFIG_TOO_LARGE' && /^k\d$/.test(e.key))
  tree.conf.clear('k4')
  tree.conf.clear('k3')
  await save(tree.conf)
  assert.equal(await zkGet(suite.zk.connectString, '/limit-tree/k0'), JSON.stringify('z'.repeat(1000)))
  for (const bad of [0, -1, 'big', 1.5, 2 ** 40]) {
    assert.throws(
      () => provider().use('zookeeper', { host: suite.zk.connectString, name: 'x', juteMaxBuffer: bad }),
      (e) => e.code === 'ERR_INVALID_ARG' && e.field === 'juteMaxBuffer',
      String(bad),
    )
  }
})

test('a corrupted snapshot is reported as corrupted, not as "no snapshot file yet"', async () => {
  const cacheFile = tempFile()
  fs.writeFileSync(cacheFile, '{"half":')
  const dead = `127.0.0.1:${await freePort()}`
  const { conf, store, warnings } = open({ host: dead, name: 'corrupt', cacheFile, connectTimeoutMs: 300 })
  assert.deepEqual(conf.get(), {})
  assert.equal(store.source, 'empty')
  await waitFor(() => warnings.some((w) => w.code === 'ERR_CONFIG_STALE'), { what: 'the stale warning' })
  const messages = warnings.map((w) => `${w.code}: ${w.message}`).join('\n')
  assert.doesNotMatch(messages, /no snapshot file yet/)
  assert.match(messages, /corrupt/)
  assert.ok(messages.includes(cacheFile), messages)
})

test('a chroot that does not exist: one clear error naming it and how to create it, from use() on', async () => {
  const started = Date.now()
  const { conf, store, warnings } = open({ rootPath: '/no-such-chroot/apps', name: 'app', connectTimeoutMs: 8000 })
  const took = Date.now() - started
  assert.ok(took < 4000, `use() waited ${took} ms for an answer it already had`)
  assert.equal(store.source, 'empty')
  await waitFor(() => warnings.some((w) => w.code === 'ERR_ZK_CHROOT'), { what: 'the chroot warning' })
  const w = warnings.find((x) => x.code === 'ERR_ZK_CHROOT')
  assert.match(w.message, /\/no-such-chroot\/apps/)
  assert.match(w.message, /create \/no-such-chroot/)
  const messages = warnings.map((x) => x.message).join('\n')
  assert.doesNotMatch(messages, /did not answer within connectTimeoutMs/)
  conf.set('a', 1)
  await assert.rejects(save(conf), (e) => e.code === 'ERR_ZK_CHROOT' && /no-such-chroot/.test(e.message))
  // Once an operator creates it, the store gets there by itself.
  await zkCreate(suite.zk.connectString, '/no-such-chroot/apps', undefined, { parents: true })
  await waitFor(() => store.source === 'zookeeper', { timeoutMs: 15000, what: 'the store to find the chroot' })
  await save(conf)
  assert.equal(await zkGet(suite.zk.connectString, '/no-such-chroot/apps/app'), '{"a":1}')
})
