'use strict'
// The consumer's keep-alive connection pool (crates/core/src/transport/pool.rs) against real
// node:http providers: connections are reused, a provider closing idle or answered connections
// loses no call, and idle connections are closed after the 4 s idle timeout.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const http = require('node:http')
const net = require('node:net')
const { serviceHarness, sleep } = require('./harness/service')
const { waitFor } = require('./harness/providers')

const APP = 'pool'
const h = serviceHarness(APP)

/** A provider that counts the connections it accepted; `tune(server)` sets its keep-alive. */
async function countingProvider(cluster, group, { tune = () => {}, close = false } = {}) {
  const server = http.createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      if (close) res.setHeader('connection', 'close')
      res.setHeader('content-type', 'application/json')
      res.end('{"ok":true}')
    })
  })
  let accepted = 0
  server.on('connection', () => accepted++)
  tune(server)
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  h.cleanups.push(() => {
    server.closeAllConnections()
    return new Promise((resolve) => server.close(() => resolve()))
  })
  await cluster.provide({ app: APP, group, port: server.address().port })
  return {
    get accepted() {
      return accepted
    },
    open: () => new Promise((resolve, reject) => server.getConnections((e, n) => (e ? reject(e) : resolve(n)))),
  }
}

/** `total` calls, `concurrency` at a time; resolves to the failures' codes. */
async function calls(consumer, total, concurrency) {
  const failures = []
  let next = 0
  const loop = async () => {
    while (next < total) {
      next++
      try {
        assert.deepEqual(await consumer.call('m', {}), { ok: true })
      } catch (e) {
        failures.push(`${e.code}: ${e.message}`)
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, loop))
  return failures
}

test('connections are reused: 400 calls, 8 at a time, open no more than 8 connections', async () => {
  const cluster = h.cluster()
  const provider = await countingProvider(cluster, 'reuse')
  const consumer = await h.consumer(cluster, 'reuse', 1)
  assert.deepEqual(await calls(consumer, 400, 8), [])
  assert.ok(provider.accepted >= 1 && provider.accepted <= 8, `${provider.accepted} connections for 8 concurrent calls`)
})

test('a provider closing idle keep-alive connections loses no call', async () => {
  const cluster = h.cluster()
  const provider = await countingProvider(cluster, 'idle-close', { tune: (s) => (s.keepAliveTimeout = 30) })
  const consumer = await h.consumer(cluster, 'idle-close', 1)
  const failures = []
  // Pauses around the provider's 30 ms keep-alive timeout, so some connections are taken just
  // as the provider closes them.
  for (let round = 0; round < 30; round++) {
    failures.push(...(await calls(consumer, 4, 4)))
    await sleep(20 + (round % 5) * 4)
  }
  assert.deepEqual(failures, [])
  assert.ok(provider.accepted > 1, `the provider closed idle connections (${provider.accepted} accepted)`)
})

test('a provider that closes each connection right after its reply, without saying so: no call fails unsent', async () => {
  // A keep-alive reply, then the end of the connection: the consumer may take the connection
  // for its next call before it has seen the end. A request not yet written when the end is
  // seen goes out on another connection (without that, some calls failed with "connection
  // closed"). One already written when the end arrives fails, as with any HTTP client: it may
  // have been handled, so only an idempotent call may be sent again (the cluster layer's retry).
  const server = net.createServer((socket) => {
    let seen = ''
    socket.on('data', (d) => {
      seen += d
      const at = seen.indexOf('\r\n\r\n')
      if (at < 0) return
      const length = Number(/content-length: *(\d+)/i.exec(seen.slice(0, at))?.[1] || 0)
      if (seen.length < at + 4 + length) return
      socket.end('HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{"ok":true}')
    })
    socket.on('error', () => {})
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  h.cleanups.push(() => new Promise((resolve) => server.close(() => resolve())))
  const cluster = h.cluster()
  await cluster.provide({ app: APP, group: 'end-after-reply', port: server.address().port })
  const consumer = await h.consumer(cluster, 'end-after-reply', 1)
  const failures = await calls(consumer, 600, 16)
  assert.deepEqual(
    failures.filter((f) => !/before message completed/.test(f)),
    [],
    'only requests already written fail',
  )
  assert.ok(failures.length < 60, `${failures.length} of 600 calls failed`)
})

test('a provider answering Connection: close every time loses no call', async () => {
  const cluster = h.cluster()
  const provider = await countingProvider(cluster, 'answer-close', { close: true })
  const consumer = await h.consumer(cluster, 'answer-close', 1)
  assert.deepEqual(await calls(consumer, 100, 4), [])
  assert.ok(provider.accepted >= 100, `one connection per call (${provider.accepted})`)
})

test('idle connections are closed after the 4 s idle timeout, before the provider would', async () => {
  const cluster = h.cluster()
  const provider = await countingProvider(cluster, 'sweep', { tune: (s) => (s.keepAliveTimeout = 60000) })
  const consumer = await h.consumer(cluster, 'sweep', 1)
  assert.deepEqual(await calls(consumer, 40, 4), [])
  assert.ok((await provider.open()) >= 1, 'kept alive after the calls')
  const since = Date.now()
  await waitFor(async () => (await provider.open()) === 0, { timeoutMs: 8000, what: 'the idle connections to close' })
  assert.ok(Date.now() - since >= 2500, 'not closed before the idle timeout')
})
