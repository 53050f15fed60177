'use strict'
// What the configuration store got wrong when tried as a new user would (issue 10): an empty
// znode that wiped the running configuration, an oversized value that made autoSave drop the
// connection forever, a missing chroot reported three wrong ways, a corrupted snapshot called
// "no snapshot file yet", silence when the store is back on live data, throwing listeners that
// killed the host, and values and options accepted that should have been refused.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const { zkGet, zkSet, zkCreate, zkDelete, freePort } = require('../harness/zookeeper')
const { waitFor } = require('../harness/wait')
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

test("back on live data after an outage: a 'source' event, from 'snapshot' to 'zookeeper'", async () => {
  const cacheFile = tempFile()
  await zkCreate(suite.zk.connectString, '/back-live', '{"v":1}')
  const first = open({ name: 'back-live', cacheFile })
  assert.equal(first.conf.get('v'), 1)
  await first.store.close()
  await suite.zk.stop()
  const { store, updates } = open({ name: 'back-live', cacheFile, connectTimeoutMs: 500 })
  const sources = []
  store.on('source', (s) => sources.push(s))
  assert.equal(store.source, 'snapshot')
  await suite.zk.start()
  await waitFor(() => sources.length > 0, { timeoutMs: 15000, what: "the 'source' event" })
  assert.equal(sources[0].from, 'snapshot')
  assert.equal(sources[0].to, 'zookeeper')
  assert.ok(sources[0].version > 0)
  assert.equal(store.source, 'zookeeper')
  assert.equal(updates.length, 0, 'nothing changed: no change event, only the source event')
  await sleep(500)
  assert.equal(sources.length, 1)
})

test('listeners that throw (onUpdated, change, warning) never kill the host: contained, said once on stderr', async () => {
  await zkCreate(suite.zk.connectString, '/throwing', '{"v":1}')
  const result = await runFixture('config-throwing-listener.js', [suite.zk.connectString, '/throwing'], 40000)
  assert.equal(result.signal, null, `killed: it hung\n${result.out}\n${result.err}`)
  assert.equal(result.code, 0, `the host died:\n${result.out}\n${result.err}`)
  assert.match(result.out, /survived v=3/)
  const lines = result.err.split('\n')
  // Every throw is reported (one per version: v=2, v=3); that the listener throws is said once.
  assert.equal(lines.filter((l) => /ERR_CONFIG_LISTENER: onUpdated threw.*boom-onUpdated/.test(l)).length, 2, result.err)
  assert.equal(lines.filter((l) => /'change' listener threw.*boom-change/.test(l)).length, 2, result.err)
  assert.equal(lines.filter((l) => /'warning' listener threw.*boom-warning/.test(l)).length, 1, result.err)
  assert.ok(
    lines.some((l) => /ERR_CONFIG_INVALID/.test(l)),
    `a warning the throwing listener missed goes to stderr:\n${result.err}`,
  )
})

test('a chroot that does not exist: one clear error naming it and how to create it, from use() on', async () => {
  const started = Date.now()
  const { conf, store, warnings } = open({ rootPath: '/no-such-chroot/apps', name: 'app', connectTimeoutMs: 8000 })
  const took = Date.now() - started
  assert.ok(took < 4000, `use() waited ${took} ms for an answer it already had`)
  assert.equal(store.source, 'empty')
  await waitFor(() => warnings.some((w) => w.code === 'ERR_ZK_NO_CHROOT'), { what: 'the chroot warning' })
  const w = warnings.find((x) => x.code === 'ERR_ZK_NO_CHROOT')
  assert.match(w.message, /\/no-such-chroot\/apps/)
  assert.match(w.message, /create \/no-such-chroot/)
  const messages = warnings.map((x) => x.message).join('\n')
  assert.doesNotMatch(messages, /did not answer within connectTimeoutMs/)
  conf.set('a', 1)
  await assert.rejects(save(conf), (e) => e.code === 'ERR_ZK_NO_CHROOT' && /no-such-chroot/.test(e.message))
  // Once an operator creates it, the store gets there by itself.
  await zkCreate(suite.zk.connectString, '/no-such-chroot/apps', undefined, { parents: true })
  await waitFor(() => store.source === 'zookeeper', { timeoutMs: 15000, what: 'the store to find the chroot' })
  await save(conf)
  assert.equal(await zkGet(suite.zk.connectString, '/no-such-chroot/apps/app'), '{"a":1}')
})

test('a BigInt or circular value is refused by save() with ERR_INVALID_ARG naming the key; nothing written', async () => {
  const { conf, store } = open({ name: 'unjson' })
  conf.set('ok', 1)
  conf.set('n', 10n)
  await assert.rejects(save(conf), (e) => e.code === 'ERR_INVALID_ARG' && e.field === 'n' && /BigInt/.test(e.message))
  assert.throws(
    () => store.saveSync(),
    (e) => e.code === 'ERR_INVALID_ARG' && e.field === 'n',
  )
  conf.clear('n')
  const loop = { a: 1 }
  loop.self = loop
  conf.set('deep:loop', loop)
  await assert.rejects(save(conf), (e) => e.code === 'ERR_INVALID_ARG' && e.field === 'deep:loop' && /circular/.test(e.message))
  assert.notEqual(await zkGet(suite.zk.connectString, '/unjson'), '{"ok":1}')
  conf.clear('deep:loop')
  await save(conf)
  assert.equal(await zkGet(suite.zk.connectString, '/unjson'), '{"ok":1}')
})

test('wrongly typed options are refused with ERR_INVALID_ARG naming the field', () => {
  for (const [bad, field] of [
    [{ autoSave: '0' }, 'autoSave'],
    [{ autoSave: '100' }, 'autoSave'],
    [{ autoSave: true }, 'autoSave'],
    [{ autoSave: Infinity }, 'autoSave'],
    [{ autoSave: NaN }, 'autoSave'],
    [{ autoUpdate: 'false' }, 'autoUpdate'],
    [{ parseValues: 1 }, 'parseValues'],
    [{ readOnly: 'yes' }, 'readOnly'],
  ]) {
    assert.throws(
      () => provider().use('zookeeper', { host: suite.zk.connectString, name: 'typed', ...bad }),
      (e) => e.code === 'ERR_INVALID_ARG' && e.field === field,
      JSON.stringify(bad) + String(bad.autoSave),
    )
  }
  // null and undefined mean "the default", as before.
  const { store } = open({ name: 'typed-ok', autoSave: null, autoUpdate: null })
  assert.equal(store.autoUpdate, null, 'kept as given, so use() with the same options keeps the store')
  assert.equal(store._autoUpdate, true)
})
