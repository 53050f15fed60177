'use strict'
// Helpers for the hot-configuration tests: a fresh nconf Provider with the zookeeper store
// registered, a recorder of what the store reports, and temporary snapshot paths.

const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const nconf = require('nconf')
const register = require('../../lib/nconf')
const { zooKeeperForFile } = require('./file')
const { waitFor } = require('./providers')

register(nconf)

/** A new nconf Provider (the same class as the `nconf` singleton) for one test. */
function provider() {
  return new nconf.Provider()
}

/**
 * Opens a zookeeper store in a fresh Provider and records its `onUpdated` calls, `change`
 * events and warnings. Returns { conf, store, updates, changes, warnings }.
 */
function openStore(options) {
  const updates = []
  const changes = []
  const warnings = []
  const conf = provider()
  conf.use('zookeeper', { connectTimeoutMs: 5000, ...options, onUpdated: (c) => updates.push(c) })
  const store = conf.stores.zookeeper
  store.on('change', (c) => changes.push(c))
  store.on('warning', (w) => warnings.push(w))
  return { conf, store, updates, changes, warnings }
}

const dirs = []
/** A path for a snapshot file in a fresh temporary directory (removed at exit). */
function tempFile(name = 'config.json') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lemon-config-test-'))
  dirs.push(dir)
  return path.join(dir, name)
}
process.on('exit', () => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true })
})

const { sleep } = require('../../harness/wait')

/**
 * For a configuration test file: one ZooKeeper for the file (see ./file.js) and
 * `open(options)`, which opens a store against it (with `defaults`) that is closed at the end.
 * Returns `{ zk, cleanups, open }`.
 */
function configFile(defaults = {}) {
  const suite = zooKeeperForFile()
  suite.open = (options) => {
    const opened = openStore({ host: suite.zk.connectString, ...defaults, ...options })
    suite.cleanups.push(() => opened.store.close())
    return opened
  }
  return suite
}

/** `conf.save()` as a promise of what it calls back with. */
function save(conf) {
  return new Promise((resolve, reject) => conf.save((e, d) => (e ? reject(e) : resolve(d))))
}

/** Waits for `n` entries in `list`, then a while longer to be sure no extra one follows. */
async function exactly(list, n, what) {
  await waitFor(() => list.length >= n, { timeoutMs: 15000, what })
  await sleep(700)
  assert.equal(list.length, n, `${what}: ${JSON.stringify(list)}`)
}

module.exports = { nconf, register, provider, openStore, tempFile, sleep, configFile, save, exactly }
