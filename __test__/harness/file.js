'use strict'
// The shape most end-to-end test files share: one ZooKeeper server for the whole file, started
// before its first test and stopped after its last, once every cleanup the tests registered has
// run (last registered first: consumers and clusters close before the server goes).

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

module.exports = { zooKeeperForFile }
