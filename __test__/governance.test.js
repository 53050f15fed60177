'use strict'
// Gray routing and runtime governance end to end: rules and overrides written with Debian's
// zkCli.sh into {root}/{app}/{group}/routers and /configurators reach running consumers.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { serviceHarness, rejection } = require('./harness/service')
const { waitFor } = require('./harness/providers')
const { zkCreate, zkSet, zkDelete } = require('../harness/zookeeper')

const h = serviceHarness('gov')

async function grayService(group) {
  const cluster = h.cluster()
  const normal = await h.providers(cluster, group, 2)
  const [gray] = await h.providers(cluster, group, 1, {}, { gray: true })
  const consumer = await h.consumer(cluster, group, 3, { warmupMs: 0 })
  return { cluster, normal, gray, consumer }
}

test('without a rule an unmarked request never reaches the gray provider; a marked one does', async () => {
  const { normal, gray, consumer } = await grayService('lanes')
  for (let i = 0; i < 200; i++) await consumer.call('get', { i })
  assert.equal(gray.hits, 0)
  assert.equal(normal[0].hits + normal[1].hits, 200)
  for (let i = 0; i < 10; i++) assert.equal((await consumer.call('get', {}, { gray: true })).port, gray.port)
  // A gray request with no gray provider up falls back to the normal ones.
  await gray.registration.close()
  await waitFor(() => consumer.providers().length === 2, { what: 'the gray provider gone' })
  assert.notEqual((await consumer.call('get', {}, { gray: true })).port, gray.port)
})

test('gray rule at 10 %: about 10 % reach the gray provider; changed live with zkCli; bad JSON keeps it', async () => {
  const group = 'percent'
  const { normal, gray, consumer, cluster } = await grayService(group)
  const warnings = []
  cluster.on('warning', (w) => warnings.push(w))
  const routers = `${h.base(group)}/routers`
  await zkCreate(h.zk.connectString, routers, JSON.stringify({ gray: { percent: 10 } }))
  await waitFor(
    async () => {
      await consumer.call('probe')
      return gray.hits > 0
    },
    { timeoutMs: 10000, what: 'the rule to apply' },
  )
  const before = gray.hits
  const calls = 2000
  for (let i = 0; i < calls; i++) await consumer.call('get', { i })
  const share = (gray.hits - before) / calls
  // Binomial(2000, 0.1): σ ≈ 0.0067; ± 0.035 is over 5 σ.
  assert.ok(Math.abs(share - 0.1) < 0.035, `gray share ${share}`)
  // Explicitly unmarked requests never go gray, whatever the rule.
  const g = gray.hits
  for (let i = 0; i < 200; i++) await consumer.call('get', {}, { gray: false })
  assert.equal(gray.hits, g)

  // Changed live: all traffic gray.
  await zkSet(h.zk.connectString, routers, JSON.stringify({ gray: { percent: 100 } }))
  await waitFor(async () => (await consumer.call('get')).port === gray.port && (await consumer.call('get')).port === gray.port, {
    timeoutMs: 10000,
    what: 'percent 100 live',
  })
  // Malformed: reported, the previous rule stays.
  await zkSet(h.zk.connectString, routers, '{"gray": {"percent": ')
  await waitFor(() => warnings.some((w) => w.code === 'ERR_BAD_ROUTER'), { what: 'the bad-rule warning' })
  assert.match(warnings.find((w) => w.code === 'ERR_BAD_ROUTER').message, /not JSON/)
  for (let i = 0; i < 20; i++) assert.equal((await consumer.call('get')).port, gray.port)

  // force: a gray request with no gray provider fails instead of falling back.
  await zkSet(h.zk.connectString, routers, JSON.stringify({ gray: { percent: 100, force: true } }))
  await gray.registration.close()
  await waitFor(() => consumer.providers().length === 2, { what: 'the gray provider gone' })
  await waitFor(async () => (await consumer.call('get').catch((e) => e)).code === 'ERR_NO_PROVIDER', {
    timeoutMs: 10000,
    what: 'force to apply',
  })
  const e = await rejection(consumer.call('get'))
  assert.match(e.message, /force/)
  // Rule deleted: back to normal providers.
  await zkDelete(h.zk.connectString, routers)
  await waitFor(async () => (await consumer.call('get').catch(() => ({}))).port !== undefined, {
    timeoutMs: 10000,
    what: 'rule removed',
  })
  assert.ok(normal[0].hits + normal[1].hits > 0)
})

