'use strict'
// A 3-node ZooKeeper ensemble on loopback loses its leader, then a second node (no quorum at
// all), and both come back — under a steady load of calls. No call fails, and the provider nodes
// are all still there afterwards.

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const { Cluster } = require('..')
const { startEnsemble, zkLs } = require('./harness/zookeeper')
const { startProvider, waitFor } = require('./harness/providers')

let ensemble
const cleanups = []
before(async () => {
  ensemble = await startEnsemble(3)
})
after(async () => {
  for (const c of cleanups.reverse()) await c()
  await ensemble.cleanup()
})

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

test('leader killed, then a second node, then both restarted: zero failed calls', { timeout: 120000 }, async () => {
  const servers = []
  for (let i = 0; i < 3; i++) {
    const s = await startProvider()
    cleanups.push(() => s.close())
    servers.push(s)
  }
  const providerSide = new Cluster({ zk: ensemble.connectString, host: '127.0.0.1', sessionTimeoutMs: 15000 })
  const consumerSide = new Cluster({ zk: ensemble.connectString, host: '127.0.0.1', sessionTimeoutMs: 15000 })
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
  const leader = await ensemble.leader()
  assert.ok(leader, 'a leader')
  await leader.kill()
  const next = await ensemble.leader({ timeoutMs: 15000 })
  assert.ok(next && next !== leader, 'a new leader among the other two')
  await sleep(1000)
  await next.kill() // one of three left: no quorum, ZooKeeper is unavailable
  await sleep(2000)
  assert.equal(consumer.providers().length, 3, 'the last known list stays in use without a quorum')
  await leader.start()
  await next.start()
  assert.ok(await ensemble.leader({ timeoutMs: 15000 }), 'quorum again')
  await sleep(1500)
  stop = true
  await Promise.all(loops)

  assert.deepEqual(stats.failed.slice(0, 5), [])
  assert.ok(stats.ok > 200, `${stats.ok} calls`)
  // Checked from outside, against each member in turn.
  for (const member of ensemble.servers) {
    await waitFor(async () => (await zkLs(member.connectString, '/lemonhjuice/ens/g/providers'))?.length === 3, {
      timeoutMs: 20000,
      what: `3 provider nodes on member ${member.id}`,
    })
  }
  assert.equal(consumer.providers().length, 3)
})
