'use strict'

// Tests of the real-ZooKeeper harness itself (and, through it, proof that the
// Debian ZooKeeper server and zkCli.sh behave as the other tests assume).

const { describe, test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const net = require('node:net')

const {
  startZooKeeper,
  startEnsemble,
  freePort,
  fourLetterWord,
  zkCli,
  zkGet,
  zkLs,
  zkSet,
  zkCreate,
  zkDelete,
} = require('../harness/zookeeper')

const { sleep } = require('../harness/wait')

/** Poll fn() until it returns a truthy value; bounded in time and count. */
async function waitFor(fn, { timeoutMs = 10000, intervalMs = 100, what = 'condition' } = {}) {
  const deadline = Date.now() + timeoutMs
  let last
  for (let i = 0; i < 1000 && Date.now() < deadline; i++) {
    last = await fn()
    if (last) return last
    await sleep(intervalMs)
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${JSON.stringify(last)})`)
}

test('freePort returns a bindable loopback port', async () => {
  const port = await freePort()
  assert.ok(Number.isInteger(port) && port > 0 && port < 65536)
  const srv = net.createServer()
  await new Promise((resolve, reject) => srv.once('error', reject).listen(port, '127.0.0.1', resolve))
  await new Promise((resolve) => srv.close(resolve))
})

describe('standalone server', { timeout: 60000 }, () => {
  let zk
  before(async () => {
    zk = await startZooKeeper()
  })
  after(async () => {
    if (zk) await zk.cleanup()
  })

  test('server object and four-letter words', async () => {
    assert.equal(zk.host, '127.0.0.1')
    assert.equal(zk.connectString, `127.0.0.1:${zk.port}`)
    assert.ok(zk.pid > 0)
    assert.equal(await zk.mode(), 'standalone')
    assert.equal(await fourLetterWord(zk.port, 'ruok'), 'imok')
  })

  test('zkCreate / zkGet / zkSet / zkLs round trip through the real zkCli', async () => {
    const cs = zk.connectString
    const value = '{"port":"20080","gray":"false"}'
    const created = await zkCreate(cs, '/lemon/services/demo/providers/node-1', value, { parents: true })
    assert.equal(created, '/lemon/services/demo/providers/node-1')
    assert.equal(await zkGet(cs, '/lemon/services/demo/providers/node-1'), value)
    assert.deepEqual(JSON.parse(await zkGet(cs, '/lemon/services/demo/providers/node-1')), { port: '20080', gray: 'false' })

    // spaces, quotes and a leading dash survive (execve, no shell; `--` guard)
    const spaced = '{"port": "20081", "gray": "true", "note": "a  b"}'
    await zkSet(cs, '/lemon/services/demo/providers/node-1', spaced)
    assert.equal(await zkGet(cs, '/lemon/services/demo/providers/node-1'), spaced)
    await zkSet(cs, '/lemon/services/demo', '-dash\nsecond line')
    assert.equal(await zkGet(cs, '/lemon/services/demo'), '-dash\nsecond line')

    assert.deepEqual(await zkLs(cs, '/lemon/services/demo/providers'), ['node-1'])
    assert.deepEqual(await zkLs(cs, '/lemon/services/demo/providers/node-1'), [])
    assert.equal(await zkLs(cs, '/does/not/exist'), null)
    assert.equal(await zkGet(cs, '/does/not/exist'), null)
    assert.equal(await zkGet(cs, '/lemon'), '') // created without data

    await assert.rejects(zkSet(cs, '/does/not/exist', 'x'), (e) => e.code === 'NONODE')
    await assert.rejects(zkCreate(cs, '/lemon', 'x'), (e) => e.code === 'NODEEXISTS')

    const raw = await zkCli(cs, 'ls', '/lemon/services')
    assert.equal(raw.code, 0)
    assert.match(raw.stdout, /^\[demo\]$/m)
  })

  test('an ephemeral node made by zkCli lives until its session expires', async () => {
    const cs = zk.connectString
    await zkCreate(cs, '/eph', 'x', { ephemeral: true, sessionTimeoutMs: 1000 })
    await waitFor(async () => (await zkGet(cs, '/eph')) === null, { timeoutMs: 15000, intervalMs: 200, what: '/eph to expire' })
    assert.equal(await zkDelete(cs, '/eph'), false)
  })

  test('stop() then start() on the same port keeps the data', async () => {
    const { port, dataDir } = zk
    const firstPid = zk.pid
    await zk.stop()
    assert.equal(await zk.mode(), null)
    assert.equal(await fourLetterWord(port, 'ruok'), null)

    await zk.start()
    assert.equal(zk.port, port)
    assert.equal(zk.dataDir, dataDir)
    assert.notEqual(zk.pid, firstPid)
    assert.equal(await zk.mode(), 'standalone')
    assert.equal(
      await zkGet(zk.connectString, '/lemon/services/demo/providers/node-1'),
      '{"port": "20081", "gray": "true", "note": "a  b"}',
    )
  })

  test('kill() then start() recovers too', async () => {
    await zk.kill()
    assert.equal(await zk.mode(), null)
    await zk.start()
    assert.equal(await zk.mode(), 'standalone')
    assert.deepEqual(await zkLs(zk.connectString, '/lemon/services'), ['demo'])
  })
})

describe('3-node ensemble', { timeout: 60000 }, () => {
  let ens
  before(async () => {
    ens = await startEnsemble(3)
  })
  after(async () => {
    if (ens) await ens.cleanup()
  })

  test('all members serve and exactly one is leader', async () => {
    assert.equal(ens.servers.length, 3)
    const ports = ens.servers.map((s) => s.port)
    assert.equal(new Set(ports).size, 3)
    assert.equal(ens.connectString, ports.map((p) => `127.0.0.1:${p}`).join(','))
    const modes = await ens.modes()
    assert.equal(modes.filter((m) => m === 'leader').length, 1, `modes: ${modes}`)
    assert.equal(modes.filter((m) => m === 'follower').length, 2, `modes: ${modes}`)
    const leader = await ens.leader()
    assert.equal(await leader.mode(), 'leader')
  })

  test('writes are replicated to every member', async () => {
    await zkCreate(ens.connectString, '/replicated', '{"port":"20080","gray":"false"}')
    for (const s of ens.servers) {
      // a follower may lag a little behind the commit
      await waitFor(async () => (await zkGet(s.connectString, '/replicated')) === '{"port":"20080","gray":"false"}', {
        timeoutMs: 5000,
        intervalMs: 100,
        what: `/replicated on member ${s.id}`,
      })
    }
  })

  test('killing the leader elects a new one among the other two; the old one rejoins', async () => {
    const oldLeader = await ens.leader()
    assert.ok(oldLeader)
    await oldLeader.kill()
    assert.equal(await oldLeader.mode(), null)

    const newLeader = await waitFor(
      async () => {
        const l = await ens.leader({ timeoutMs: 0 })
        return l && l !== oldLeader ? l : null
      },
      { timeoutMs: 15000, what: 'a new leader' },
    )
    assert.notEqual(newLeader.id, oldLeader.id)
    const modes = await ens.modes()
    assert.deepEqual(modes.filter(Boolean).sort(), ['follower', 'leader'], `modes: ${modes}`)

    // the surviving quorum still serves the data and accepts writes
    const survivors = ens.servers
      .filter((s) => s !== oldLeader)
      .map((s) => s.connectString)
      .join(',')
    assert.equal(await zkGet(survivors, '/replicated'), '{"port":"20080","gray":"false"}')
    await zkSet(survivors, '/replicated', 'after-failover')

    // the old leader comes back as a follower and catches up
    await oldLeader.start()
    assert.equal(await oldLeader.mode(), 'follower')
    assert.equal(await zkGet(oldLeader.connectString, '/replicated'), 'after-failover')
  })
})
