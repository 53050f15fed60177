'use strict'
// Logs: the core's records reach the application's logger, or stderr by default, at the level
// LEMON_LOG names.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { execFile } = require('node:child_process')
const { Cluster } = require('..')
const { zooKeeperForFile } = require('./harness/file')
const { deadPort } = require('./harness/providers')

const suite = zooKeeperForFile()

function child(zkAddress, mode, env = {}) {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [path.join(__dirname, 'fixtures', 'log-child.js'), zkAddress, mode],
      { env: { ...process.env, LEMON_LOG: '', ...env }, timeout: 20000 },
      (err, stdout, stderr) => (err ? reject(err) : resolve({ got: JSON.parse(stdout || '[]'), stderr })),
    )
  })
}

test('warnings go to the logger (bound to its object), not to stderr', async () => {
  const { got, stderr } = await child(`127.0.0.1:${await deadPort()}`, 'logger')
  const warns = got.filter(([, level]) => level === 'warn')
  assert.ok(warns.length >= 1, JSON.stringify(got))
  assert.equal(warns[0][0], 'L', 'called with this = the logger')
  assert.match(warns[0][2], /^ERR_ZK_UNAVAILABLE: cannot reach ZooKeeper/)
  assert.doesNotMatch(stderr, /lemon-cluster/)
})

test('without a logger, warnings go to stderr', async () => {
  const { stderr } = await child(`127.0.0.1:${await deadPort()}`, 'default')
  assert.match(stderr, /\[lemon-cluster\] warn ERR_ZK_UNAVAILABLE: cannot reach ZooKeeper/)
})

test('LEMON_LOG sets the level: info shows registrations, off silences', async () => {
  const info = await child(suite.zk.connectString, 'logger', { LEMON_LOG: 'info' })
  assert.ok(
    info.got.some(([, level, m]) => level === 'info' && /provider registered/.test(m)),
    JSON.stringify(info.got),
  )
  const quiet = await child(suite.zk.connectString, 'logger', { LEMON_LOG: 'warn' })
  assert.ok(!quiet.got.some(([, level]) => level === 'info'), 'no info at warn level')
  const off = await child(`127.0.0.1:${await deadPort()}`, 'default', { LEMON_LOG: 'off' })
  assert.doesNotMatch(off.stderr, /lemon-cluster/)
})

test('a bad logger is refused', () => {
  assert.throws(() => new Cluster({ zk: '127.0.0.1:1', logger: 'console' }), { code: 'ERR_INVALID_ARG', field: 'options.logger' })
  assert.throws(() => new Cluster({ zk: '127.0.0.1:1', logger: {} }), { code: 'ERR_INVALID_ARG', field: 'options.logger' })
})
