'use strict'
// A 3-node ZooKeeper ensemble on loopback loses its leader, then a second node (no quorum at
// all), and both come back — under a steady load of calls (and of configuration reads). No call
// fails, the provider nodes are all still there afterwards, reads never see the configuration
// vanish or go back, and updates written during and after the failover arrive.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { Cluster } = require('..')
const { zkLs, zkCreate, zkSet } = require('../harness/zookeeper')
const { zooKeeperForFile } = require('./harness/file')
const { startProvider, waitFor } = require('./harness/providers')
const { openStore } = require('./harness/config')

const suite = zooKeeperForFile({ ensemble: 3 })
const { cleanups } = suite

const { sleep } = require('../harness/wait')

test('leader killed, then a second node, then both restarted: zero failed calls', { timeout: 120000 }, async () => {
  const servers = []
  for (let i = 0; i < 3; i++) {
    const s = await startProvider()
    cleanups.push(() => s.close())
    servers.push(s)
  }
  const providerSide = new Cluster({ zk: suite.zk.connectString, host: '127.0.0.1', sessionTimeoutMs: 15000 })
  const consumerSide = new Cluster({ zk: suite.zk.connectString, host: '127.0.0.1', sessionTimeoutMs: 15000 })
  cleanups.push(
    () => providerSide.close(),
    () => consumerSide.close(),
  )
  for (const s of servers) await providerSide.provide({ app: 'ens', group: 'g', port: s.port })
  const consumer = consumerSide.consumer({ app: 'ens', group: 'g' })
  await waitFor(() => consumer.providers().length === 3, { what: '3 providers' })

  const stats = { ok: 0, failed: [] }
  let stop = false
  const loop = async () => {
    for (let i = 0; i < 1e6 && !stop; i++) {
      try {
        await consumer.call('m', { i })
        stats.ok++
      } catch (e) {
        stats.failed.push(`${e.code}: ${e.message}`)
      }
      await sleep(2)
    }
  }
  const loops = [loop(), loop(), loop(), loop()]

  await sleep(500)
  const leader = await suite.zk.leader()
  assert.ok(leader, 'a leader')
  await leader.kill()
  const next = await suite.zk.leader({ timeoutMs: 15000 })
  assert.ok(next && next !== leader, 'a new leader among the other two')
  await sleep(1000)
  await next.kill() // one of three left: no quorum, ZooKeeper is unavailable
  await sleep(2000)
  assert.equal(consumer.providers().length, 3, 'the last known list stays in use without a quorum')
  await leader.start()
  await next.start()
  assert.ok(await suite.zk.leader({ timeoutMs: 15000 }), 'quorum again')
  await sleep(1500)
  stop = true
  await Promise.all(loops)

  assert.deepEqual(stats.failed.slice(0, 5), [])
  assert.ok(stats.ok > 200, `${stats.ok} calls`)
  // Checked from outside, against each member in turn.
  for (const member of suite.zk.servers) {
    await waitFor(async () => (await zkLs(member.connectString, '/lemonhjuice/ens/g/providers'))?.length === 3, {
      timeoutMs: 20000,
      what: `3 provider nodes on member ${member.id}`,
    })
  }
  assert.equal(consumer.providers().length, 3)
})

test('config reads during the failover never fail; updates written during and after it arrive', { timeout: 120000 }, async () => {
  const cs = suite.zk.connectString
  await zkCreate(cs, '/ens-config', JSON.stringify({ a: { n: 0 }, stable: 'yes' }))
  const servers = []
  for (let i = 0; i < 3; i++) {
    const s = await startProvider()
    cleanups.push(() => s.close())
    servers.push(s)
  }
  const cluster = new Cluster({ zk: cs, host: '127.0.0.1', sessionTimeoutMs: 15000 })
  cleanups.push(() => cluster.close())
  for (const s of servers) await cluster.provide({ app: 'ensc', group: 'g', port: s.port })
  const consumer = cluster.consumer({ app: 'ensc', group: 'g' })
  await waitFor(() => consumer.providers().length === 3, { what: '3 providers' })
  const { conf, store, updates } = openStore({ host: cs, name: 'ens-config', sessionTimeoutMs: 15000 })
  cleanups.push(() => store.close())
  await waitFor(() => conf.get('stable') === 'yes', { what: 'the configuration' })

  const stats = { calls: 0, reads: 0, failed: [] }
  let stop = false
  const calls = async () => {
    for (let i = 0; i < 1e6 && !stop; i++) {
      try {
        await consumer.call('m', { i })
        stats.calls++
      } catch (e) {
        stats.failed.push(`${e.code}: ${e.message}`)
      }
      await sleep(2)
    }
  }
  // Reads: the document never vanishes, and `a:n` never goes back to an older version.
  let lastN = 0
  const reads = async () => {
    for (let i = 0; i < 1e6 && !stop; i++) {
      try {
        const n = conf.get('a:n')
        if (conf.get('stable') !== 'yes' || typeof n !== 'number' || n < lastN) stats.failed.push(`read ${conf.get()}`)
        lastN = n
        stats.reads++
      } catch (e) {
        stats.failed.push(`read threw ${e.message}`)
      }
      await sleep(1)
    }
  }
  const loops = [calls(), calls(), reads()]
  // The time from the start of an outside write (zkCli.sh, JVM start included) to its update in
  // the store: an upper bound, the update usually arrives before zkCli.sh has exited.
  const arrival = {}
  const write = async (n) => {
    const live = []
    for (const s of suite.zk.servers) if (s.running && ['leader', 'follower'].includes(await s.mode())) live.push(s)
    const written = Date.now()
    await zkSet(live[0].connectString, '/ens-config', JSON.stringify({ a: { n }, stable: 'yes' }))
    await waitFor(() => updates.some((u) => u.changes.some((c) => c.key === 'a:n' && c.new === n)), {
      timeoutMs: 15000,
      what: `update n=${n}`,
    })
    arrival[n] = Date.now() - written
  }

  await sleep(500)
  const leader = await suite.zk.leader()
  await leader.kill()
  const next = await suite.zk.leader({ timeoutMs: 15000 })
  assert.ok(next && next !== leader, 'a new leader among the other two')
  await write(1) // during the failover: two of three members, a new leader
  await next.kill() // no quorum: writes cannot be made, reads go on from the last version
  await sleep(2000)
  assert.equal(conf.get('a:n'), 1)
  await leader.start()
  await next.start()
  assert.ok(await suite.zk.leader({ timeoutMs: 15000 }), 'quorum again')
  await write(2) // the write held back during the quorum loss, made as soon as there is one
  await sleep(1500)
  await write(3) // after recovery
  stop = true
  await Promise.all(loops)

  console.log(`update arrival from the start of the write (ms): ${JSON.stringify(arrival)}; ${stats.calls} calls, ${stats.reads} reads`)
  assert.deepEqual(stats.failed.slice(0, 5), [])
  assert.ok(stats.calls > 200 && stats.reads > 1000, `${stats.calls} calls, ${stats.reads} reads`)
  assert.deepEqual(
    updates.flatMap((u) => u.changes.filter((c) => c.key === 'a:n').map((c) => c.new)),
    [1, 2, 3],
    'each update once, in order',
  )
  for (const ms of Object.values(arrival)) assert.ok(ms < 10000, `arrived after ${ms} ms`)
})