test('sticky key share and consumer hosts', async () => {
  const group = 'sticky'
  const { gray, consumer } = await grayService(group)
  const routers = `${h.base(group)}/routers`
  await zkCreate(h.zk.connectString, routers, JSON.stringify({ gray: { keyPercent: 30 } }))
  await waitFor(
    async () => {
      for (let u = 0; u < 20; u++) if ((await consumer.call('get', {}, { hashKey: `user-${u}` })).port === gray.port) return true
      return false
    },
    { timeoutMs: 10000, what: 'the sticky rule' },
  )
  let grayUsers = 0
  for (let u = 0; u < 300; u++) {
    const first = (await consumer.call('get', {}, { hashKey: `user-${u}` })).port === gray.port
    for (let k = 0; k < 2; k++) {
      const again = (await consumer.call('get', {}, { hashKey: `user-${u}` })).port === gray.port
      assert.equal(again, first, `user-${u} stays on one side`)
    }
    if (first) grayUsers++
  }
  assert.ok(Math.abs(grayUsers / 300 - 0.3) < 0.1, `${grayUsers} of 300 users gray`)
  const g = gray.hits
  for (let i = 0; i < 50; i++) await consumer.call('get') // no key: the key share does not apply
  assert.equal(gray.hits, g)
  await zkSet(h.zk.connectString, routers, JSON.stringify({ gray: { hosts: ['127.0.0.1'] } }))
  await waitFor(async () => (await consumer.call('get')).port === gray.port, { timeoutMs: 10000, what: 'hosts rule' })
  for (let i = 0; i < 20; i++) assert.equal((await consumer.call('get')).port, gray.port)
})

test('version routing: a consumer with a version never sees other versions', async () => {
  const group = 'versions'
  const cluster = h.cluster()
  const [v1] = await h.providers(cluster, group, 1, {}, { version: 'V1' })
  const [v2] = await h.providers(cluster, group, 1, {}, { version: 'V2' })
  const c1 = await h.consumer(cluster, group, 1, { version: 'V1' })
  for (let i = 0; i < 20; i++) assert.equal((await c1.call('get')).port, v1.port)
  assert.equal(v2.hits, 0)
})

