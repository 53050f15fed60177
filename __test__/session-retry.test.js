'use strict'
// A provider node that cannot be re-created (its folder refuses, here by an ACL set by hand) is
// retried while the session lives, by one task, warned about once — not again at every
// reconnect — and comes back as one node once the folder is mended.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { Cluster } = require('../lib')
const { zkCli, zkLs } = require('../harness/zookeeper')
const { sleep, waitFor } = require('../harness/wait')
const { zooKeeperForFile, otherZooKeeperClient } = require('./harness/file')

const suite = zooKeeperForFile()

test('a refused re-creation: warned once across reconnects, retried in the background, one node once mended', async () => {
  const cs = suite.zk.connectString
  const c = new Cluster({ zk: cs, host: '127.0.0.1', cacheDir: false, sessionTimeoutMs: 30000 })
  suite.cleanups.push(() => c.close())
  const warnings = []
  c.on('warning', (w) => warnings.push(w))
  const reg = await c.provide({ app: 'retry', group: 'g', port: 1001 })
  const first = await reg.path()
  const folder = first.slice(0, first.lastIndexOf('/'))

  // Nobody may add a node to the folder any more; then the node is deleted by hand.
  assert.equal((await zkCli(cs, 'setAcl', folder, 'world:anyone:rda')).code, 0)
  const { client, call } = await otherZooKeeperClient(cs)
  try {
    await call('remove', first, -1)
  } finally {
    client.close()
  }
  await waitFor(() => warnings.some((w) => w.code === 'ERR_ZK_AUTH'), { timeoutMs: 15000, what: 'the refused re-creation' })

  // Two reconnects of the same session while it keeps failing.
  for (let i = 0; i < 2; i++) {
    const before = c.stats().reconnects
    await suite.zk.stop()
    await sleep(500)
    await suite.zk.start()
    await waitFor(() => c.stats().reconnects > before, { timeoutMs: 20000, what: `reconnect ${i + 1}` })
  }
  await sleep(1000)
  assert.ok(!warnings.some((w) => w.code === 'ERR_ZK_SESSION_EXPIRED'), 'the session lived on')
  const refused = warnings.filter((w) => w.code === 'ERR_ZK_AUTH')
  assert.equal(refused.length, 1, `warned once: ${JSON.stringify(refused)}`)
  assert.match(refused[0].message, /retrying in the background/)

  // Mended: the next attempt (at most ~12 s later) puts back exactly one node.
  assert.equal((await zkCli(cs, 'setAcl', folder, 'world:anyone:cdrwa')).code, 0)
  await waitFor(async () => (await zkLs(cs, folder)).length === 1, { timeoutMs: 20000, what: 'the node back' })
  await sleep(2000)
  assert.equal((await zkLs(cs, folder)).length, 1, 'one node, not one per retry task')
  assert.equal((await reg.path()).startsWith(`${folder}/`), true)
})
