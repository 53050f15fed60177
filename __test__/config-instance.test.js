'use strict'
// A configuration store's instance report (`{root}/.lemon/instances/config/{name}/{host}:{pid}`,
// what `config <path> instances`, gray release and `rotate-key --finish` go by) deleted by another
// client: the store puts it back promptly, also when it is deleted again and again (with
// backoff), and never after `close()`.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { Admin } = require('..')
const { zkCreate, zkDelete, zkLs } = require('../harness/zookeeper')
const { waitFor } = require('../harness/wait')
const { configFile, sleep } = require('./harness/config')

const suite = configFile()

function admin() {
  const a = new Admin({ zk: suite.zk.connectString })
  suite.cleanups.push(() => a.close())
  return a
}

/** This process's report among the document's instances, or undefined. */
async function listed(a, doc) {
  return (await a.configInstances(doc)).find((i) => i.pid === process.pid)
}

test('an instance report deleted by hand is re-created within seconds and warned about', async () => {
  const cs = suite.zk.connectString
  await zkCreate(cs, '/inst-deleted', JSON.stringify({ a: 1 }))
  const a = admin()
  const { conf, warnings, updates } = suite.open({ name: 'inst-deleted' })
  assert.equal(conf.get('a'), 1)
  const first = await waitFor(() => listed(a, '/inst-deleted'), { timeoutMs: 15000, what: 'the first report' })
  const node = `/.lemon/instances/config/inst-deleted/${first.instance}`

  assert.equal(await zkDelete(cs, node), true)
  const again = await waitFor(() => listed(a, '/inst-deleted'), { timeoutMs: 10000, what: 're-created after the delete' })
  assert.equal(again.source, 'zookeeper', JSON.stringify(again))
  const w = warnings.find((x) => x.code === 'ERR_ZK_NODE_DELETED')
  assert.ok(w, `warned: ${JSON.stringify(warnings)}`)
  assert.match(w.message, /instance/)
  assert.equal(updates.length, 0, 'no configuration change came of it')
})

test('deleted again and again: re-created each time, with backoff and no loop; gone for good after close()', async () => {
  const cs = suite.zk.connectString
  await zkCreate(cs, '/inst-again', JSON.stringify({ a: 1 }))
  const a = admin()
  const { store } = suite.open({ name: 'inst-again' })
  const first = await waitFor(() => listed(a, '/inst-again'), { timeoutMs: 15000, what: 'the first report' })
  const node = `/.lemon/instances/config/inst-again/${first.instance}`
  for (let i = 0; i < 4; i++) {
    await waitFor(async () => (await zkDelete(cs, node)) === true, { timeoutMs: 15000, what: `delete ${i + 1}` })
  }
  await waitFor(() => listed(a, '/inst-again'), { timeoutMs: 15000, what: 're-created after four deletes' })

  await store.close()
  await sleep(1500)
  assert.deepEqual(await zkLs(cs, '/.lemon/instances/config/inst-again'), [], 'not re-created after close()')
})
