'use strict'
// Saving without losing anything: compare-and-set with rebase on conflict. nconf-zookeeper
// wrote last-writer-wins (two processes lost each other's keys) and threw away unsaved local
// sets whenever a remote update arrived.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { zkGet, zkSet, zkCreate } = require('../harness/zookeeper')
const { waitFor } = require('./harness/providers')
const { tempFile, sleep, configFile, save } = require('./harness/config')

const suite = configFile()
const { open } = suite

function writer(prefix, count, expect, cacheFile) {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        path.join(__dirname, 'fixtures', 'config-writer.js'),
        suite.zk.connectString,
        'cas',
        prefix,
        String(count),
        String(expect),
        cacheFile,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    const killer = setTimeout(() => child.kill('SIGKILL'), 180000)
    child.on('error', reject)
    child.on('exit', (code, signal) => {
      clearTimeout(killer)
      resolve({ code, signal, out, err })
    })
  })
}

test('two processes each do 200 set+save of their own keys at once: all 400 keys are there after', async () => {
  await zkCreate(suite.zk.connectString, '/cas', '{}')
  const cacheFile = tempFile()
  const [a, b] = await Promise.all([writer('a', 200, 400, cacheFile), writer('b', 200, 400, cacheFile)])
  for (const r of [a, b]) {
    assert.equal(r.signal, null, r.err)
    assert.equal(r.code, 0, r.err)
  }
  const doc = JSON.parse(await zkGet(suite.zk.connectString, '/cas'))
  const keys = [...Object.keys(doc.a || {}).map((k) => `a:${k}`), ...Object.keys(doc.b || {}).map((k) => `b:${k}`)]
  assert.equal(keys.length, 400, `ZooKeeper holds ${keys.length} keys`)
  for (let i = 0; i < 200; i++) {
    assert.equal(doc.a[`k${i}`], i)
    assert.equal(doc.b[`k${i}`], i)
  }
  const [aLines, bLines] = [a, b].map((r) => r.out.trim().split('\n'))
  assert.equal(aLines[0], 'sees 400', "each process ends up seeing the other one's keys too")
  assert.equal(bLines[0], 'sees 400')
  // The two save loops really ran at the same time (otherwise there was no race to win).
  const [[, aStart, aEnd], [, bStart, bEnd]] = [aLines[1], bLines[1]].map((l) => l.split(' ').map(Number))
  assert.ok(aStart < bEnd && bStart < aEnd, `save windows overlap: a ${aStart}-${aEnd}, b ${bStart}-${bEnd}`)
  // Both wrote the one snapshot file hundreds of times: it is whole and has the last version.
  const snapshot = JSON.parse(fs.readFileSync(cacheFile, 'utf8'))
  assert.deepEqual(snapshot, doc)
  assert.deepEqual(fs.readdirSync(path.dirname(cacheFile)), [path.basename(cacheFile)], 'no temporary files left')
})

test('a remote update keeps local unsaved changes; the save then writes them on top of it', async () => {
  await zkCreate(suite.zk.connectString, '/rebase', '{"theirs":1,"shared":"old","mine":{"x":0}}')
  const { conf, updates } = open({ name: 'rebase', autoSave: -1 })
  conf.set('mine:x', 1)
  conf.set('shared', 'local')
  conf.clear('theirs')
  await zkSet(suite.zk.connectString, '/rebase', '{"theirs":2,"shared":"remote","added":true,"mine":{"x":0,"y":5}}')
  await waitFor(() => updates.length === 1, { what: 'the remote update' })
  assert.equal(conf.get('added'), true, 'the remote change is visible')
  assert.equal(conf.get('mine:y'), 5)
  assert.equal(conf.get('mine:x'), 1, 'the unsaved local set is kept')
  assert.equal(conf.get('shared'), 'local', 'on the same key the local unsaved value stays in use')
  assert.equal(conf.get('theirs'), undefined, 'the unsaved local clear is kept')
  await save(conf)
  assert.deepEqual(JSON.parse(await zkGet(suite.zk.connectString, '/rebase')), {
    shared: 'local',
    added: true,
    mine: { x: 1, y: 5 },
  })
})

test('a save that loses the race re-reads, reports the newer version once, and rebases', async () => {
  await zkCreate(suite.zk.connectString, '/race', '{"n":0}')
  const one = open({ name: 'race', autoSave: -1 })
  const two = open({ name: 'race', autoSave: -1 })
  // Both start from version 0; `two` saves first, then `one` must not overwrite it.
  two.conf.set('fromTwo', true)
  one.conf.set('fromOne', true)
  await Promise.all([save(two.conf), save(one.conf)])
  assert.deepEqual(JSON.parse(await zkGet(suite.zk.connectString, '/race')), { n: 0, fromTwo: true, fromOne: true })
  await waitFor(() => one.conf.get('fromTwo') === true && two.conf.get('fromOne') === true, { what: 'both to see both' })
  await sleep(500)
  const kinds = (u) => u.map((c) => `${c.origin}:${c.changes.map((x) => x.key).join(',')}`).sort()
  // Each store reports its own version as local and the other's as remote, once each.
  assert.deepEqual(kinds(one.updates), ['local:fromOne', 'remote:fromTwo'].sort())
  assert.deepEqual(kinds(two.updates), ['local:fromTwo', 'remote:fromOne'].sort())
})

test('a key nested too deep is refused by save() without writing anything; clear(key) takes it back', async () => {
  await zkCreate(suite.zk.connectString, '/deep', '{"kept":1}')
  const { conf } = open({ name: 'deep', autoSave: -1 })
  const deepKey = Array.from({ length: 200 }, (_, i) => `k${i}`).join(':')
  conf.set(deepKey, 1)
  conf.set('fine', 2)
  await assert.rejects(save(conf), (e) => e.code === 'ERR_INVALID_ARG' && /at most 127/.test(e.message))
  assert.deepEqual(JSON.parse(await zkGet(suite.zk.connectString, '/deep')), { kept: 1 }, 'nothing was written')
  conf.clear(deepKey)
  await save(conf)
  assert.deepEqual(JSON.parse(await zkGet(suite.zk.connectString, '/deep')), { kept: 1, fine: 2 })
})
