'use strict'
// The nconf store contract: Memory-store semantics operation by operation against nconf's own
// Memory store, `__proto__` safety, use()/add()/remove() and the chainable nconf.zookeeper(),
// load(cb)/save(cb) under nconf 0.13, option checks, readOnly and autoSave.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const { zkGet, zkCreate, zkSet } = require('../harness/zookeeper')
const { waitFor } = require('./harness/providers')
const { nconf, provider, tempFile, sleep, configFile } = require('./harness/config')

const suite = configFile()

let seq = 0
function open(options = {}) {
  return suite.open({ name: `contract-${++seq}`, ...options })
}

// Each step: [method, ...args]. Run against nconf's Memory store and ours; every return value
// and the whole document after every step must be the same.
const SCRIPTS = {
  'falsy values': [
    ['set', 'zero', 0],
    ['set', 'empty', ''],
    ['set', 'no', false],
    ['set', 'nothing', null],
    ['get', 'zero'],
    ['get', 'empty'],
    ['get', 'no'],
    ['get', 'nothing'],
    ['get', 'missing'],
  ],
  'walking past literals': [
    ['set', 'n', 5],
    ['set', 's', 'text'],
    ['get', 'n:x'],
    ['get', 's:length'],
    ['get', 's:0'],
    ['set', 'n:deeper', 1],
    ['get', 'n'],
    ['set', 'a:b:c', 1],
    ['set', 'a:b', 'flat'],
    ['set', 'a:b:c', 2],
    ['get', 'a'],
  ],
  'merge rules': [
    ['merge', 'm', { a: { b: 1 }, arr: [1, 2] }],
    ['merge', 'm', { a: { c: 2 }, arr: [3] }],
    ['merge', 'm:a', { b: { deep: true } }],
    ['merge', 'lit', 5],
    ['merge', 'lit', { now: 'object' }],
    ['merge', 'nested:new:path', { x: 1 }],
    ['get', 'm'],
    ['get', 'lit'],
  ],
  'clear and reset': [
    ['set', 'x:y:z', 1],
    ['set', 'x:y:w', 2],
    ['clear', 'x:y:z'],
    ['clear', 'x:nope:deep'],
    ['clear', 'absent'],
    ['get', 'x'],
    ['reset'],
    ['get', 'x'],
  ],
  'root get and set': [
    ['set', 'a', 1],
    ['get'],
    ['get', null],
    ['set', null, { root: { replaced: true } }],
    ['set', null, 5],
    ['set', null, null],
    ['get', 'root:replaced'],
    ['get'],
  ],
}

for (const [name, steps] of Object.entries(SCRIPTS)) {
  test(`Memory-store semantics, step by step: ${name}`, () => {
    const memory = new nconf.Memory()
    const { store } = open({ autoSave: -1 })
    for (const [method, ...args] of steps) {
      const want = memory[method](...structuredClone(args))
      const got = store[method](...structuredClone(args))
      assert.deepEqual(got, want, `${method}(${JSON.stringify(args)}) returned`)
      assert.deepEqual(store.store, memory.store, `document after ${method}(${JSON.stringify(args)})`)
    }
  })
}

test('logicalSeparator and parseValues behave as in the Memory store', () => {
  const memory = new nconf.Memory({ logicalSeparator: '__', parseValues: true })
  const { store } = open({ logicalSeparator: '__', parseValues: true })
  for (const [k, v] of [
    ['a__b', 'true'],
    ['a__n', '42'],
    ['a__j', '{"x":[1]}'],
    ['a__s', 'plain'],
    ['a__u', 'undefined'],
    ['c:d', 1],
  ]) {
    assert.equal(store.set(k, v), memory.set(k, v))
  }
  assert.deepEqual(store.store, memory.store)
  assert.equal(store.get('a__b'), true)
  assert.equal(store.get('c:d'), 1)
})

