'use strict'
// The history of a configuration document (issue 12, §1): every save is a version recorded in
// the same transaction as the write — who, when, the message, the changed keys with old and new
// values (secrets sealed) —, a zkCli write is recorded as an external version at the next save,
// the history is bounded, both layouts, and two processes saving at once each get versions of
// their own with nothing lost.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { spawn, fork } = require('node:child_process')
const { zkGet, zkLs, zkSet, zkCreate } = require('../harness/zookeeper')
const { waitFor } = require('./harness/providers')
const { register, configFile } = require('./harness/config')
const { cli } = require('./harness/ops')

const suite = configFile({ autoSave: -1 })
const { open } = suite

/**
 * The entries of the document at `doc`, oldest first, each parsed: read in one go by a
 * read-only tree-layout store on the history folder (a zkCli JVM per entry would take minutes).
 */
async function entries(doc) {
  const slash = doc.lastIndexOf('/')
  const dir = `${doc.slice(0, slash)}/.lemon/history/config/${doc.slice(slash + 1)}`
  const { conf, store } = open({ name: dir, layout: 'tree', readOnly: true })
  const all = conf.get() || {}
  await store.close()
  return Object.keys(all)
    .sort()
    .map((name) => ({ name, ...all[name] }))
}

function byKey(entry) {
  return Object.fromEntries(entry.changes.map((c) => [c.key, c]))
}

