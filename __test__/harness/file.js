'use strict'
// The shape most end-to-end test files share: one ZooKeeper server for the whole file, started
// before its first test and stopped after its last, once every cleanup the tests registered has
// run (last registered first: consumers and clusters close before the server goes).

const path = require('node:path')
const { spawn } = require('node:child_process')
const { before, after } = require('node:test')
const { startZooKeeper } = require('./zookeeper')

/**
 * Registers the file's `before`/`after` hooks. Returns `{ zk, cleanups }` (tests name it
 * `suite`): `zk` is the running server (set once `before` has run), `cleanups` an array of async
 * functions to run at the end.
 */
function zooKeeperForFile(options) {
  const suite = { zk: undefined, cleanups: [] }
  before(async () => {
    suite.zk = await startZooKeeper(options)
  })
  after(async () => {
    for (const c of suite.cleanups.reverse()) await c()
    if (suite.zk) await suite.zk.cleanup()
  })
  return suite
}

/**
 * Runs `__test__/fixtures/{fixture}` in its own Node process with `args`, killed after `limitMs`.
 * Resolves to `{ code, signal, out, err, exitedAt }` once it has exited.
 */
function runFixture(fixture, args, limitMs) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, '..', 'fixtures', fixture), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    const killer = setTimeout(() => child.kill('SIGKILL'), limitMs)
    child.on('exit', (code, signal) => {
      clearTimeout(killer)
      resolve({ code, signal, out, err, exitedAt: Date.now() })
    })
    child.on('error', reject)
  })
}

module.exports = { zooKeeperForFile, runFixture }
