'use strict'
// The services list (`Admin.services()`, the console's first page) from a registry watch: a
// listing with nothing changed costs a few requests instead of a read of every service, and it
// is never stale — a change is in the very next listing, also after reconnects and a session
// expiry (the watch re-armed).

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { Admin, Cluster } = require('..')
const { fourLetterWord } = require('../harness/zookeeper')
const { sleep, waitFor } = require('../harness/wait')
const { zooKeeperForFile, otherZooKeeperClient } = require('./harness/file')

const suite = zooKeeperForFile()

function cluster(options = {}) {
  const c = new Cluster({ zk: suite.zk.connectString, host: '127.0.0.1', cacheDir: false, ...options })
  c.on('warning', () => {})
  suite.cleanups.push(() => c.close())
  return c
}

function admin(options = {}) {
  const a = new Admin({ zk: suite.zk.connectString, ...options })
  suite.cleanups.push(() => a.close())
  return a
}

/** Requests the server has received so far (every client's). */
async function packets() {
  const mntr = await fourLetterWord(suite.zk.port, 'mntr')
  return Number(/zk_packets_received\s+(\d+)/.exec(mntr)[1])
}

const row = (list, app, group = 'g') => list.find((s) => s.app === app && s.group === group)

test('a listing with nothing changed reads a few nodes, not every service again', async () => {
  const c = cluster()
  for (let i = 0; i < 200; i += 50) {
    await Promise.all(Array.from({ length: 50 }, (_, j) => c.provide({ app: `many${i + j}`, group: 'g', port: 31000 + i + j })))
  }
  const a = admin()
  const first = await a.services()
  assert.equal(first.filter((s) => s.app.startsWith('many')).length, 200)
  const before = await packets()
  const again = await a.services()
  const used = (await packets()) - before
  assert.deepEqual(again, first)
  // Reading every service again is five requests each (~1,000 here).
  assert.ok(used < 30, `${used} requests for an unchanged listing of ${first.length} services`)
})

test('every change is in the very next listing: providers come and go, a consumer, a new app', async () => {
  const a = admin()
  const c = cluster()
  const { client, call } = await otherZooKeeperClient(suite.zk.connectString)
  suite.cleanups.push(() => client.close())
  await a.services()
  for (let round = 0; round < 5; round++) {
    const app = `fresh${round}`
    const reg = await c.provide({ app, group: 'g', port: 32000 + round })
    assert.equal(row(await a.services(), app)?.endpoints, 1, `round ${round}: the new service`)
    const reg2 = await c.provide({ app, group: 'g', port: 32100 + round })
    assert.equal(row(await a.services(), app).endpoints, 2, `round ${round}: its second endpoint`)
    c.consumer({ app, group: 'g' })
    // The consumer writes its node in the background: seen by another client first.
    await waitFor(async () => (await call('getChildren', `/lemonhjuice/${app}/g/consumers`).catch(() => [])).length === 1, {
      what: `round ${round}: the consumer node`,
    })
    assert.equal(row(await a.services(), app).consumers, 1, `round ${round}: its consumer`)
    await reg2.close()
    assert.equal(row(await a.services(), app).endpoints, 1, `round ${round}: the endpoint gone`)
    await reg.close()
    assert.equal(row(await a.services(), app).endpoints, 0, `round ${round}: no endpoint left`)
  }
})

test('after a reconnect and after the session expired, the listing still follows every change', async () => {
  const a = admin({ sessionTimeoutMs: 1000, connectTimeoutMs: 1000 })
  const c = cluster({ sessionTimeoutMs: 30000 })
  const reg = await c.provide({ app: 'outage', group: 'g', port: 33000 })
  assert.equal(row(await a.services(), 'outage').endpoints, 1)

  // A short outage (the admin's session survives it) and a long one (it expires).
  for (const [what, pause] of [
    ['reconnect', 200],
    ['expiry', 2500],
  ]) {
    await suite.zk.stop()
    await sleep(pause)
    await suite.zk.start()
    const listed = await waitFor(
      () =>
        a.services().then(
          (l) => l,
          () => false,
        ),
      { timeoutMs: 20000, what: `a listing after the ${what}` },
    )
    assert.equal(row(listed, 'outage').endpoints, 1, what)
    const more = await c.provide({ app: 'outage', group: 'g', port: 33001 })
    assert.equal(row(await a.services(), 'outage').endpoints, 2, `${what}: a provider added after it`)
    await more.close()
    assert.equal(row(await a.services(), 'outage').endpoints, 1, `${what}: and removed`)
  }
  await reg.close()
  assert.equal(row(await a.services(), 'outage').endpoints, 0)
})
