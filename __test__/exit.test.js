'use strict'
// The process must exit: after close() nothing of lemon-cluster keeps Node's event loop alive,
// and the ephemeral nodes are gone by the time the process has exited.

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { startZooKeeper, zkLs } = require('./harness/zookeeper')

let zk
before(async () => {
  zk = await startZooKeeper()
})
after(async () => {
  await zk.cleanup()
})

function runChild(args, limitMs) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, 'fixtures', 'exit-child.js'), ...args], {
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

test('a child that connects, provides, calls and closes exits on its own within 2 s, its node already gone', async () => {
  const group = 'exit'
  const result = await runChild([zk.connectString, 'exitapp', group], 30000)
  assert.equal(result.signal, null, `killed: the process did not exit by itself\n${result.err}`)
  assert.equal(result.code, 0, result.err)
  const closedAt = Number(/closed (\d+)/.exec(result.out)[1])
  const lingerMs = result.exitedAt - closedAt
  assert.ok(lingerMs < 2000, `exited ${lingerMs} ms after close()`)

  const providers = await zkLs(zk.connectString, `/lemonhjuice/exitapp/${group}/providers`)
  const consumers = await zkLs(zk.connectString, `/lemonhjuice/exitapp/${group}/consumers`)
  assert.deepEqual(providers, [], 'the provider node vanished with close(), not after the 20 s session timeout')
  assert.deepEqual(consumers, [], 'the consumer node too')
})