test('configurators: forced degradation on and off, disabled providers, weight and service overrides', async () => {
  const group = 'config'
  const cluster = h.cluster()
  const ps = await h.providers(cluster, group, 2)
  const seen = []
  const consumer = await h.consumer(cluster, group, 2, { warmupMs: 0 })
  const withFn = await h.consumer(cluster, group, 2, {
    fallback: (method, args, error) => {
      seen.push(error.code)
      return 'from-function'
    },
  })
  const configurators = `${h.base(group)}/configurators`
  await zkCreate(h.zk.connectString, configurators, JSON.stringify({ service: { force: true, fallback: { degraded: true } } }))
  await waitFor(async () => (await consumer.call('get')).degraded === true, { timeoutMs: 10000, what: 'force on' })
  const hits = ps[0].hits + ps[1].hits
  for (let i = 0; i < 20; i++) assert.deepEqual(await consumer.call('get'), { degraded: true })
  assert.deepEqual(await withFn.call('get'), { degraded: true }, "the configurator's fallback value wins")
  assert.equal(ps[0].hits + ps[1].hits, hits, 'no provider called while forced')

  await zkSet(h.zk.connectString, configurators, JSON.stringify({ service: { force: true } }))
  await waitFor(async () => (await consumer.call('get')) === null, { timeoutMs: 10000, what: 'force without a value' })
  assert.equal(await withFn.call('get'), 'from-function')
  assert.deepEqual(seen, ['ERR_DEGRADED'])

  // Off again, with provider 0 disabled.
  await zkSet(h.zk.connectString, configurators, JSON.stringify({ providers: { [ps[0].address]: { disabled: true } } }))
  await waitFor(async () => (await consumer.call('get'))?.port === ps[1].port, { timeoutMs: 10000, what: 'force off' })
  const h0 = ps[0].hits
  for (let i = 0; i < 20; i++) assert.equal((await consumer.call('get')).port, ps[1].port)
  assert.equal(ps[0].hits, h0)

  // Weight override 300 vs 100 and a service-level balancer and retries override.
  await zkSet(
    h.zk.connectString,
    configurators,
    JSON.stringify({ service: { loadBalance: 'roundrobin', retries: 0 }, providers: { [ps[0].address]: { weight: 300 } } }),
  )
  await waitFor(() => consumer.health().find((p) => p.address === ps[0].address).weight === 300, {
    timeoutMs: 10000,
    what: 'weight override',
  })
  const base = ps.map((p) => p.hits)
  for (let i = 0; i < 80; i++) await consumer.call('get', {}, { loadBalance: 'random' })
  assert.deepEqual(
    ps.map((p, i) => p.hits - base[i]),
    [60, 20],
    'the configurator’s roundrobin won over the call’s random, with the overridden weight',
  )

  // A malformed document keeps the previous overrides.
  const warnings = []
  cluster.on('warning', (w) => warnings.push(w))
  await zkSet(h.zk.connectString, configurators, JSON.stringify({ service: { retries: 'many' } }))
  await waitFor(() => warnings.some((w) => w.code === 'ERR_BAD_CONFIGURATOR'), { what: 'the warning' })
  assert.match(warnings.find((w) => w.code === 'ERR_BAD_CONFIGURATOR').message, /configurators\.service\.retries/)
  assert.equal(consumer.health().find((p) => p.address === ps[0].address).weight, 300)
})

test("a new consumer's very first call already obeys a forced degradation", async () => {
  const group = 'force-first'
  const cluster = h.cluster()
  const [p] = await h.providers(cluster, group, 1)
  await zkCreate(
    h.zk.connectString,
    `${h.base(group)}/configurators`,
    JSON.stringify({ service: { force: true, fallback: 'maintenance' } }),
  )
  for (let i = 0; i < 5; i++) {
    const consumer = cluster.consumer({ app: 'gov', group })
    assert.equal(await consumer.call('get'), 'maintenance')
    await consumer.close()
  }
  assert.equal(p.hits, 0)
})

test('after a session expiry the rules stay in force and their watches are re-armed', async () => {
  const group = 'expiry'
  const cluster = h.cluster({ sessionTimeoutMs: 1000, connectTimeoutMs: 1000 })
  const warnings = []
  cluster.on('warning', (w) => warnings.push(w))
  const [p] = await h.providers(cluster, group, 1)
  const consumer = await h.consumer(cluster, group, 1)
  const configurators = `${h.base(group)}/configurators`
  await zkCreate(h.zk.connectString, configurators, JSON.stringify({ service: { force: true, fallback: 'off' } }))
  await waitFor(async () => (await consumer.call('get')) === 'off', { timeoutMs: 10000, what: 'force on' })

  await h.zk.stop()
  const outageEnds = Date.now() + 2500
  for (let i = 0; i < 1000 && Date.now() < outageEnds; i++) {
    assert.equal(await consumer.call('get'), 'off', 'the last known overrides stay in force')
    await new Promise((r) => setTimeout(r, 20))
  }
  await h.zk.start()
  await waitFor(() => warnings.some((w) => w.code === 'ERR_ZK_SESSION_EXPIRED'), { timeoutMs: 15000, what: 'expiry' })

  // Changed in the new session: the re-armed watch sees it.
  const hits = p.hits
  await zkSet(h.zk.connectString, configurators, '{}')
  await waitFor(async () => (await consumer.call('get').catch(() => null))?.port === p.port, {
    timeoutMs: 15000,
    what: 'force off after the expiry',
  })
  assert.ok(p.hits > hits)
})
