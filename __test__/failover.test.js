'use strict'
// Fault tolerance end to end: failover under kill -9, retry safety, deadlines, failfast,
// failsafe, fallback values and functions, forking, broadcast, failback, bulkheads.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { fork } = require('node:child_process')
const { serviceHarness, rejection, sleep } = require('./harness/service')
const { deadPort, waitFor } = require('./harness/providers')

const APP = 'ft'
const h = serviceHarness(APP)

function childProvider(group) {
  const child = fork(path.join(__dirname, 'fixtures', 'provider-child.js'), [h.zk.connectString, APP, group], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  })
  h.cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve({ child, port: m.port }))
    child.once('exit', (code) => reject(new Error(`provider child exited with ${code}`)))
  })
}

test('kill -9 of one of 3 providers during steady idempotent load: zero failed calls', async () => {
  const group = 'kill9'
  const children = await Promise.all([childProvider(group), childProvider(group), childProvider(group)])
  const cluster = h.cluster()
  const consumer = await h.consumer(cluster, group, 3, { idempotent: true, timeoutMs: 2000 })
  const victim = children[1]
  let ok = 0
  const failures = []
  const byPort = new Map()
  let stop = false
  const started = Date.now()
  const worker = async () => {
    for (let i = 0; i < 100000 && !stop && Date.now() - started < 20000; i++) {
      try {
        const r = await consumer.call('get', { i })
        ok++
        byPort.set(r.port, (byPort.get(r.port) || 0) + 1)
      } catch (e) {
        failures.push(`${e.code}: ${e.message}`)
      }
    }
  }
  const workers = [worker(), worker(), worker(), worker()]
  await waitFor(() => ok >= 200, { timeoutMs: 10000, what: '200 calls before the kill' })
  const beforeKill = byPort.get(victim.port) || 0
  assert.ok(beforeKill > 0, 'the victim took traffic before')
  process.kill(victim.child.pid, 'SIGKILL')
  const killedAt = ok
  await waitFor(() => ok >= killedAt + 400, { timeoutMs: 15000, what: '400 calls after the kill' })
  stop = true
  await Promise.all(workers)
  assert.deepEqual(failures, [], 'no call failed')
  const survivors = children.filter((c) => c !== victim).map((c) => byPort.get(c.port) || 0)
  assert.ok(
    survivors.every((n) => n > 100),
    `the two survivors share the load: ${survivors}`,
  )
  const victimHealth = consumer.health().find((p) => p.address === `127.0.0.1:${victim.port}`)
  if (victimHealth) assert.equal(victimHealth.breaker, 'open', 'the dead provider is ejected until its node goes')
})

test('retry safety: 5xx is retried only for idempotent methods; a connection refused always is', async () => {
  const group = 'safety'
  const cluster = h.cluster()
  const failing = await h.providers(cluster, group, 2, { status: 500, body: '{"e":1}' })
  const consumer = await h.consumer(cluster, group, 2, { idempotent: ['getX'] })

  const e = await rejection(consumer.call('putX', {}))
  assert.equal(e.code, 'ERR_PROVIDER_STATUS')
  assert.equal(failing[0].hits + failing[1].hits, 1, 'a non-idempotent call reached one provider, once')

  const e2 = await rejection(consumer.call('getX', {}))
  assert.equal(e2.code, 'ERR_PROVIDER_STATUS')
  assert.equal(failing[0].hits + failing[1].hits, 3, 'an idempotent call tried both, never one twice')

  // A provider whose port is closed: the request was never sent, so even putX moves on.
  const group2 = 'safety-connect'
  const cluster2 = h.cluster()
  const [alive] = await h.providers(cluster2, group2, 1)
  await cluster2.provide({ app: APP, group: group2, port: await deadPort() })
  const c2 = await h.consumer(cluster2, group2, 2, { loadBalance: 'roundrobin', warmupMs: 0 })
  for (let i = 0; i < 10; i++) assert.equal((await c2.call('putX', { i })).port, alive.port)
  assert.equal(alive.hits, 10)

  // A 4xx is a business answer: not retried, not degraded, even with a fallback.
  const group3 = 'safety-4xx'
  const cluster3 = h.cluster()
  const notFound = await h.providers(cluster3, group3, 2, { status: 404, body: '{"error":"no such movie"}' })
  const c3 = await h.consumer(cluster3, group3, 2, { idempotent: true, fallback: 'degraded' })
  const e3 = await rejection(c3.call('getMovie', { id: 1 }))
  assert.equal(e3.code, 'ERR_PROVIDER_STATUS')
  assert.equal(e3.status, 404)
  assert.equal(notFound[0].hits + notFound[1].hits, 1)
})

test('per-attempt timeout and overall deadline', async () => {
  const group = 'deadline'
  const cluster = h.cluster()
  await h.providers(cluster, group, 3, { delayMs: 3000 })
  const consumer = await h.consumer(cluster, group, 3, { idempotent: true, timeoutMs: 200, deadlineMs: 500 })
  const started = Date.now()
  const e = await rejection(consumer.call('slow', {}))
  const took = Date.now() - started
  assert.equal(e.code, 'ERR_TIMEOUT')
  assert.ok(took >= 450 && took < 2500, `stopped by the 500 ms deadline, not 3 × 200 + more: ${took} ms`)
  // Without a deadline, 3 attempts of 200 ms each.
  const t2 = Date.now()
  const e2 = await rejection(consumer.call('slow', {}, { deadlineMs: 10000 }))
  assert.equal(e2.code, 'ERR_TIMEOUT')
  assert.ok(Date.now() - t2 >= 580, 'three attempts')
})

