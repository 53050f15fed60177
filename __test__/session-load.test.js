'use strict'
// Session expiry under load: both sides' sessions (the providers' registrations and the
// consumer) expire while calls are in flight. Calls continue on the last known list with zero
// failures; from outside (ZooKeeper's own four-letter words, not the client) the ephemeral nodes
// and the consumer's watch are back within 2 s of each new session being established, and the
// re-armed watch reports a provider that arrives afterwards.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { Cluster } = require('..')
const { zooKeeperForFile } = require('./harness/file')
const { fourLetterWord } = require('../harness/zookeeper')
const { startProvider, waitFor } = require('./harness/providers')

const suite = zooKeeperForFile()
const { cleanups } = suite

function newCluster() {
  const cluster = new Cluster({ zk: suite.zk.connectString, host: '127.0.0.1', sessionTimeoutMs: 1000, connectTimeoutMs: 1000 })
  cluster.on('warning', () => {})
  cleanups.push(() => cluster.close())
  return cluster
}

const word = (w) => fourLetterWord(suite.zk.port, w, { timeoutMs: 1000 }).then((out) => out || '')

/** `cons`: when each session's connection was established (server clock, ms since the epoch). */
async function established() {
  const out = new Map()
  for (const m of (await word('cons')).matchAll(/sid=(0x[0-9a-f]+)[^)]*?est=(\d+)/g)) out.set(m[1], Number(m[2]))
  return out
}

/** `dump` (ephemerals) or `wchc` (watches): the paths listed under each session id. */
function bySession(text) {
  const out = new Map()
  let sid = null
  for (const line of text.split('\n')) {
    const head = /^(0x[0-9a-f]+):?$/.exec(line.trim())
    if (head && !line.startsWith('\t')) sid = head[1]
    else if (line.startsWith('\t/') && sid) out.set(sid, [...(out.get(sid) || []), line.trim()])
    else if (!line.startsWith('\t')) sid = null
  }
  return out
}

test('sessions expire under steady load: zero failed calls, nodes and watches back within 2 s', { timeout: 90000 }, async () => {
  const app = 'expiry-load'
  const group = 'svc'
  const folder = `/lemonhjuice/${app}/${group}`
  const servers = await Promise.all([startProvider(), startProvider(), startProvider()])
  for (const s of servers) cleanups.push(() => s.close())
  const providerSide = newCluster()
  const consumerSide = newCluster()
  for (const s of servers) await providerSide.provide({ app, group, port: s.port })
  const consumer = consumerSide.consumer({ app, group, timeoutMs: 2000 })
  await waitFor(() => consumer.providers().length === 3, { what: '3 providers' })
  const owners = async () => bySession((await word('dump')).split('Connections dump')[0])
  await waitFor(async () => [...(await owners()).values()].flat().some((p) => p.startsWith(`${folder}/consumers/`)), {
    what: 'the consumer node',
  })
  const oldSessions = new Set((await owners()).keys())

  let ok = 0
  const failures = []
  let stop = false
  const started = Date.now()
  const worker = async () => {
    for (let i = 0; i < 100000 && !stop && Date.now() - started < 60000; i++) {
      try {
        await consumer.call('m', { i })
        ok++
      } catch (e) {
        failures.push(`${e.code}: ${e.message}`)
      }
      await new Promise((r) => setTimeout(r, 5))
    }
  }
  const workers = [worker(), worker()]
  await waitFor(() => ok >= 50, { what: '50 calls before the outage' })

  // Longer than the session timeout: both clients declare their sessions expired.
  await suite.zk.stop()
  const okBeforeOutage = ok
  await new Promise((r) => setTimeout(r, 2500))
  await suite.zk.start()
  assert.ok(ok > okBeforeOutage, 'calls went on while ZooKeeper was down')

  // Watch from outside until both new sessions have their nodes and the consumer its watch.
  const seen = { providers: null, consumer: null, watch: null }
  const est = new Map()
  let providerSid = null
  let consumerSid = null
  const deadline = Date.now() + 20000
  for (let i = 0; i < 2000 && Date.now() < deadline && !(seen.providers && seen.consumer && seen.watch); i++) {
    const now = Date.now()
    for (const [sid, t] of await established()) if (!oldSessions.has(sid)) est.set(sid, t)
    for (const [sid, paths] of await owners()) {
      if (oldSessions.has(sid)) continue
      if (!seen.providers && paths.filter((p) => p.startsWith(`${folder}/providers/`)).length === 3) {
        seen.providers = now
        providerSid = sid
      }
      if (!seen.consumer && paths.some((p) => p.startsWith(`${folder}/consumers/`))) {
        seen.consumer = now
        consumerSid = sid
      }
    }
    if (consumerSid && !seen.watch && (bySession(await word('wchc')).get(consumerSid) || []).includes(`${folder}/providers`)) {
      seen.watch = now
    }
    await new Promise((r) => setTimeout(r, 10))
  }
  assert.ok(seen.providers && seen.consumer && seen.watch, `everything came back: ${JSON.stringify(seen)}`)
  assert.notEqual(providerSid, consumerSid)
  assert.ok(est.has(providerSid) && est.has(consumerSid), 'both new sessions seen connected')
  const lag = {
    providerNodes: seen.providers - est.get(providerSid),
    consumerNode: seen.consumer - est.get(consumerSid),
    consumerWatch: seen.watch - est.get(consumerSid),
  }
  console.log(`after each new session (ms, sampled every ~20 ms): ${JSON.stringify(lag)}`)
  for (const [what, ms] of Object.entries(lag)) assert.ok(ms <= 2000, `${what} back ${ms} ms after the new session`)

  // The re-armed watch reports a provider that arrives now.
  const late = await startProvider()
  cleanups.push(() => late.close())
  const changes = []
  const off = consumer.on('change', (c) => changes.push(c))
  await newCluster().provide({ app, group, port: late.port })
  await waitFor(() => changes.some((c) => c.added.some((p) => p.port === late.port)), { what: 'the change event of the late provider' })
  off()
  await waitFor(() => late.hits > 0, { timeoutMs: 10000, what: 'a call to the late provider' })

  stop = true
  await Promise.all(workers)
  assert.deepEqual(failures, [], 'no call failed')
  assert.ok(ok > 200, `${ok} calls`)
})
