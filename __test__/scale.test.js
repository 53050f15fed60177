'use strict'
// 10,000 providers in one service, end to end: a farm process with 10,000 real HTTP endpoints on
// loopback, each registered through lemon-cluster; a consumer process sees them all, calls them
// with three balancers, sees every node rewritten, keeps them in its cache file, and exits on its
// own after close(). Correctness only: the timings are benchmark/scale.js's business.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { zooKeeperForFile } = require('./harness/file')
const { startFarm } = require('../harness/farm')

const COUNT = 10000
const suite = zooKeeperForFile()
let farm
const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lemon-scale-test-'))
suite.cleanups.push(
  () => fs.rmSync(cacheDir, { recursive: true, force: true }),
  async () => {
    if (farm) await farm.stop()
  },
)

test(`${COUNT} providers: all seen, called, rewritten, cached; the consumer process exits after close()`, { timeout: 300000 }, async () => {
  const app = 'scale'
  const group = 'tenk'
  farm = await startFarm({ connectString: suite.zk.connectString, app, group, count: COUNT })
  assert.equal(new Set(farm.ports).size, COUNT)
  await farm.command('register')

  const child = spawn(
    process.execPath,
    [path.join(__dirname, 'fixtures', 'scale-consumer-child.js'), suite.zk.connectString, app, group, String(COUNT), 'v2', cacheDir],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let out = ''
  let err = ''
  child.stderr.on('data', (d) => (err += d))
  const killer = setTimeout(() => child.kill('SIGKILL'), 240000)
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
  await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d
      if (out.includes('seen\n')) resolve()
    })
    exited.then(({ code }) => reject(new Error(`the consumer exited early (${code}): ${err}`)))
  })
  // A full list change: every provider node rewritten while the consumer is watching.
  await farm.command('update', { patch: { version: 'v2' } })
  const { code, signal } = await exited
  clearTimeout(killer)
  assert.equal(signal, null, `the consumer process did not exit by itself:\n${err}`)
  assert.equal(code, 0, err)
  const result = JSON.parse(out.split('\n').find((l) => l.startsWith('{')))
  assert.equal(result.providers, COUNT)
  assert.equal(result.distinctAddresses, COUNT)
  assert.equal(result.withVersion, COUNT, 'every rewritten node is seen')
  assert.equal(result.failed, 0, 'every call succeeds')
  // 300 calls over 10,000 providers: round robin alone visits 100 different ones.
  assert.ok(result.distinctPortsCalled >= 200, `calls spread: ${result.distinctPortsCalled} providers called`)
  assert.equal(result.cached, COUNT, 'the cache file holds the rewritten list')
  const { hits } = await farm.command('hits')
  assert.equal(hits, result.calls, 'the farm answered every call')
})