test('__proto__ never pollutes: set, merge, nconf.set, and a znode holding "__proto__"', async () => {
  const { conf, store } = open({ autoSave: 0 })
  store.set('__proto__:polluted', 'yes')
  store.merge('__proto__', { merged: 'yes' })
  conf.set('__proto__:viaNconf', 'yes')
  store.set('a:__proto__:deep', 'yes')
  store.merge('b', { ['__proto__']: { m: 1 } })
  for (const key of ['polluted', 'merged', 'viaNconf', 'deep', 'm']) {
    assert.equal({}[key], undefined, `Object.prototype.${key}`)
    assert.equal(Object.prototype[key], undefined)
  }
  assert.equal(store.get('__proto__:polluted'), 'yes', 'stored as an ordinary own key')
  assert.equal(store.get('__proto__:merged'), 'yes')
  assert.equal(Object.getPrototypeOf(store.store), Object.prototype, "the document's own prototype is untouched")
  await new Promise((resolve, reject) => store.save(null, (e) => (e ? reject(e) : resolve())))
  const written = JSON.parse(await zkGet(suite.zk.connectString, `/${store.name}`))
  assert.equal(Object.getOwnPropertyDescriptor(written, '__proto__').value.polluted, 'yes')

  await zkCreate(suite.zk.connectString, '/proto-remote', '{"__proto__":{"fromZk":1},"ok":true}')
  const remote = open({ name: 'proto-remote' })
  assert.equal(remote.conf.get('ok'), true)
  assert.equal({}.fromZk, undefined)
  assert.equal(remote.conf.get('__proto__:fromZk'), 1)
})

test('use() with the same options keeps the store (no new session); other options replace and close it', async () => {
  const conf = provider()
  const onUpdated = () => {}
  const options = { host: suite.zk.connectString, name: 'reuse', autoSave: 0, autoUpdate: true, onUpdated, rootPath: '/' }
  conf.use('zookeeper', options)
  const first = conf.stores.zookeeper
  suite.cleanups.push(() => first.close())
  conf.use('zookeeper', options)
  conf.use('zookeeper', { ...options })
  assert.equal(conf.stores.zookeeper, first, 'the same store')
  conf.use('zookeeper', { ...options, name: 'reuse-2' })
  const second = conf.stores.zookeeper
  suite.cleanups.push(() => second.close())
  assert.notEqual(second, first)
  assert.ok(first._closed || first._closing, 'the replaced store is closed')
  conf.remove('zookeeper')
  assert.ok(second._closing, 'a removed store is closed')
})

test('nconf.argv().env().zookeeper(...).file(...) chains; ZooKeeper first, then the file', async () => {
  await zkCreate(suite.zk.connectString, '/chain', '{"shared":"zk","onlyZk":1}')
  const file = tempFile('chain.json')
  fs.writeFileSync(file, JSON.stringify({ shared: 'file', onlyFile: 2 }))
  const conf = provider()
  const result = conf.argv().env().zookeeper({ host: suite.zk.connectString, name: 'chain' }).file({ file })
  assert.equal(result, conf, 'chainable')
  suite.cleanups.push(() => conf.stores.zookeeper.close())
  assert.equal(conf.get('shared'), 'zk')
  assert.equal(conf.get('onlyZk'), 1)
  assert.equal(conf.get('onlyFile'), 2)
})

test('nconf.load(cb) gets (null, data) and nconf.save(cb) writes to ZooKeeper (nconf 0.13)', async () => {
  await zkCreate(suite.zk.connectString, '/loadsave', '{"example":{"test":1}}')
  const { conf } = open({ name: 'loadsave' })
  const [err, data] = await new Promise((resolve) => conf.load((...a) => resolve(a)))
  assert.equal(err, null)
  assert.deepEqual(data, { example: { test: 1 } })
  conf.set('example:test', 3)
  assert.equal(conf.get('example').test, 3)
  const [saveErr] = await new Promise((resolve) => conf.save((...a) => resolve(a)))
  assert.equal(saveErr, null)
  assert.equal(await zkGet(suite.zk.connectString, '/loadsave'), '{"example":{"test":3}}')
  // saveSync too.
  conf.set('example:sync', true)
  conf.stores.zookeeper.saveSync()
  assert.deepEqual(JSON.parse(await zkGet(suite.zk.connectString, '/loadsave')), { example: { test: 3, sync: true } })
})

