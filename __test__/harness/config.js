'use strict'
// Helpers for the hot-configuration tests: a fresh nconf Provider with the zookeeper store
// registered, a recorder of what the store reports, and temporary snapshot paths.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const nconf = require('nconf')
const register = require('../../lib/nconf')

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

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

module.exports = { nconf, register, provider, openStore, tempFile, sleep }
