'use strict'
// The process must exit: after close() nothing of lemon-cluster keeps Node's event loop alive,
// and the ephemeral nodes are gone by the time the process has exited.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { zooKeeperForFile, runFixture } = require('./harness/file')
const { zkLs } = require('../harness/zookeeper')

const suite = zooKeeperForFile()

test('a child that connects, provides, calls and closes exits on its own within 2 s, its node already gone', async () => {
  const group = 'exit'
  const result = await runFixture('exit-child.js', [suite.zk.connectString, 'exitapp', group], 30000)
  assert.equal(result.signal, null, `killed: the process did not exit by itself\n${result.err}`)
  assert.equal(result.code, 0, result.err)
  const closedAt = Number(/closed (\d+)/.exec(result.out)[1])
  const lingerMs = result.exitedAt - closedAt
  assert.ok(lingerMs < 2000, `exited ${lingerMs} ms after close()`)

  const providers = await zkLs(suite.zk.connectString, `/lemonhjuice/exitapp/${group}/providers`)
  const consumers = await zkLs(suite.zk.connectString, `/lemonhjuice/exitapp/${group}/consumers`)
  assert.deepEqual(providers, [], 'the provider node vanished with close(), not after the 20 s session timeout')
  assert.deepEqual(consumers, [], 'the consumer node too')
})
