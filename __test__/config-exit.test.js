'use strict'
// After close() (or nconf.remove()) nothing of the store keeps Node's event loop alive, even
// with listeners attached and a session still trying to reconnect. nconf-zookeeper had no
// close(): its process never exited.

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { startZooKeeper, freePort, zkGet } = require('./harness/zookeeper')

let zk
before(async () => {
  zk = await startZooKeeper()
})
after(async () => {
  await zk.cleanup()
})

function runChild(args, limitMs) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, 'fixtures', 'config-exit-child.js'), ...args], {
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

for (const mode of ['close', 'remove']) {
  test(`the process exits on its own after ${mode === 'close' ? 'store.close()' : 'nconf.remove()'}`, async () => {
    const dead = `127.0.0.1:${await freePort()}`
    const result = await runChild([zk.connectString, dead, mode], 30000)
    assert.equal(result.signal, null, `killed: the process did not exit by itself\n${result.out}\n${result.err}`)
    assert.equal(result.code, 0, result.err)
    const closedAt = Number(/closed (\d+)/.exec(result.out)[1])
    assert.ok(result.exitedAt - closedAt < 3000, `exited ${result.exitedAt - closedAt} ms after closing`)
    assert.equal(await zkGet(zk.connectString, '/exit-test'), '{"written":true}')
  })
}