test('options: unknown keys and bad values throw ERR_INVALID_ARG naming the field; the port goes on every host', async () => {
  const conf = provider()
  for (const [bad, field] of [
    [{ hots: 'x' }, 'hots'],
    [{ port: 'abc' }, 'port'],
    [{ autoSave: 'soon' }, 'autoSave'],
    [{ onUpdated: 3 }, 'onUpdated'],
    [{ secretKey: 'too-short' }, 'secretKey'],
  ]) {
    assert.throws(
      () => conf.use('zookeeper', { host: suite.zk.connectString, ...bad }),
      (e) => e.code === 'ERR_INVALID_ARG' && e.field === field,
      JSON.stringify(bad),
    )
  }
  // "host,host" + port: both hosts get the port (nconf-zookeeper put it on the last only, so
  // the first one pointed at 2181).
  await zkCreate(suite.zk.connectString, '/ports', '{"ok":true}')
  const [host, port] = suite.zk.connectString.split(':')
  for (let i = 0; i < 3; i++) {
    const { conf: c, store } = open({ host: `${host},${host}`, port, name: 'ports', connectTimeoutMs: 3000 })
    assert.equal(c.get('ok'), true)
    assert.equal(store.source, 'zookeeper')
    await store.close()
  }
  const arrayForm = open({ host: [{ host, port }], name: 'ports' })
  assert.equal(arrayForm.conf.get('ok'), true)
})

test('readOnly: writes refused with ERR_CONFIG_READ_ONLY, nconf skips it, a missing node is not created', async () => {
  await zkCreate(suite.zk.connectString, '/ro', '{"a":1}')
  const { conf, store, warnings } = open({ name: 'ro', readOnly: true, autoSave: 0 })
  assert.equal(conf.get('a'), 1)
  assert.equal(store.set('a', 2), false)
  assert.equal(store.merge('a', { b: 1 }), false)
  assert.equal(store.clear('a'), false)
  assert.equal(store.reset(), false)
  assert.ok(warnings.some((w) => w.code === 'ERR_CONFIG_READ_ONLY'))
  conf.set('a', 3) // nconf skips read-only stores
  assert.equal(conf.get('a'), 1)
  await sleep(300)
  assert.equal(await zkGet(suite.zk.connectString, '/ro'), '{"a":1}')
  const started = Date.now()
  const missing = open({ name: 'ro-missing', readOnly: true, connectTimeoutMs: 8000 })
  assert.ok(Date.now() - started < 4000, 'a missing node is an answer: no wait for connectTimeoutMs')
  assert.deepEqual(missing.conf.get(), {})
  assert.equal(await zkGet(suite.zk.connectString, '/ro-missing'), null)
})

test('autoSave: 0 saves at once, N ms batches into one version, < 0 never saves by itself', async () => {
  const now = open({ name: 'auto-now', autoSave: 0 })
  now.conf.set('k', 1)
  await waitFor(async () => (await zkGet(suite.zk.connectString, '/auto-now')) === '{"k":1}', { what: 'the immediate save' })

  const batched = open({ name: 'auto-batch', autoSave: 300 })
  for (let i = 0; i < 10; i++) batched.conf.set(`k${i}`, i)
  await waitFor(() => batched.changes.length === 1, { what: 'the batched save' })
  await sleep(500)
  assert.equal(batched.changes.length, 1, 'ten sets, one version')
  assert.equal(batched.changes[0].origin, 'local')
  assert.equal(batched.changes[0].changes.length, 10)

  const off = open({ name: 'auto-off', autoSave: -1 })
  off.conf.set('k', 1)
  await sleep(600)
  assert.equal(await zkGet(suite.zk.connectString, '/auto-off'), '{}')
})

test('get() is an in-memory lookup: it keeps answering after the native side is closed', async () => {
  await zkCreate(suite.zk.connectString, '/in-memory', '{"still":"here"}')
  const { conf, store } = open({ name: 'in-memory' })
  await store.close()
  assert.equal(conf.get('still'), 'here')
})

test('auth: a znode created with digest auth is readable by that user only', async () => {
  const { conf, store } = open({ name: 'auth-node', auth: 'app:s3cret', autoSave: -1 })
  conf.set('k', 1)
  await new Promise((resolve, reject) => store.save(null, (e) => (e ? reject(e) : resolve())))
  await assert.rejects(zkGet(suite.zk.connectString, '/auth-node'), /Insufficient permission|NoAuth|not authenticated/i)
  const same = open({ name: 'auth-node', auth: 'app:s3cret' })
  assert.equal(same.conf.get('k'), 1)
  const other = open({ name: 'auth-node', auth: 'app:wrong', connectTimeoutMs: 1500 })
  assert.equal(other.conf.get('k'), undefined, 'a wrong password reads nothing')
  assert.equal(other.store.source, 'empty')
  await waitFor(() => other.warnings.some((w) => /NoAuth|permission|auth/i.test(w.message)), { what: 'the permission warning' })
})

