'use strict'
// The shape most end-to-end test files share: one ZooKeeper server for the whole file, started
// before its first test and stopped after its last, once every cleanup the tests registered has
// run (last registered first: consumers and clusters close before the server goes).

const path = require('node:path')
const { spawn } = require('node:child_process')
const { before, after } = require('node:test')
const { startZooKeeper, startEnsemble } = require('../../harness/zookeeper')

/**
 * Registers the file's `before`/`after` hooks. Returns `{ zk, cleanups, started }` (tests name it
 * `suite`): `zk` is the running server (set once `before` has run), `cleanups` an array of async
 * functions to run at the end, `started` a promise of the server: a file's own `before` hook that
 * needs the server awaits it (Node 20 does not wait for one top-level hook before the next).
 * `{ ensemble: n }` starts an n-node ensemble instead (`zk` is then the ensemble: `servers`,
 * `leader()`, `connectString`); other options go to `startZooKeeper`.
 */
function zooKeeperForFile(options = {}) {
  const { ensemble, ...serverOptions } = options
  const suite = { zk: undefined, cleanups: [] }
  let started
  suite.started = new Promise((resolve, reject) => (started = { resolve, reject }))
  suite.started.catch(() => {}) // reported by the hook itself
  before(async () => {
    try {
      suite.zk = ensemble ? await startEnsemble(ensemble, serverOptions) : await startZooKeeper(serverOptions)
      started.resolve(suite.zk)
    } catch (e) {
      started.reject(e)
      throw e
    }
  })
  after(async () => {
    // Every cleanup runs and the server always stops; the first failure is reported after.
    let failure
    for (const c of suite.cleanups.reverse()) {
      try {
        await c()
      } catch (e) {
        failure = failure || e
      }
    }
    if (suite.zk) await suite.zk.cleanup()
    if (failure) throw failure
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

/**
 * A session of another ZooKeeper client (the node-zookeeper-client package), for what an operator
 * or another program does to the tree behind lemon-cluster's back. Returns `{ client, call }`:
 * `call('create', path, data)` is the promise form of the client's callback methods. Closed by
 * the caller (`client.close()`).
 */
async function otherZooKeeperClient(connectString) {
  const ZooKeeper = require('node-zookeeper-client')
  const client = ZooKeeper.createClient(connectString)
  await new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('no ZooKeeper session for the other client in 10 s')), 10000)
    client.once('connected', () => {
      clearTimeout(t)
      resolve()
    })
    client.connect()
  })
  const call = (method, ...args) => new Promise((resolve, reject) => client[method](...args, (e, v) => (e ? reject(e) : resolve(v))))
  return { client, call }
}

module.exports = { zooKeeperForFile, runFixture, otherZooKeeperClient }
