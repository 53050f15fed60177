'use strict'
// The provider side: Express and Koa middleware, response time, errors without stack traces,
// registration tied to the server, gray lanes across a call chain, and graceful shutdown.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const http = require('node:http')
const express = require('express')
const Koa = require('koa')
const lemon = require('../lib')
const { zooKeeperForFile } = require('./harness/file')
const { zkLs } = require('../harness/zookeeper')
const { waitFor } = require('./harness/providers')

const suite = zooKeeperForFile()
const { cleanups } = suite

async function listen(handler) {
  const server = http.createServer(handler)
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  cleanups.push(() => new Promise((resolve) => server.close(() => resolve())))
  return server
}

async function post(port, path, body, headers = {}) {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
  const text = await res.text()
  let json
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: res.status, headers: res.headers, json, text }
}

const methods = {
  async getMovie({ id }) {
    await new Promise((r) => setTimeout(r, 30))
    return { id, title: `Movie ${id}` }
  },
  async fail() {
    const e = new Error('the database is down')
    e.code = 'E_DB'
    throw e
  },
  nothing() {},
}

/** The same checks for every framework: replies, errors, response time. */
async function checkServing(port, { ownParser = true } = {}) {
  const ok = await post(port, '/movie/query/getMovie', { id: 7 })
  assert.equal(ok.status, 200)
  assert.deepEqual(ok.json, { id: 7, title: 'Movie 7' })
  const rt = ok.headers.get('x-response-time')
  assert.match(rt, /^\d+\.\d{3}ms$/)
  assert.ok(parseFloat(rt) >= 25, `response time ${rt} covers the handler's 30 ms`)

  const missing = await post(port, '/movie/query/deleteMovie', {})
  assert.equal(missing.status, 404)
  assert.equal(missing.json.error.code, 'ERR_NO_METHOD')
  assert.match(missing.headers.get('x-response-time'), /^\d+\.\d{3}ms$/, 'errors carry the response time too')
  assert.equal(missing.headers.get('content-length'), String(Buffer.byteLength(missing.text)))

  const failed = await post(port, '/movie/query/fail', {})
  assert.equal(failed.status, 500)
  assert.deepEqual(failed.json, { error: { code: 'E_DB', message: 'the database is down' } })
  assert.match(failed.headers.get('x-response-time'), /^\d+\.\d{3}ms$/)
  assert.doesNotMatch(failed.text, /at .*\.js/, 'no stack trace leaks')

  const bad = await post(port, '/movie/query/getMovie', '{not json')
  assert.equal(bad.status, 400)
  // With express.json() in front, the parser answers the 400 in its own format.
  if (ownParser) assert.equal(bad.json.error.code, 'ERR_BAD_REQUEST')

  const empty = await post(port, '/movie/query/nothing', {})
  assert.equal(empty.status, 200)
  assert.equal(empty.json, null)

  const get = await fetch(`http://127.0.0.1:${port}/movie/query/getMovie`)
  assert.equal(get.status, 405)
  assert.equal(get.headers.get('allow'), 'POST')
  // A header set before the answer's own (here `allow`) is kept beside them.
  assert.equal(get.headers.get('content-type'), 'application/json; charset=utf-8')
  assert.match(get.headers.get('x-response-time'), /^\d+\.\d{3}ms$/)
  assert.equal(get.headers.get('content-length'), String(Buffer.byteLength(await get.text())))
}

test('Express: with and without express.json(); other paths go to next()', async () => {
  for (const parse of [false, true]) {
    const app = express()
    if (parse) app.use(express.json())
    app.use(lemon.express({ app: 'movie', group: 'query', methods }))
    app.get('/health', (req, res) => res.send('ok'))
    const server = await listen(app)
    await checkServing(server.address().port, { ownParser: !parse })
    const health = await fetch(`http://127.0.0.1:${server.address().port}/health`)
    assert.equal(await health.text(), 'ok')
  }
})

test('Koa and plain node:http', async () => {
  const app = new Koa()
  app.use(lemon.koa({ app: 'movie', group: 'query', methods }))
  app.use((ctx) => {
    ctx.body = 'fallthrough'
  })
  const koaServer = await listen(app.callback())
  await checkServing(koaServer.address().port)
  const other = await fetch(`http://127.0.0.1:${koaServer.address().port}/else`)
  assert.equal(await other.text(), 'fallthrough')

  const plain = await listen(lemon.service({ app: 'movie', group: 'query', methods }).handler())
  await checkServing(plain.address().port)
})

