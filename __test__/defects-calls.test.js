'use strict'
// Issue 10, the call side: every error a caller can get carries a documented code, bad values
// are refused instead of silently changed, and a provider's business code reaches the caller.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const http = require('node:http')
const { Cluster } = require('..')
const { zooKeeperForFile } = require('./harness/file')
const { startProvider, waitFor, rejection } = require('./harness/providers')

const suite = zooKeeperForFile()

/** A cluster, and a consumer of one provider replying with `behaviour`. */
async function serviceWith(group, behaviour) {
  const cluster = new Cluster({ zk: suite.zk.connectString, host: '127.0.0.1', cacheDir: false })
  suite.cleanups.push(() => cluster.close())
  const p = await startProvider(behaviour)
  suite.cleanups.push(() => p.close())
  await cluster.provide({ app: 'calls', group, port: p.port })
  const consumer = cluster.consumer({ app: 'calls', group })
  await waitFor(() => consumer.providers().length === 1, { what: 'the provider' })
  return { cluster, consumer, address: `127.0.0.1:${p.port}` }
}

/** A provider whose reply is exactly `bytes` (a Buffer), as JSON. */
async function rawProvider(bytes) {
  const server = http.createServer((req, res) => {
    req.resume()
    req.on('end', () => {
      res.setHeader('content-type', 'application/json')
      res.end(bytes)
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  suite.cleanups.push(() => {
    server.closeAllConnections()
    return new Promise((resolve) => server.close(resolve))
  })
  return server.address().port
}

test('call(42): a method that is not a string is ERR_INVALID_ARG field=method', async () => {
  const { consumer } = await serviceWith('method-type', {})
  for (const method of [42, null, {}, undefined]) {
    let e
    try {
      e = await rejection(consumer.call(method, {}))
    } catch (thrown) {
      e = thrown
    }
    assert.equal(e.code, 'ERR_INVALID_ARG', `${String(method)}: ${e.message}`)
    assert.equal(e.field, 'method')
  }
})

test('a function (or a symbol) as call args is refused, not sent as null', async () => {
  const { consumer } = await serviceWith('args-type', {})
  for (const args of [() => 1, Symbol('s')]) {
    assert.throws(
      () => consumer.call('m', args),
      (e) => e.code === 'ERR_INVALID_ARG' && e.field === 'args' && /function|symbol/.test(e.message),
    )
  }
  // What JSON can carry still goes through.
  const reply = await consumer.call('m', { a: 1 })
  assert.deepEqual(reply.args, { a: 1 })
})

test('NaN and Infinity timeouts are refused everywhere, not taken as "no value"', async () => {
  const { consumer, cluster } = await serviceWith('nan', {})
  for (const bad of [NaN, Infinity, -Infinity]) {
    assert.throws(
      () => consumer.call('m', {}, { timeoutMs: bad }),
      (e) => e.code === 'ERR_INVALID_ARG' && e.field === 'options.timeoutMs' && /finite/.test(e.message),
      String(bad),
    )
    assert.throws(
      () => cluster.consumer({ app: 'calls', group: 'nan', timeoutMs: bad }),
      (e) => e.code === 'ERR_INVALID_ARG' && e.field === 'consumer.timeoutMs',
      String(bad),
    )
    assert.throws(
      () => new Cluster({ zk: suite.zk.connectString, connectTimeoutMs: bad }),
      (e) => e.code === 'ERR_INVALID_ARG' && e.field === 'options.connectTimeoutMs',
      String(bad),
    )
  }
})

test('a 1 MB connect string is refused (and never echoed into warnings)', () => {
  const huge = Array.from({ length: 40000 }, (_, i) => `h${i}.example:2181`).join(',')
  assert.ok(huge.length > 500000)
  assert.throws(
    () => new Cluster({ zk: huge }),
    (e) => e.code === 'ERR_INVALID_ARG' && e.field === 'options.zk' && e.message.length < 400,
  )
})

test('a reply nested 100,000 deep resolves to the value (arrays and objects), whatever the stack', async () => {
  const n = 100000
  const { cluster } = await serviceWith('deep-anchor', {})
  for (const [group, text, step] of [
    ['deep-arrays', '['.repeat(n) + '1' + ']'.repeat(n), (v) => v[0]],
    ['deep-objects', '{"a":'.repeat(n) + '1' + '}'.repeat(n), (v) => v.a],
  ]) {
    const port = await rawProvider(Buffer.from(text))
    await cluster.provide({ app: 'calls', group, port })
    const consumer = cluster.consumer({ app: 'calls', group })
    await waitFor(() => consumer.providers().length === 1, { what: 'the provider' })
    let v = await consumer.call('m', {})
    for (let i = 0; i < n; i++) v = step(v)
    assert.equal(v, 1, group)
  }
})

test('invalid UTF-8 in a reply is ERR_BAD_RESPONSE naming the provider', async () => {
  const port = await rawProvider(Buffer.from([0x22, 0xff, 0xfe, 0x22]))
  const { cluster } = await serviceWith('utf8-anchor', {})
  await cluster.provide({ app: 'calls', group: 'utf8', port })
  const consumer = cluster.consumer({ app: 'calls', group: 'utf8' })
  await waitFor(() => consumer.providers().length === 1, { what: 'the provider' })
  const e = await rejection(consumer.call('m', {}))
  assert.equal(e.code, 'ERR_BAD_RESPONSE', e.message)
  assert.equal(e.address, `127.0.0.1:${port}`)
  assert.match(e.message, /UTF-8/)
})

test('a business error code thrown by a provider handler is error.remoteCode', async () => {
  const body = JSON.stringify({ error: { code: 'E_BIZ', message: 'no such movie' } })
  const { consumer } = await serviceWith('biz', { status: 422, body })
  const e = await rejection(consumer.call('m', {}))
  assert.equal(e.code, 'ERR_PROVIDER_STATUS')
  assert.equal(e.status, 422)
  assert.equal(e.remoteCode, 'E_BIZ')
  assert.equal(e.body, body)
  const plain = await serviceWith('biz-plain', { status: 500, body: 'oops' })
  const e2 = await rejection(plain.consumer.call('m', {}))
  assert.equal(e2.code, 'ERR_PROVIDER_STATUS')
  assert.equal(e2.remoteCode, undefined, 'no code in the body, no remoteCode')
})

test('every code the library can produce is documented in docs/errors.md', () => {
  const root = path.join(__dirname, '..')
  const sources = []
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, entry.name)
      if (entry.isDirectory()) walk(p)
      else if (/\.(rs|js)$/.test(entry.name)) sources.push(p)
    }
  }
  for (const dir of ['src', 'crates/core/src', 'lib']) walk(path.join(root, dir))
  const codes = new Set()
  for (const file of sources) {
    let text = fs.readFileSync(file, 'utf8')
    // Rust unit tests use made-up codes.
    text = text.split('#[cfg(test)]')[0]
    for (const m of text.matchAll(/["'`](ERR_[A-Z0-9_]+)["'`]/g)) codes.add(m[1])
  }
  const doc = fs.readFileSync(path.join(root, 'docs', 'errors.md'), 'utf8')
  const missing = [...codes].filter((c) => !doc.includes('`' + c + '`')).sort()
  assert.deepEqual(missing, [], `codes missing from docs/errors.md: ${missing.join(', ')}`)
})
