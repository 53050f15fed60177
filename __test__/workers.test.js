'use strict'
// lemon-cluster inside worker_threads workers: whichever way the workers end — close() with
// calls in flight, terminate() or process.exit() without close() — the process exits on its own,
// and nothing crashes when a later worker loads the addon after the first one has gone (mimalloc
// 3.3 crashed there with SIGSEGV, every time). Each case runs a few times so a flaky hang shows.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { zooKeeperForFile, runFixture } = require('./harness/file')
const { zkLs } = require('../harness/zookeeper')

const suite = zooKeeperForFile()
const LIMIT_MS = 30000

let apps = 0
async function runWorkers(count, mode, order) {
  const app = `workers${apps++}`
  const startedAt = Date.now()
  const result = await runFixture('workers-child.js', [suite.zk.connectString, app, String(count), mode, order], LIMIT_MS)
  const what = `${count} workers, ${mode}, ${order}`
  assert.equal(
    result.signal,
    null,
    `${what}: ${result.signal === 'SIGKILL' ? `no exit within ${LIMIT_MS} ms` : `died of ${result.signal}`}\n${result.err}`,
  )
  assert.equal(result.code, 0, `${what}: ${result.err}`)
  const closedAt = Number(/closed (\d+)/.exec(result.out)[1])
  assert.ok(result.exitedAt - closedAt < 2000, `${what}: exited ${result.exitedAt - closedAt} ms after the last close()`)
  return { app, ms: Date.now() - startedAt }
}

test('workers that load the addon one after another, the main thread never, all run and the process exits', async () => {
  for (let run = 0; run < 3; run++) {
    const { app } = await runWorkers(3, 'close', 'one-by-one')
    assert.deepEqual(await zkLs(suite.zk.connectString, `/lemonhjuice/${app}/workers/providers`), [])
    assert.deepEqual(await zkLs(suite.zk.connectString, `/lemonhjuice/${app}/workers/consumers`), [])
  }
})

test('four workers that close() with calls in flight: the process exits each time, every node gone', async () => {
  for (let run = 0; run < 5; run++) {
    const { app } = await runWorkers(4, 'close', 'together')
    assert.deepEqual(await zkLs(suite.zk.connectString, `/lemonhjuice/${app}/workers/providers`), [])
    assert.deepEqual(await zkLs(suite.zk.connectString, `/lemonhjuice/${app}/workers/consumers`), [])
  }
})

test('four workers terminated with calls in flight and no close(): the process exits each time', async () => {
  for (let run = 0; run < 5; run++) await runWorkers(4, 'terminate', 'together')
})

test('workers that start while others run and end, the main thread without the addon: the process exits each time', async () => {
  for (const mode of ['close', 'exit', 'terminate']) {
    for (let run = 0; run < 2; run++) await runWorkers(4, mode, 'staggered')
  }
})

test('workers that process.exit() with calls in flight, one after another: the process exits each time', async () => {
  for (let run = 0; run < 3; run++) await runWorkers(2, 'exit', 'one-by-one')
  for (let run = 0; run < 3; run++) await runWorkers(2, 'terminate', 'one-by-one')
})

// What a worker leaves open when it is terminated or exits without close(): its sessions end with
// it (before, they lived until the process exited: its provider node stayed in the registry), and
// its logger is dropped (before, it kept receiving — and losing — the records of the whole
// process, so the main thread's warnings never reached stderr).
for (const mode of ['terminate', 'exit']) {
  test(`a worker that ${mode === 'exit' ? 'calls process.exit()' : 'is terminated'} without close(): its nodes are gone at once and its logger no longer takes the process's records`, async () => {
    const app = `leftover${apps++}`
    const result = await runFixture('leftover-child.js', [suite.zk.connectString, app, mode], LIMIT_MS)
    assert.equal(result.code, 0, result.err)
    const seen = JSON.parse(result.out.trim().split('\n').pop())
    assert.deepEqual(seen.providers, [], 'the provider node outlived the worker')
    assert.deepEqual(seen.consumers, [], 'the consumer node outlived the worker')
    assert.match(result.err, /ERR_ZK_UNAVAILABLE/, "the main thread's warning did not reach stderr")
  })
}

for (const mode of ['main-exit', 'main-exit-collected']) {
  test(`the main thread calls process.exit() without close()${mode === 'main-exit' ? '' : ', its Cluster collected'}: its provider node is gone when the process is`, async () => {
    const app = `leftover${apps++}`
    const result = await runFixture('leftover-child.js', [suite.zk.connectString, app, mode], LIMIT_MS)
    assert.equal(result.code, 0, result.err)
    assert.deepEqual(await zkLs(suite.zk.connectString, `/lemonhjuice/${app}/leftover/providers`), [])
    assert.deepEqual(await zkLs(suite.zk.connectString, `/lemonhjuice/${app}/leftover/consumers`), [])
  })
}
