'use strict'
// Issue 10, the log side: a logger that throws cannot crash the host, a warning is printed once,
// and a burst of one warning is cut short and counted.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { execFile } = require('node:child_process')
const { zooKeeperForFile, otherZooKeeperClient } = require('./harness/file')
const { deadPort } = require('./harness/providers')

const suite = zooKeeperForFile()

function child(args, env = {}) {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(__dirname, 'fixtures', 'defects-log-child.js'), ...args],
      { env: { ...process.env, LEMON_LOG: '', ...env }, timeout: 40000 },
      (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr }),
    )
  })
}

/** A session of another ZooKeeper client, for writes by "someone else". */
const otherClient = async () => (await otherZooKeeperClient(suite.zk.connectString)).client

/** Creates `count` junk nodes (data that is not a provider) under a service's providers folder. */
async function junkNodes(group, count) {
  const client = await otherClient()
  const folder = `/lemonhjuice/logs/${group}/providers`
  await new Promise((resolve, reject) => client.mkdirp(folder, (e) => (e ? reject(e) : resolve())))
  for (let i = 0; i < count; i += 100) {
    const batch = []
    for (let j = i; j < Math.min(count, i + 100); j++) {
      batch.push(
        new Promise((resolve, reject) => client.create(`${folder}/junk${j}`, Buffer.from('not json'), (e) => (e ? reject(e) : resolve()))),
      )
    }
    await Promise.all(batch)
  }
  client.close()
}

test('a logger whose every method throws does not crash the host: stderr takes over, once said why', async () => {
  const { code, stdout, stderr } = await child([suite.zk.connectString, 'throwing-logger', String(await deadPort())], {
    LEMON_LOG: 'info',
  })
  assert.equal(code, 0, stderr)
  assert.equal(stdout, 'survived')
  const told = stderr.split('\n').filter((l) => /ERR_LOGGER/.test(l))
  assert.equal(told.length, 2, `one ERR_LOGGER line per logger registration:\n${stderr}`)
  assert.match(told[0], /\[lemon-cluster\] warn ERR_LOGGER: the logger's warn\(\) threw \(write after end \(warn\)\)/)
  assert.match(told[1], /the logger's info\(\) threw/)
  // The records the logger refused are on stderr instead.
  assert.match(stderr, /\[lemon-cluster\] warn ERR_ZK_UNAVAILABLE: cannot reach ZooKeeper/)
  assert.match(stderr, /\[lemon-cluster\] info provider registered/)
})

test('an async logger whose promise rejects does not crash the host either', async () => {
  const { code, stdout, stderr } = await child([suite.zk.connectString, 'rejecting-logger', String(await deadPort())])
  assert.equal(code, 0, stderr)
  assert.equal(stdout, 'survived')
  const told = stderr.split('\n').filter((l) => /ERR_LOGGER/.test(l))
  assert.equal(told.length, 1, stderr)
  assert.match(told[0], /the logger's warn\(\) threw \(transport closed\)/)
  assert.match(stderr, /\[lemon-cluster\] warn ERR_ZK_UNAVAILABLE: cannot reach ZooKeeper/)
})

test('250 junk provider nodes print a few warnings and one count of the rest, each once', async () => {
  await junkNodes('junk', 250)
  // The window is 10 s: the count is printed at its end.
  const { code, stdout, stderr } = await child([suite.zk.connectString, 'junk', 'junk', '11000'])
  assert.equal(code, 0, stderr)
  assert.equal(stdout, 'survived')
  const lines = stderr.split('\n').filter((l) => /ERR_BAD_PROVIDER_NODE/.test(l))
  const skipped = lines.filter((l) => /skipped provider node/.test(l))
  assert.equal(skipped.length, 5, stderr)
  const counts = lines.filter((l) => /more ERR_BAD_PROVIDER_NODE warning\(s\) in the last 10 s were not shown/.test(l))
  assert.equal(counts.length, 1, stderr)
  assert.match(counts[0], /\b245 more\b/)
  // Printed once each: no `warning …` copy of a `warn …` line.
  assert.equal(lines.length, 6, stderr)
})

test('a warning of the configuration store is printed once when nobody listens', async () => {
  const client = await otherClient()
  await new Promise((resolve, reject) => client.create('/defects-invalid', Buffer.from('[1,2]'), (e) => (e ? reject(e) : resolve())))
  client.close()
  const { code, stdout, stderr } = await child([suite.zk.connectString, 'nconf-invalid', 'defects-invalid'])
  assert.equal(code, 0, stderr)
  assert.equal(stdout, 'survived')
  const lines = stderr.split('\n').filter((l) => /ERR_CONFIG_INVALID/.test(l))
  assert.equal(lines.length, 1, stderr)
  assert.match(lines[0], /^\[lemon-cluster\] warn ERR_CONFIG_INVALID: /)
})