test('autoUpdate: false keeps the data first loaded; remote versions are not applied', async () => {
  await zkCreate(suite.zk.connectString, '/no-auto', '{"v":1}')
  const { conf, updates } = open({ name: 'no-auto', autoUpdate: false })
  assert.equal(conf.get('v'), 1)
  await zkSet(suite.zk.connectString, '/no-auto', '{"v":2}')
  await sleep(1000)
  assert.equal(conf.get('v'), 1)
  assert.equal(updates.length, 0)
})

test("register() patches nothing of nconf's: the store extends nconf's Memory store, nconf.Provider is a subclass", () => {
  // A fresh copy of the nconf module, never registered.
  for (const key of Object.keys(require.cache))
    if (key.includes(`${require('node:path').sep}nconf${require('node:path').sep}`)) delete require.cache[key]
  const fresh = require('nconf')
  const Original = fresh.Provider
  const own = (o) => Reflect.ownKeys(o).map((k) => [String(k), Object.getOwnPropertyDescriptor(o, k).value])
  const before = own(Original.prototype)
  const memoryBefore = own(fresh.Memory.prototype)
  const { register } = require('./harness/config')
  assert.equal(register(fresh), fresh)
  assert.equal(register(fresh), fresh, 'twice is once')
  assert.deepEqual(own(Original.prototype), before, 'nconf.Provider.prototype is untouched')
  assert.deepEqual(own(fresh.Memory.prototype), memoryBefore, "nconf's Memory store is untouched")
  assert.equal(Object.getPrototypeOf(fresh.Provider), Original, "nconf.Provider is a subclass of nconf's")
  assert.ok(fresh instanceof Original && fresh instanceof fresh.Provider, 'the nconf object is one of them')
  assert.equal(typeof fresh.zookeeper, 'function')
  assert.equal(typeof new fresh.Provider().argv().env().zookeeper, 'function', 'chainable on new Providers too')
  assert.equal(Object.getPrototypeOf(fresh.Zookeeper), fresh.Memory, "the store extends nconf's Memory store")
  assert.equal(fresh.Zookeeper.prototype.get, fresh.Memory.prototype.get, "get() is Memory's own")
  assert.equal(typeof fresh.Zookeeper.prototype.on, 'function', 'and emits events')
})

test('one list of options: the core reader, the JavaScript store, lib/nconf.d.ts and docs/configuration.md agree', () => {
  const path = require('node:path')
  const root = path.join(__dirname, '..')
  const { register } = require('./harness/config')
  const options = [...register.options].sort()
  const typings = fs.readFileSync(path.join(root, 'lib', 'nconf.d.ts'), 'utf8')
  const block = /interface ZookeeperOptions \{([\s\S]*?)\n {2}\}/.exec(typings)[1]
  const typed = [...block.matchAll(/^ {4}(\w+)\?:/gm)].map((m) => m[1]).sort()
  assert.deepEqual(typed, options, 'lib/nconf.d.ts ZookeeperOptions')
  const doc = fs.readFileSync(path.join(root, 'docs', 'configuration.md'), 'utf8')
  const table = doc.split('\n## Options\n')[1].split('\n## ')[0]
  const documented = [...table.matchAll(/^\| `(\w+)` \|/gm)].map((m) => m[1]).sort()
  assert.deepEqual(documented, options, "docs/configuration.md's options table")
  // Every native option is one the core reads: a wrong type is refused naming it, not as unknown.
  for (const name of register.options) {
    if (['type', 'autoSave', 'autoUpdate', 'onUpdated', 'parseValues', 'host', 'port'].includes(name)) continue
    assert.throws(
      () => provider().use('zookeeper', { host: '127.0.0.1:1', [name]: { wrong: true } }),
      (e) => e.code === 'ERR_INVALID_ARG' && e.field === name && !/unknown option/.test(e.message),
      name,
    )
  }
})
