'use strict'
// Live updates through ZooKeeper watches, end to end against a real ZooKeeper driven with
// Debian's zkCli.sh: the design note's example; outages, session expiry, a deleted node and
// malformed JSON, each with exactly the expected callbacks (nconf-zookeeper fired twice after a
// reconnect, lost its watch on delete, crashed on bad JSON and died with its session).

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { zkSet, zkGet, zkCreate, zkDelete } = require('../harness/zookeeper')
const { waitFor } = require('./harness/providers')
const { tempFile, sleep, configFile, exactly } = require('./harness/config')

const suite = configFile()
const { open } = suite

test("the design note's example: prints 3, then zkCli.sh set makes it print onUpdated: 4, once; then it exits", async () => {
  const [host, port] = suite.zk.connectString.split(':')
  const child = spawn(process.execPath, [path.join(__dirname, 'fixtures', 'config-example.js'), host, port], {
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  let out = ''
  let err = ''
  child.stdout.on('data', (d) => (out += d))
  child.stderr.on('data', (d) => (err += d))
  let closedAt = 0
  child.stdout.on('data', () => {
    if (!closedAt && out.includes('closed')) closedAt = Date.now()
  })
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal, at: Date.now() })))
  const killer = setTimeout(() => child.kill('SIGKILL'), 60000)
  try {
    await waitFor(() => out.includes('saved'), { timeoutMs: 20000, what: `the app to save (stdout: ${out}, stderr: ${err})` })
    assert.equal(await zkGet(suite.zk.connectString, '/nconf-zookeeper'), '{"example":{"test":3}}')
    await zkSet(suite.zk.connectString, '/nconf-zookeeper', '{"example":{"test":4}}')
    await waitFor(() => out.includes('onUpdated: 4'), { timeoutMs: 10000, what: 'onUpdated: 4' })
    await sleep(800)
    child.stdin.write('close\n')
    const { code, signal, at } = await exited
    assert.equal(signal, null, `the process did not exit by itself: ${out}\n${err}`)
    assert.equal(code, 0, err)
    assert.ok(at - closedAt < 5000, `exited ${at - closedAt} ms after close`)
    assert.deepEqual(out.trim().split('\n'), ['loaded {}', '3', 'onUpdated: 3', 'saved', 'onUpdated: 4', 'closed'])
  } finally {
    clearTimeout(killer)
    child.kill('SIGKILL')
  }
})

test('an existing node is loaded before use() returns; a missing one is created and watched', async () => {
  await zkCreate(suite.zk.connectString, '/existing', '{"a":{"b":1},"f":false,"z":0}')
  const { conf } = open({ name: 'existing' })
  assert.equal(conf.get('a:b'), 1)
  assert.equal(conf.get('f'), false)
  assert.equal(conf.get('z'), 0)

  const missing = open({ name: 'apps/missing' })
  assert.deepEqual(missing.conf.get(), {})
  assert.equal(await zkGet(suite.zk.connectString, '/apps/missing'), '{}')
  await zkSet(suite.zk.connectString, '/apps/missing', '{"on":true}')
  await exactly(missing.updates, 1, 'the update of a node the store created')
  assert.equal(missing.conf.get('on'), true)
  assert.deepEqual(missing.updates[0].changes, [{ key: 'on', new: true, type: 'added' }])
  assert.equal(missing.updates[0].origin, 'remote')
})