test('fallback: a value or a function, only for non-business failures; failfast and failsafe', async () => {
  const group = 'fallback'
  const cluster = h.cluster()
  await cluster.provide({ app: APP, group, port: await deadPort() })
  const withValue = await h.consumer(cluster, group, 1, { fallback: { movies: [] } })
  assert.deepEqual(await withValue.call('list', { q: 1 }), { movies: [] })

  const seen = []
  const withFn = await h.consumer(cluster, group, 1, {
    fallback: (method, args, error) => {
      seen.push({ method, args, code: error.code, isError: error instanceof Error })
      return Promise.resolve({ from: 'fallback', method })
    },
  })
  assert.deepEqual(await withFn.call('list', { q: 2 }), { from: 'fallback', method: 'list' })
  assert.deepEqual(seen, [{ method: 'list', args: { q: 2 }, code: 'ERR_CONNECT', isError: true }])
  // A per-call fallback wins over the consumer's; a throwing fallback rejects with its error.
  assert.equal(await withFn.call('list', {}, { fallback: 7 }), 7)
  const thrown = await rejection(
    withFn.call(
      'list',
      {},
      {
        fallback: () => {
          throw new Error('fallback broke')
        },
      },
    ),
  )
  assert.equal(thrown.message, 'fallback broke')

  // No provider at all is a non-business failure too.
  const none = cluster.consumer({ app: APP, group: 'nobody-here', fallback: null })
  assert.equal(await none.call('x'), null)

  // failfast rejects; failsafe resolves with null and reports a warning.
  const plain = await h.consumer(cluster, group, 1, { cluster: 'failfast' })
  assert.equal((await rejection(plain.call('x'))).code, 'ERR_CONNECT')
  h.warnings = []
  assert.equal(await plain.call('x', {}, { cluster: 'failsafe' }), null)
  await waitFor(() => h.warnings.some((w) => w.code === 'ERR_CONNECT' && /failsafe/.test(w.message)), {
    what: 'the failsafe warning',
  })
})

test('forking takes the first success and cancels the rest; broadcast reaches everyone', async () => {
  const group = 'forking'
  const cluster = h.cluster()
  const [slow] = await h.providers(cluster, group, 1, { delayMs: 1500 })
  const [fast] = await h.providers(cluster, group, 1)
  const consumer = await h.consumer(cluster, group, 2, { cluster: 'forking', forks: 2, timeoutMs: 5000 })
  for (let i = 0; i < 4; i++) {
    const started = Date.now()
    const r = await consumer.call('get', {})
    assert.equal(r.port, fast.port)
    assert.ok(Date.now() - started < 1200, 'did not wait for the slow fork')
  }
  assert.equal(fast.hits, 4)
  await waitFor(() => consumer.health().every((p) => p.inflight === 0), { what: 'cancelled forks released' })

  const bgroup = 'broadcast'
  const all = await h.providers(cluster, bgroup, 3)
  const b = await h.consumer(cluster, bgroup, 3, { cluster: 'broadcast' })
  await b.call('evict', { key: 'k' })
  assert.deepEqual(
    all.map((p) => p.hits),
    [1, 1, 1],
  )
  all[1].set({ status: 500 })
  const e = await rejection(b.call('evict', {}))
  assert.equal(e.code, 'ERR_PROVIDER_STATUS')
  assert.deepEqual(
    all.map((p) => p.hits),
    [2, 2, 2],
    'every provider was called although one failed',
  )
  void slow
})

test('failback resolves at once and retries in the background; close() aborts pending retries', async () => {
  const group = 'failback'
  const cluster = h.cluster()
  const [p] = await h.providers(cluster, group, 1, { status: 503 })
  const consumer = await h.consumer(cluster, group, 1, {
    cluster: 'failback',
    idempotent: true,
    failbackDelayMs: 100,
    failbackRetries: 5,
  })
  assert.equal(await consumer.call('notify', { n: 1 }), null)
  assert.equal(p.hits, 1)
  assert.equal(consumer.pendingFailbacks, 1)
  p.set({})
  await waitFor(() => p.hits >= 2 && consumer.pendingFailbacks === 0, { what: 'the background retry' })
  // A non-idempotent failure that may have reached the provider is not retried.
  p.set({ status: 503 })
  const strict = await h.consumer(cluster, group, 1, { cluster: 'failback', failbackDelayMs: 100 })
  assert.equal(await strict.call('notify', {}), null)
  assert.equal(strict.pendingFailbacks, 0)
  // Pending retries are aborted by close.
  const slowRetry = await h.consumer(cluster, group, 1, { cluster: 'failback', idempotent: true, failbackDelayMs: 60000 })
  await slowRetry.call('notify', {})
  assert.equal(slowRetry.pendingFailbacks, 1)
  await slowRetry.close()
  await waitFor(() => slowRetry.pendingFailbacks === 0, { what: 'aborted retries' })
})

test('bulkheads: beyond maxConcurrent, ERR_OVERLOADED at once', async () => {
  const group = 'bulkhead'
  const cluster = h.cluster()
  await h.providers(cluster, group, 1, { delayMs: 400 })
  const consumer = await h.consumer(cluster, group, 1, { maxConcurrent: 2 })
  const first = [consumer.call('a'), consumer.call('b')]
  await sleep(50)
  const started = Date.now()
  const e = await rejection(consumer.call('c'))
  assert.equal(e.code, 'ERR_OVERLOADED')
  assert.ok(Date.now() - started < 300, 'refused at once, not queued')
  await Promise.all(first)
  await consumer.call('d')

  const perProvider = await h.consumer(cluster, group, 1, { maxConcurrentPerProvider: 1, fallback: 'busy' })
  const one = perProvider.call('a')
  await sleep(50)
  assert.equal(await perProvider.call('b'), 'busy', 'overload is degradable')
  await one
})
