'use strict'
// The package's front door (lib/index.js) wraps the native classes instead of patching them, and
// the JavaScript name checks are the core's own: no ZooKeeper needed, nothing is connected.

const test = require('node:test')
const assert = require('node:assert/strict')

const { binding: native } = require('../lib/native')
const lemon = require('../lib')

const methods = { get: () => 1 }

/** A cluster that never connects (nothing listens on port 1), closed by the test. */
function offline(t) {
  const cluster = new lemon.Cluster({ zk: '127.0.0.1:1', connectTimeoutMs: 100 })
  cluster.on('warning', () => {})
  t.after(() => cluster.close())
  return cluster
}

test('the native classes are not patched; the front door wraps every member of them', (t) => {
  for (const Class of [native.Cluster, native.Consumer]) {
    for (const name of Object.getOwnPropertyNames(Class.prototype)) {
      const d = Object.getOwnPropertyDescriptor(Class.prototype, name)
      const fn = d.value || d.get
      assert.match(Function.prototype.toString.call(fn), /\[native code\]/, `${Class.name}.prototype.${name}`)
    }
  }
  const wrapped = new Set(Object.getOwnPropertyNames(lemon.Consumer.prototype))
  for (const name of Object.getOwnPropertyNames(native.Consumer.prototype)) {
    assert.ok(wrapped.has(name), `lib/index.js's Consumer forwards ${name}`)
  }
  const consumer = offline(t).consumer({ app: 'a', group: 'g' })
  assert.ok(consumer instanceof lemon.Consumer)
  assert.equal(consumer.service, 'a/g')
  assert.deepEqual(consumer.providers(), [])
})

test('the gray header and the name rule come from the binding', async (t) => {
  assert.equal(lemon.GRAY_HEADER, native.GRAY_HEADER)
  assert.equal(lemon.GRAY_HEADER, 'x-lemon-gray')
  const cluster = offline(t)
  const names = ['ok', 'zookeeper', '.', '..', 'a/b', 'tab\there', 'x'.repeat(255), 'x'.repeat(256), '电影']
  for (const name of names) {
    const core = refusal(() => cluster.consumer({ app: name, group: 'g' }))
    const js = refusal(() => lemon.service({ app: name, group: 'g', methods }))
    assert.deepEqual(js, core, `app ${JSON.stringify(name.slice(0, 20))}`)
  }
  assert.deepEqual(
    refusal(() => lemon.service({ app: 'zookeeper', group: 'g', methods })),
    {
      code: 'ERR_INVALID_ARG',
      field: 'app',
      message: 'invalid argument `app`: `zookeeper` is reserved by ZooKeeper',
    },
  )
})

/** What `fn` throws, or `null`. */
function refusal(fn) {
  try {
    fn()
    return null
  } catch (e) {
    return { code: e.code, field: e.field, message: e.message }
  }
}
