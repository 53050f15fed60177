'use strict'
// Lossless deploys under the real pm2: a provider in cluster mode with 2 workers on one port,
// under a steady load of calls; `pm2 reload` and `pm2 stop` of one worker lose no call.

const { test, before } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFile } = require('node:child_process')
const lemon = require('../lib')
const { freePort } = require('../harness/zookeeper')
const { zooKeeperForFile } = require('./harness/file')
const { waitFor } = require('./harness/providers')

const PM2 = path.join(__dirname, '..', 'node_modules', '.bin', 'pm2')
const APP = 'pm2app'
const suite = zooKeeperForFile()
let pm2Home
let port
let cluster

function pm2(...args) {
  return new Promise((resolve, reject) => {
    execFile(PM2, args, { env: { ...process.env, PM2_HOME: pm2Home }, timeout: 60000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`pm2 ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`))
      else resolve(stdout)
    })
  })
}

async function workers() {
  const list = JSON.parse(await pm2('jlist'))
  return list.filter((p) => p.name === APP)
}

before(async () => {
  await suite.started
  pm2Home = fs.mkdtempSync(path.join(os.tmpdir(), 'lemon-pm2-'))
  suite.cleanups.push(async () => {
    await cluster?.close()
    await pm2('kill').catch(() => {})
    fs.rmSync(pm2Home, { recursive: true, force: true })
  })
  port = await freePort()
  const config = path.join(pm2Home, 'ecosystem.config.js')
  fs.writeFileSync(
    config,
    `module.exports = { apps: [{ name: '${APP}', script: ${JSON.stringify(path.join(__dirname, '..', 'examples', 'pm2', 'provider.js'))},
      exec_mode: 'cluster', instances: 2, wait_ready: true, listen_timeout: 15000, kill_timeout: 12000,
      env: { ZK: '${suite.zk.connectString}', PORT: '${port}', APP: 'movie', GROUP: 'pm2' } }] }`,
  )
  await pm2('start', config)
  cluster = new lemon.Cluster({ zk: suite.zk.connectString, host: '127.0.0.1' })
})

/** Calls in `concurrency` loops until `until()` resolves; returns { ok, failed, errors, pids }. */
async function steadyLoad(consumer, until, { concurrency = 8, maxMs = 60000 } = {}) {
  const stats = { ok: 0, failed: 0, errors: [], pids: new Set() }
  let stop = false
  const deadline = Date.now() + maxMs
  const loop = async () => {
    for (let i = 0; i < 1e6 && !stop && Date.now() < deadline; i++) {
      try {
        const r = await consumer.call('getMovieById', { id: i }, { timeoutMs: 5000 })
        stats.ok++
        stats.pids.add(r.pid)
      } catch (e) {
        stats.failed++
        if (stats.errors.length < 5) stats.errors.push(`${e.code}: ${e.message}`)
      }
    }
  }
  const loops = Array.from({ length: concurrency }, loop)
  await until()
  stop = true
  await Promise.all(loops)
  return stats
}

test('pm2 reload and pm2 stop of one worker lose no call', { timeout: 120000 }, async () => {
  const consumer = cluster.consumer({ app: 'movie', group: 'pm2' })
  await waitFor(async () => consumer.providers()[0]?.nodes.length === 2, { timeoutMs: 30000, what: 'both workers registered' })
  const before = (await workers()).map((w) => w.pid)
  assert.equal(before.length, 2)

  const reload = await steadyLoad(consumer, async () => {
    await new Promise((r) => setTimeout(r, 500))
    await pm2('reload', APP)
    await waitFor(async () => consumer.providers()[0]?.nodes.length === 2, { timeoutMs: 30000, what: 'two nodes after reload' })
    await new Promise((r) => setTimeout(r, 500))
  })
  const after = (await workers()).map((w) => w.pid)
  assert.equal(after.length, 2)
  assert.ok(
    after.every((p) => !before.includes(p)),
    'both workers were replaced',
  )
  assert.deepEqual(reload.errors, [])
  assert.equal(reload.failed, 0)
  assert.ok(reload.ok > 100, `${reload.ok} calls during the reload`)
  assert.ok(
    [...reload.pids].some((p) => after.includes(p)),
    'the new workers served',
  )

  const [first] = await workers()
  const stop = await steadyLoad(consumer, async () => {
    await new Promise((r) => setTimeout(r, 300))
    await pm2('stop', String(first.pm_id))
    await waitFor(async () => consumer.providers()[0]?.nodes.length === 1, { timeoutMs: 30000, what: 'one node left' })
    await new Promise((r) => setTimeout(r, 500))
  })
  assert.deepEqual(stop.errors, [])
  assert.equal(stop.failed, 0)
  assert.ok(stop.ok > 50)
  assert.equal(consumer.providers().length, 1, 'the endpoint stays while a worker lives')
})