test('a save is a version with its message, identity and changed keys; secrets stay sealed', async () => {
  const cs = suite.zk.connectString
  const key = register.generateKey()
  await zkCreate(cs, '/hist', JSON.stringify({ a: 1, db: { password: register.encrypt('hunter2', key) } }))
  const { conf, store } = open({ name: 'hist', secretKey: key, historyLimit: 4 })
  assert.equal(conf.get('db:password'), 'hunter2')
  conf.set('a', 2)
  conf.set('db:password', 'correct-horse')
  await store.save('raise a, new password')

  let list = await entries('/hist')
  assert.deepEqual(
    list.map((e) => [e.name, e.action, e.external]),
    [
      ['v0000000001', 'external', true],
      ['v0000000002', 'save', false],
    ],
    'the document found without history is recorded first, then the save',
  )
  const v2 = list[1]
  assert.equal(v2.message, 'raise a, new password')
  assert.equal(v2.pid, process.pid)
  assert.equal(v2.who, `pid ${process.pid}@${v2.host}`)
  assert.ok(Math.abs(v2.at - Date.now()) < 60000, `at ${v2.at}`)
  const changes = byKey(v2)
  assert.deepEqual(Object.keys(changes).sort(), ['a', 'db:password'])
  assert.deepEqual([changes.a.old, changes.a.new], [1, 2])
  assert.match(changes['db:password'].old, /^ENC\(/)
  assert.match(changes['db:password'].new, /^ENC\(/)
  const raw = JSON.stringify(list)
  for (const plain of ['hunter2', 'correct-horse']) assert.ok(!raw.includes(plain), `${plain} in the history`)

  // A write from outside, seen by the store, then a save: recorded as external, then the save.
  const now = JSON.parse(await zkGet(cs, '/hist'))
  await zkSet(cs, '/hist', JSON.stringify({ ...now, a: 3 }))
  await waitFor(() => conf.get('a') === 3, { what: 'the store to see the zkCli write' })
  conf.set('b', true)
  await new Promise((resolve, reject) => conf.save((e) => (e ? reject(e) : resolve())))
  list = await entries('/hist')
  assert.deepEqual(
    list.slice(2).map((e) => [e.version, e.action, e.message]),
    [
      [3, 'external', list[2].message],
      [4, 'save', ''],
    ],
  )
  assert.match(list[2].message, /changed outside lemon-cluster/)
  assert.deepEqual(list[3].changes, [{ key: 'b', kind: 'added', old: null, new: true }])

  // Bounded: with historyLimit 4, two more saves leave versions 3 to 6.
  for (const v of [5, 6]) {
    conf.set('n', v)
    store.saveSync(`n=${v}`)
  }
  list = await entries('/hist')
  assert.deepEqual(
    list.map((e) => [e.version, e.message.slice(0, 3)]),
    [
      [3, 'cha'],
      [4, ''],
      [5, 'n=5'],
      [6, 'n=6'],
    ],
  )
})

test('lemon-cluster config <path> history lists every version with message and identity, secrets masked', async () => {
  const cs = suite.zk.connectString
  const key = register.generateKey()
  await zkCreate(cs, '/shop', '')
  await zkCreate(cs, '/shop/config', JSON.stringify({ pool: 1, token: register.encrypt('sw0rdfish', key) }))
  const { conf, store } = open({ rootPath: '/shop', name: 'config', secretKey: key })
  conf.set('pool', 2)
  conf.set('token', 'n3w-t0ken')
  await store.save('pool 2, new token')

  const json = await cli(['--zk', cs, '--json', 'config', '/shop/config', 'history'])
  assert.equal(json.code, 0, json.err)
  assert.deepEqual(
    json.json.map((e) => [e.version, e.action, e.message.slice(0, 17), e.who]),
    [
      [1, 'external', 'changed outside l', 'outside lemon-cluster'],
      [2, 'save', 'pool 2, new token', `pid ${process.pid}@${json.json[1].host}`],
    ],
    'the store inside the chroot /shop and the CLI outside it name the same history',
  )
  const text = await cli(['--zk', cs, 'config', '/shop/config', 'history'])
  assert.equal(text.code, 0, text.err)
  assert.match(text.out, /version 2 .* save: pool 2, new token/)
  assert.match(text.out, /~ pool: 1 -> 2/)
  assert.match(text.out, /~ token: ENC\(…\) -> ENC\(…\)/)
  assert.match(text.out, /changes unknown/)
  for (const out of [json.out, text.out, json.err, text.err]) {
    for (const plain of ['sw0rdfish', 'n3w-t0ken']) assert.ok(!out.includes(plain), `${plain} in the CLI output`)
  }
  // The core masks: the JSON answer too shows ENC(…), never the ciphertext.
  assert.equal(json.json[1].changes.find((c) => c.key === 'token').new, 'ENC(…)')
  const sealed = JSON.parse(await zkGet(cs, '/shop/config')).token
  assert.match(sealed, /^ENC\([A-Za-z0-9+/=]+\)$/)
  for (const out of [json.out, text.out]) assert.ok(!out.includes(sealed.slice(4, -1)), 'the ciphertext is masked in the history')

  const bad = await cli(['--zk', cs, 'config', 'shop/config', 'history'])
  assert.equal(bad.code, 2, bad.out + bad.err)
  assert.match(bad.err, /znode path/)
})

test('tree layout: the history lives beside the tree, never among its keys', async () => {
  const { conf, store } = open({ name: 'shop/tree', layout: 'tree' })
  conf.set('pool:size', 10)
  await store.save({ message: 'first' })
  conf.set('pool:size', 20)
  conf.set('flag', 'on')
  await store.save('second')
  const list = await entries('/shop/tree')
  // The store created the missing tree when it first found it missing: recorded as such.
  assert.deepEqual(
    list.map((e) => [e.version, e.external, e.action, e.message]),
    [
      [1, false, 'create', 'created by the store with the data in use'],
      [2, false, 'save', 'first'],
      [3, false, 'save', 'second'],
    ],
    'no version taken for one from outside',
  )
  assert.deepEqual(byKey(list[2])['pool:size'], { key: 'pool:size', kind: 'modified', old: 10, new: 20 })
  assert.deepEqual((await zkLs(suite.zk.connectString, '/shop/tree')).sort(), ['flag', 'pool'])
  const other = open({ name: 'shop/tree', layout: 'tree' })
  assert.deepEqual(other.conf.get(), { pool: { size: 20 }, flag: 'on' }, 'no .lemon key in the tree')
})

function writer(prefix, count) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [path.join(__dirname, 'fixtures', 'config-writer.js'), suite.zk.connectString, 'hcas', prefix, String(count), String(2 * count), ''],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let err = ''
    child.stderr.on('data', (d) => (err += d))
    const killer = setTimeout(() => child.kill('SIGKILL'), 120000)
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      clearTimeout(killer)
      resolve({ code, signal, err })
    })
  })
}