test('one version, one callback with the per-key diff; a write that changes nothing, none', async () => {
  await zkCreate(suite.zk.connectString, '/diff', '{"example":{"test":3,"gone":"x"},"same":1}')
  const { conf, updates, changes } = open({ name: 'diff' })
  await zkSet(suite.zk.connectString, '/diff', '{"example":{"test":4,"new":[1]},"same":1}')
  await exactly(updates, 1, 'one update')
  assert.deepEqual(changes, updates, 'the change event carries what onUpdated gets')
  assert.deepEqual(
    updates[0].changes.sort((a, b) => a.key.localeCompare(b.key)),
    [
      { key: 'example:gone', old: 'x', type: 'removed' },
      { key: 'example:new', new: [1], type: 'added' },
      { key: 'example:test', old: 3, new: 4, type: 'modified' },
    ],
  )
  assert.equal(conf.get('example:test'), 4)
  // Same content again (a new znode version, nothing changed), and the same JSON spelled
  // differently: no callback.
  await zkSet(suite.zk.connectString, '/diff', '{"example":{"test":4,"new":[1]},"same":1}')
  await zkSet(suite.zk.connectString, '/diff', '{ "same": 1, "example": { "new": [1], "test": 4 } }')
  await sleep(800)
  assert.equal(updates.length, 1)
})

test('malformed JSON: last good data kept, ERR_CONFIG_INVALID, snapshot untouched, recovers when fixed', async () => {
  const cacheFile = tempFile()
  await zkCreate(suite.zk.connectString, '/malformed', '{"level":1}')
  const { conf, updates, warnings } = open({ name: 'malformed', cacheFile })
  await waitFor(() => fs.existsSync(cacheFile), { what: 'the snapshot file' })
  const snapshotBefore = fs.readFileSync(cacheFile, 'utf8')
  for (const bad of ['{"level":', '[1,2]', '"text"']) {
    const before = warnings.length
    await zkSet(suite.zk.connectString, '/malformed', bad)
    await waitFor(() => warnings.slice(before).some((w) => w.code === 'ERR_CONFIG_INVALID'), { what: `ERR_CONFIG_INVALID for ${bad}` })
    assert.equal(conf.get('level'), 1)
  }
  assert.equal(updates.length, 0)
  assert.equal(fs.readFileSync(cacheFile, 'utf8'), snapshotBefore)
  await zkSet(suite.zk.connectString, '/malformed', '{"level":2}')
  await exactly(updates, 1, 'the fixed version')
  assert.deepEqual(updates[0].changes, [{ key: 'level', old: 1, new: 2, type: 'modified' }])
  assert.equal(conf.get('level'), 2)
  await waitFor(() => JSON.parse(fs.readFileSync(cacheFile, 'utf8')).level === 2, { what: 'the snapshot to follow' })
})

test('node deleted: data kept, still watched, loaded when it comes back', async () => {
  await zkCreate(suite.zk.connectString, '/deleted', '{"k":"v1"}')
  const { conf, updates, warnings } = open({ name: 'deleted' })
  await zkDelete(suite.zk.connectString, '/deleted')
  await waitFor(() => warnings.some((w) => w.code === 'ERR_CONFIG_NODE_DELETED'), { what: 'the deletion warning' })
  assert.equal(conf.get('k'), 'v1')
  assert.equal(await zkGet(suite.zk.connectString, '/deleted'), null, 'a deleted node is not re-created behind the operator')
  await zkCreate(suite.zk.connectString, '/deleted', '{"k":"v2"}')
  await exactly(updates, 1, 'the re-created node')
  assert.equal(conf.get('k'), 'v2')
  await zkSet(suite.zk.connectString, '/deleted', '{"k":"v3"}')
  await exactly(updates, 2, 'a change after re-creation')
  assert.equal(conf.get('k'), 'v3')
})

test('snapshot file: newest data after each update, atomic, mode 0600', async () => {
  const cacheFile = tempFile('snap.json')
  await zkCreate(suite.zk.connectString, '/snap', '{"n":0}')
  const { updates } = open({ name: 'snap', cacheFile })
  for (let n = 1; n <= 3; n++) {
    await zkSet(suite.zk.connectString, '/snap', JSON.stringify({ n }))
    await waitFor(() => updates.length === n, { what: `update ${n}` })
    await waitFor(() => JSON.parse(fs.readFileSync(cacheFile, 'utf8')).n === n, { what: `snapshot ${n}` })
  }
  assert.equal(fs.statSync(cacheFile).mode & 0o777, 0o600)
  assert.deepEqual(fs.readdirSync(path.dirname(cacheFile)), ['snap.json'], 'no temporary files left behind')
})