test('bad service definitions are refused with ERR_INVALID_ARG', () => {
  const cases = [
    [{ app: 'a/b', group: 'g', methods }, 'app'],
    [{ app: 'a', group: '', methods }, 'group'],
    [{ app: 'zookeeper', group: 'g', methods }, 'app'],
    [{ app: 'a', group: 'g'.repeat(256), methods }, 'group'],
    [{ app: 'a', group: 'g', methods: { '..': () => 1 } }, 'methods...'],
    [{ app: 'a', group: 'g', methods: {} }, 'methods'],
    [{ app: 'a', group: 'g', methods: { x: 5 } }, 'methods.x'],
    [{ app: 'a', group: 'g', methods, maxBodyBytes: -1 }, 'maxBodyBytes'],
  ]
  for (const [options, field] of cases) {
    assert.throws(
      () => lemon.service(options),
      (e) => e.code === 'ERR_INVALID_ARG' && e.field === field,
      field,
    )
  }
})

test('registered while listening; a consumer calls it; a gray request keeps its lane down the chain', async () => {
  const cluster = new lemon.Cluster({ zk: suite.zk.connectString, host: '127.0.0.1' })
  cleanups.push(() => cluster.close())

  // Two "ratings" providers: one normal, one gray. "movie" calls ratings from its handler.
  const ratings = {}
  for (const gray of [false, true]) {
    const s = lemon.service({ cluster, app: 'ratings', group: 'v1', gray, methods: { rate: () => ({ gray }) } })
    const server = await listen(s.handler())
    await s.register(server)
    ratings[gray] = s
  }
  const ratingsConsumer = cluster.consumer({ app: 'ratings', group: 'v1' })
  const movie = lemon.service({
    cluster,
    app: 'movie',
    group: 'chain',
    methods: {
      async show(args, ctx) {
        const rating = await ratingsConsumer.call('rate', {})
        return { laneHere: ctx.gray, ratingFromGray: rating.gray }
      },
    },
  })
  const movieServer = await listen(movie.handler())
  await movie.register(movieServer)

  const consumer = cluster.consumer({ app: 'movie', group: 'chain' })
  await waitFor(() => consumer.providers().length === 1 && ratingsConsumer.providers().length === 2, { what: 'providers' })
  const [info] = consumer.providers()
  assert.deepEqual(info.methods, ['show'])

  for (let i = 0; i < 5; i++) {
    assert.deepEqual(await consumer.call('show', {}), { laneHere: false, ratingFromGray: false })
    assert.deepEqual(await consumer.call('show', {}, { gray: true }), { laneHere: true, ratingFromGray: true })
  }

  // Closing the server deregisters it.
  await new Promise((resolve) => movieServer.close(resolve))
  await waitFor(() => consumer.providers().length === 0, { what: 'deregistration on server close' })
})

test('graceful close: the node goes first, requests in flight still finish', async () => {
  const cluster = new lemon.Cluster({ zk: suite.zk.connectString, host: '127.0.0.1' })
  cleanups.push(() => cluster.close())
  let release
  const gate = new Promise((r) => (release = r))
  const s = lemon.service({
    cluster,
    app: 'drain',
    group: 'g',
    methods: {
      async slow() {
        await gate
        return 'done'
      },
    },
  })
  const server = await listen(s.handler())
  await s.register(server)
  const consumer = cluster.consumer({ app: 'drain', group: 'g' })
  await waitFor(() => consumer.providers().length === 1, { what: 'provider' })

  const inFlight = consumer.call('slow', {}, { timeoutMs: 10000 })
  await waitFor(() => s.inFlight === 1, { what: 'the request to arrive' })
  // Generous: zkCli below starts a JVM per look, which takes seconds on a loaded machine.
  const closing = s.close({ drainTimeoutMs: 60000 })
  await waitFor(async () => (await zkLs(suite.zk.connectString, '/lemonhjuice/drain/g/providers')).length === 0, {
    what: 'the node to go while the request is still running',
  })
  assert.equal(s.inFlight, 1)
  release()
  assert.equal(await inFlight, 'done')
  assert.deepEqual(await closing, { drained: true, inFlight: 0 })
})

test('a request whose client goes away mid-body is no longer in flight: close() drains at once', async () => {
  const s = lemon.service({ app: 'abort', group: 'g', methods: { echo: (args) => args } })
  const server = await listen(s.handler())
  const net = require('node:net')
  const socket = net.connect(server.address().port, '127.0.0.1')
  await new Promise((resolve) => socket.once('connect', resolve))
  // Headers and half of the body, then the connection is gone.
  socket.write('POST /abort/g/echo HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{"a":')
  await waitFor(() => s.inFlight === 1, { what: 'the request to arrive' })
  socket.destroy()
  await waitFor(() => s.inFlight === 0, { what: 'the aborted request to leave the in-flight count', timeoutMs: 5000 })
  const started = Date.now()
  assert.deepEqual(await s.close({ drainTimeoutMs: 10000 }), { drained: true, inFlight: 0 })
  assert.ok(Date.now() - started < 5000, 'close() did not wait for the drain timeout')
})
