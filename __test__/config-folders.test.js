'use strict'
// The `.lemon` folders beside configuration documents (`history`, `instances`, ...) are shared by
// every document of a folder, whatever identity writes each: the first store to write must not
// lock the others out (they got its private ACL), and a folder someone made unusable by hand is
// reported with what to run instead of a silent failure.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { Admin } = require('..')
const { zkCreate, zkCli } = require('../harness/zookeeper')
const { waitFor } = require('../harness/wait')
const { configFile, save } = require('./harness/config')

const suite = configFile()

function admin(auth) {
  const a = new Admin({ zk: suite.zk.connectString, auth })
  suite.cleanups.push(() => a.close())
  return a
}

/** The ACL zkCli prints for `path`, one `scheme:id:perms`-ish line each. */
async function aclOf(path) {
  const res = await zkCli(suite.zk.connectString, 'getAcl', path)
  return res.stdout
}

test('two stores with different credentials in one folder: each keeps its history and instance report', async () => {
  const cs = suite.zk.connectString
  await zkCreate(cs, '/shared', '')
  const x = suite.open({ name: 'shared/x', auth: 'x:pw-x' })
  x.conf.set('a', 1)
  await save(x.conf)
  const ax = admin('x:pw-x')
  await waitFor(async () => (await ax.configInstances('/shared/x')).some((i) => i.pid === process.pid), {
    timeoutMs: 15000,
    what: "x's instance report",
  })

  const y = suite.open({ name: 'shared/y', auth: 'y:pw-y' })
  y.conf.set('b', 2)
  await save(y.conf)
  const ay = admin('y:pw-y')
  await waitFor(async () => (await ay.configInstances('/shared/y')).some((i) => i.pid === process.pid), {
    timeoutMs: 15000,
    what: "y's instance report",
  })
  const history = await ay.configHistory('/shared/y')
  assert.ok(history.length >= 1, JSON.stringify(history))
  assert.deepEqual(
    y.warnings.filter((w) => /AUTH|ACL/.test(w.code)),
    [],
  )

  // The shared folders: anyone may add (and remove empty) folders, nobody else may touch x's.
  assert.match(await aclOf('/shared/.lemon/history'), /'world,'anyone\s*: cdr\b/)
  assert.doesNotMatch(await aclOf('/shared/.lemon/history/config/x'), /'world,'anyone/)
})

test('a shared folder made unusable by hand: the save fails with ERR_ZK_AUTH naming it and the setAcl to run, the report warns; running it mends both', async () => {
  const cs = suite.zk.connectString
  await zkCreate(cs, '/locked', '')
  await zkCreate(cs, '/locked/doc', '{"a":0}')
  await zkCli(cs, 'create', '/locked/.lemon', '', 'world:anyone:ra')
  const { conf, warnings } = suite.open({ name: 'locked/doc' })
  assert.equal(conf.get('a'), 0)
  conf.set('a', 1)
  const e = await save(conf).then(
    () => assert.fail('the save should be refused'),
    (err) => err,
  )
  assert.equal(e.code, 'ERR_ZK_AUTH', e.message)
  assert.equal(e.path, '/locked/.lemon')
  assert.match(e.message, /setAcl \/locked\/\.lemon world:anyone:cdr/)
  const w = await waitFor(() => warnings.find((x) => /instance report/.test(x.message)), {
    timeoutMs: 15000,
    what: `the instance report's warning: ${JSON.stringify(warnings)}`,
  })
  assert.equal(w.code, 'ERR_ZK_AUTH')
  assert.match(w.message, /setAcl \/locked\/\.lemon world:anyone:cdr/)

  // What the message says to run mends it: the report appears, the save goes through.
  await zkCli(cs, 'setAcl', '/locked/.lemon', 'world:anyone:cdr')
  const a = admin()
  await waitFor(async () => (await a.configInstances('/locked/doc')).some((i) => i.pid === process.pid), {
    timeoutMs: 15000,
    what: 'the instance report once the folder is mended',
  })
  await save(conf)
  assert.equal(warnings.filter((x) => /instance report/.test(x.message)).length, 1, 'warned once')
})

test('a shared folder only one identity may add to (left by an older version): that identity is warned ERR_ZK_ACL with the setAcl to run', async () => {
  const cs = suite.zk.connectString
  const digest = require('node:crypto').createHash('sha1').update('x:pw-x').digest('base64')
  await zkCreate(cs, '/old', '')
  await zkCli(cs, 'create', '/old/.lemon', '')
  await zkCli(cs, 'create', '/old/.lemon/instances', '')
  await zkCli(cs, 'create', '/old/.lemon/instances/config', '', `digest:x:${digest}:cdrwa,world:anyone:r`)
  await zkCreate(cs, '/old/doc', '{"a":0}')
  const { warnings } = suite.open({ name: 'old/doc', auth: 'x:pw-x' })
  const w = await waitFor(() => warnings.find((x) => x.code === 'ERR_ZK_ACL'), {
    timeoutMs: 15000,
    what: `the ERR_ZK_ACL warning: ${JSON.stringify(warnings)}`,
  })
  assert.match(w.message, /\/old\/\.lemon\/instances\/config lets only digest:x/)
  assert.match(w.message, /setAcl \/old\/\.lemon\/instances\/config world:anyone:cdr/)
  const ax = admin('x:pw-x')
  assert.ok(
    (await ax.configInstances('/old/doc')).some((i) => i.pid === process.pid),
    'its own report is written',
  )
})

test("a document's own folders left open (made without auth): a store with auth warns ERR_ZK_ACL for each, with the setAcl to run", async () => {
  const cs = suite.zk.connectString
  await zkCreate(cs, '/opened/.lemon/instances/config/doc', '', { parents: true })
  await zkCreate(cs, '/opened/.lemon/history/config/doc', '', { parents: true })
  await zkCreate(cs, '/opened/doc', '{"a":0}')
  const { warnings } = suite.open({ name: 'opened/doc', auth: 'o:pw-o' })
  for (const folder of ['/opened/.lemon/instances/config/doc', '/opened/.lemon/history/config/doc']) {
    const w = await waitFor(() => warnings.find((x) => x.code === 'ERR_ZK_ACL' && x.path === folder), {
      timeoutMs: 15000,
      what: `the ERR_ZK_ACL warning for ${folder}: ${JSON.stringify(warnings)}`,
    })
    assert.match(w.message, new RegExp(`setAcl ${folder.replace(/\./g, '\\.')} auth::cdrwa`))
  }
})
