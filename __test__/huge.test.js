'use strict'
// A 50 MB reply against `maxResponseBytes` (16 MiB by default): refused with a coded error while
// it streams, with or without Content-Length, without the consumer buffering it, without a broken
// connection being reused and without being fetched again from other providers; accepted whole
// under a larger limit.

const { test, before } = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { fork } = require('node:child_process')
const { serviceHarness, rejection } = require('./harness/service')

const APP = 'huge'
const SIZE = 50 * 1000 * 1000
const DEFAULT_LIMIT = 16 * 1024 * 1024
const h = serviceHarness(APP)

// Every provider lives in one child process, so this process's memory is the consumer's alone.
const hits = new Map()
let ports = []
before(async () => {
  const child = fork(path.join(__dirname, 'fixtures', 'huge-provider.js'), ['4', String(SIZE)], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  })
  h.cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  child.on('message', (m) => {
    if (m.method) hits.set(m.method, (hits.get(m.method) || 0) + 1)
  })
  ports = await new Promise((resolve, reject) => {
    child.once('message', (m) => resolve(m.ports))
    child.once('exit', (code) => reject(new Error(`provider child exited with ${code}`)))
  })
})

/** A consumer of `group` whose providers are the child's `portList`. */
async function consumerOf(cluster, group, portList, options = {}) {
  for (const port of portList) await cluster.provide({ app: APP, group, port })
  return h.consumer(cluster, group, portList.length, { timeoutMs: 30000, ...options })
}

const MB = 1024 * 1024

for (const method of ['sized', 'chunked']) {
  test(`a 50 MB ${method} reply fails at the limit, is not buffered, and the provider stays usable`, async () => {
    const cluster = h.cluster()
    const consumer = await consumerOf(cluster, `one-${method}`, [ports[0]])
    assert.deepEqual(await consumer.call('small'), { ok: true })
    // The peak, sampled while the reply streams in: memory freed afterwards would hide buffering.
    const rssBefore = process.memoryUsage().rss
    let peak = rssBefore
    const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 2)
    const e = await rejection(consumer.call(method))
    clearInterval(sampler)
    const grown = Math.max(peak, process.memoryUsage().rss) - rssBefore
    assert.equal(e.code, 'ERR_BAD_RESPONSE')
    assert.equal(e.address, `127.0.0.1:${ports[0]}`)
    assert.match(e.message, new RegExp(`127\\.0\\.0\\.1:${ports[0]}`))
    assert.match(e.message, new RegExp(`maxResponseBytes \\(${DEFAULT_LIMIT} bytes\\)`))
    // Without Content-Length up to the limit is read before the reply is refused, never 50 MB.
    assert.ok(grown < 40 * MB, `RSS grew by ${(grown / MB).toFixed(1)} MB`)
    // The cut connection is not handed to the next call.
    for (let i = 0; i < 5; i++) assert.deepEqual(await consumer.call('small'), { ok: true })
  })
}

test('a reply over the limit is not fetched again from the other providers', async () => {
  const cluster = h.cluster()
  const consumer = await consumerOf(cluster, 'three', ports.slice(1, 4), { idempotent: true, retries: 2 })
  for (const method of ['sized', 'chunked']) {
    const before = hits.get(method) || 0
    const e = await rejection(consumer.call(method))
    assert.equal(e.code, 'ERR_BAD_RESPONSE')
    // The provider reports each request before it replies: give the IPC message a moment.
    await new Promise((r) => setTimeout(r, 200))
    assert.equal((hits.get(method) || 0) - before, 1, `${method}: one provider asked, no retry`)
  }
  assert.deepEqual(await consumer.call('small'), { ok: true })
})

test('with maxResponseBytes: 64 MiB the 50 MB reply arrives whole', async () => {
  const cluster = h.cluster({ maxResponseBytes: 64 * MB })
  const consumer = await consumerOf(cluster, 'big-limit', [ports[0]])
  for (const method of ['sized', 'chunked']) {
    const reply = await consumer.call(method)
    assert.equal(typeof reply, 'string')
    assert.equal(reply.length, SIZE - 2)
    assert.ok(reply.startsWith('xxxx') && reply.endsWith('xxxx'))
  }
})
