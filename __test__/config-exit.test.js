'use strict'
// After close() (or nconf.remove()) nothing of the store keeps Node's event loop alive, even
// with listeners attached and a session still trying to reconnect. nconf-zookeeper had no
// close(): its process never exited.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { zooKeeperForFile, runFixture } = require('./harness/file')
const { freePort, zkGet } = require('../harness/zookeeper')

const suite = zooKeeperForFile()

for (const mode of ['close', 'remove']) {
  test(`the process exits on its own after ${mode === 'close' ? 'store.close()' : 'nconf.remove()'}`, async () => {
    const dead = `127.0.0.1:${await freePort()}`
    const result = await runFixture('config-exit-child.js', [suite.zk.connectString, dead, mode], 30000)
    assert.equal(result.signal, null, `killed: the process did not exit by itself\n${result.out}\n${result.err}`)
    assert.equal(result.code, 0, result.err)
    const closedAt = Number(/closed (\d+)/.exec(result.out)[1])
    assert.ok(result.exitedAt - closedAt < 3000, `exited ${result.exitedAt - closedAt} ms after closing`)
    assert.equal(await zkGet(suite.zk.connectString, '/exit-test'), '{"written":true}')
  })
}