test('two processes saving at once: one version per save, contiguous, each key in exactly one', async () => {
  const cs = suite.zk.connectString
  await zkCreate(cs, '/hcas', '{}')
  const results = await Promise.all([writer('a', 20), writer('b', 20)])
  for (const r of results) assert.deepEqual([r.code, r.signal], [0, null], r.err)
  const list = await entries('/hcas')
  // Version 1: the '{}' created with zkCli; then the 40 saves.
  assert.equal(list.length, 41, list.map((e) => e.version).join(' '))
  assert.deepEqual(
    list.map((e) => e.version),
    Array.from({ length: 41 }, (_, i) => i + 1),
  )
  assert.equal(list[0].action, 'external')
  const seen = new Map()
  const pids = new Set()
  for (const e of list.slice(1)) {
    assert.equal(e.external, false, JSON.stringify(e))
    pids.add(e.pid)
    for (const c of e.changes) seen.set(c.key, (seen.get(c.key) || 0) + 1)
  }
  assert.equal(pids.size, 2, 'both processes recorded their saves')
  assert.equal(seen.size, 40, [...seen.keys()].join(' '))
  for (const [k, n] of seen) assert.equal(n, 1, `${k} in ${n} entries`)
  const doc = JSON.parse(await zkGet(cs, '/hcas'))
  assert.equal(Object.keys(doc.a).length + Object.keys(doc.b).length, 40)
})

function app(name) {
  const child = fork(path.join(__dirname, 'fixtures', 'config-instance-child.js'), [suite.zk.connectString, name], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  })
  const killer = setTimeout(() => child.kill('SIGKILL'), 120000)
  child.on('exit', () => clearTimeout(killer))
  suite.cleanups.push(() => child.kill('SIGKILL'))
  const ready = new Promise((resolve, reject) => {
    child.once('message', resolve)
    child.once('error', reject)
  })
  const exited = new Promise((resolve) => child.on('exit', resolve))
  return { child, ready, exited }
}

test('instances: both app processes with the version each applied; one is gone within seconds of closing', async () => {
  const cs = suite.zk.connectString
  await zkCreate(cs, '/inst', JSON.stringify({ a: 1 }))
  const { conf, store } = open({ name: 'inst' })
  conf.set('a', 2)
  await store.save('a=2')
  const [one, two] = [app('inst'), app('inst')]
  const [r1, r2] = await Promise.all([one.ready, two.ready])
  assert.deepEqual([r1.value, r2.value], [2, 2])
  const listed = async () => {
    const res = await cli(['--zk', cs, '--json', 'config', '/inst', 'instances'])
    assert.equal(res.code, 0, res.err)
    return res.json
  }
  let list = []
  await waitFor(
    async () => {
      list = (await listed()).filter((i) => i.pid === r1.pid || i.pid === r2.pid)
      return list.length === 2 && list.every((i) => i.version === 2)
    },
    { timeoutMs: 30000, what: `both app processes at version 2: ${JSON.stringify(list)}` },
  )
  for (const i of list) {
    assert.equal(i.instance, `${i.host}:${i.pid}`)
    assert.equal(i.source, 'zookeeper')
  }
  const text = await cli(['--zk', cs, 'config', '/inst', 'instances'])
  assert.match(text.out, new RegExp(`:${r1.pid}\\s+2\\s+zookeeper`))

  // A new version reaches both: each reports it.
  conf.set('a', 3)
  await store.save('a=3')
  await waitFor(
    async () => {
      list = (await listed()).filter((i) => i.pid === r1.pid || i.pid === r2.pid)
      return list.length === 2 && list.every((i) => i.version === 3)
    },
    { timeoutMs: 30000, what: `both at version 3: ${JSON.stringify(list)}` },
  )

  one.child.send('close')
  await one.exited
  const closedAt = Date.now()
  await waitFor(async () => !(await listed()).some((i) => i.pid === r1.pid), { timeoutMs: 15000, what: 'the closed one to go' })
  assert.ok(Date.now() - closedAt < 15000)
  assert.ok(
    (await listed()).some((i) => i.pid === r2.pid),
    'the other one stays',
  )
  two.child.send('close')
  await two.exited
})
