'use strict'
// The consumer's own HTTP/1 client for plain-HTTP providers (crates/core/src/transport/h1.rs)
// against providers that answer in every shape HTTP/1 allows, written byte by byte on real
// sockets: sized, chunked with trailers, ended by the connection's close, after a 100 Continue,
// HTTP/1.0, and replies cut short or not HTTP at all.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const net = require('node:net')
const { serviceHarness, rejection } = require('./harness/service')

const APP = 'transport'
const h = serviceHarness(APP)

/**
 * A provider on a raw socket: for each request read to its end, `answer(socket, n)` writes the
 * reply (n counts the connection's requests). Resolves to { port, accepted(), requests() }.
 */
async function rawProvider(answer) {
  let accepted = 0
  let requests = 0
  const server = net.createServer((socket) => {
    accepted++
    let seen = Buffer.alloc(0)
    let n = 0
    socket.on('data', (d) => {
      seen = Buffer.concat([seen, d])
      for (;;) {
        const at = seen.indexOf('\r\n\r\n')
        if (at < 0) return
        const length = Number(/content-length: *(\d+)/i.exec(seen.subarray(0, at).toString())?.[1] || 0)
        if (seen.length < at + 4 + length) return
        seen = seen.subarray(at + 4 + length)
        requests++
        answer(socket, n++)
      }
    })
    socket.on('error', () => {})
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  h.cleanups.push(() => new Promise((resolve) => server.close(() => resolve())))
  return { port: server.address().port, accepted: () => accepted, requests: () => requests }
}

/** Writes `text` one byte at a time on separate turns of the event loop. */
async function trickle(socket, text) {
  for (const byte of Buffer.from(text)) {
    if (socket.destroyed) return
    socket.write(Buffer.from([byte]))
    await new Promise((resolve) => setImmediate(resolve))
  }
}

async function consumerOf(group, answer) {
  const provider = await rawProvider(answer)
  const cluster = h.cluster()
  await cluster.provide({ app: APP, group, port: provider.port })
  const consumer = await h.consumer(cluster, group, 1)
  return { consumer, provider }
}

test('sized, chunked (with trailers), 100 Continue and HTTP/1.0 keep-alive replies are read and the connection reused', async () => {
  const replies = [
    'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{"ok":true}',
    'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n4;ext=1\r\n{"ok\r\n7\r\n":true}\r\n0\r\nx-trailer: 1\r\n\r\n',
    'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n{"ok":true}',
    'HTTP/1.0 200 OK\r\nconnection: keep-alive\r\ncontent-length: 11\r\n\r\n{"ok":true}',
    'HTTP/1.1 204 No Content\r\n\r\n',
  ]
  const { consumer, provider } = await consumerOf('shapes', (socket, n) => socket.write(replies[n % replies.length]))
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < replies.length; i++) {
      const expected = i === 4 ? null : { ok: true }
      assert.deepEqual(await consumer.call('m', { i }), expected, `reply ${i}`)
    }
  }
  assert.equal(provider.accepted(), 1, 'one connection for every call')
})

test('a reply written one byte at a time is read whole', async () => {
  const reply = 'HTTP/1.1 200 OK\r\ncontent-length: 26\r\n\r\n{"ok":true,"text":"slow"}\n'
  const chunked = 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\n[1,\r\n2\r\n2]\r\n0\r\n\r\n'
  const { consumer } = await consumerOf('trickle', (socket, n) => trickle(socket, n % 2 ? chunked : reply))
  assert.deepEqual(await consumer.call('m'), { ok: true, text: 'slow' })
  assert.deepEqual(await consumer.call('m'), [1, 2])
  assert.deepEqual(await consumer.call('m'), { ok: true, text: 'slow' })
})

test('a reply ended by the connection, or with Connection: close, is read and the connection not reused', async () => {
  const { consumer, provider } = await consumerOf('close', (socket, n) => {
    if (n > 0) throw new Error('a closing connection was reused')
    if (provider.accepted() % 2) socket.end('HTTP/1.0 200 OK\r\n\r\n{"ok":true}')
    else socket.write('HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 11\r\n\r\n{"ok":true}')
  })
  for (let i = 0; i < 6; i++) assert.deepEqual(await consumer.call('m'), { ok: true })
  assert.equal(provider.accepted(), 6)
})

test('a reply cut short, not HTTP, or a connection closed unanswered is ERR_BAD_RESPONSE naming the provider; the next call works', async () => {
  const bad = [
    (s) => s.end('HTTP/1.1 200 OK\r\ncontent-length: 20\r\n\r\n{"ok":'),
    (s) => s.end('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\n{"ok"'),
    (s) => s.end('SSH-2.0-OpenSSH_9.2\r\n\r\n'),
    (s) => s.end('HTTP/1.1 200 OK\r\ncontent-length: nine\r\n\r\n'),
    (s) => s.end(),
  ]
  const good = 'HTTP/1.1 200 OK\r\ncontent-length: 11\r\n\r\n{"ok":true}'
  let which = -1
  const { consumer, provider } = await consumerOf('bad', (socket) => (which >= 0 ? bad[which](socket) : socket.write(good)))
  const address = `127.0.0.1:${provider.port}`
  const seen = []
  for (let i = 0; i < bad.length; i++) {
    which = i
    const e = await rejection(consumer.call('m'))
    assert.equal(e.code, 'ERR_BAD_RESPONSE', `${i}: ${e.message}`)
    assert.ok(e.message.includes(address), e.message)
    seen.push(e.message)
    which = -1
    assert.deepEqual(await consumer.call('m'), { ok: true })
  }
  assert.match(seen[0], /broke while reading the reply/)
  assert.match(seen[2], /not HTTP\/1\.1/)
  assert.match(seen[3], /Content-Length/)
  assert.match(seen[4], /closed before message completed/)
})
