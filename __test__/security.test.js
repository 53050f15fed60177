'use strict'
// Security: digest credentials and the ACLs of the nodes lemon-cluster creates, checked from the
// outside with Debian's own zkCli.sh (anonymous, and authenticated with `addauth`); and no secret
// (ZooKeeper password, config key, decrypted value) in any log line, error or warning.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn, execFile } = require('node:child_process')
const { Cluster } = require('..')
const { zooKeeperForFile } = require('./harness/file')
const { findZooKeeper, zkCreate, zkDelete, zkGet, zkLs, zkSet } = require('../harness/zookeeper')
const { startProvider, waitFor } = require('./harness/providers')
const { openStore } = require('./harness/config')

const APP = 'sec'
const OWNER = 'shop:right-pw'
const DENIED = /Insufficient permission|NoAuth|not authenticated/i
const suite = zooKeeperForFile()
const { cleanups } = suite

function newCluster(extra = {}) {
  const cluster = new Cluster({ zk: suite.zk.connectString, host: '127.0.0.1', cacheDir: false, ...extra })
  const warnings = []
  cluster.on('warning', (w) => warnings.push(w))
  cleanups.push(() => cluster.close())
  return { cluster, warnings }
}

const logDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lemon-security-cli-'))
process.on('exit', () => fs.rmSync(logDir, { recursive: true, force: true }))

/**
 * Runs several zkCli.sh commands in one session (the harness's helpers run one command per
 * session, and `addauth` only lasts for its session): the commands go to the CLI's stdin.
 * Resolves { code, out } with stdout and stderr together; killed after 20 s.
 */
function zkScript(commands) {
  return new Promise((resolve, reject) => {
    const child = spawn(findZooKeeper().cli, ['-server', suite.zk.connectString, '-timeout', '5000'], {
      env: { ...process.env, ZOO_LOG_DIR: logDir },
      stdio: ['pipe', 'pipe', 'pipe'],
      detached: true,
    })
    let out = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (out += d))
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid, 'SIGKILL')
      } catch {}
      reject(new Error(`zkCli script timed out: ${commands.join('; ')}\n${out}`))
    }, 20000)
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      try {
        process.kill(-child.pid, 'SIGKILL') // bash does not forward signals to java
      } catch {}
      resolve({ code, out: out.replace(/^SLF4J: .*\n/gm, '') })
    })
    child.stdin.end([...commands, 'quit', ''].join('\n'))
  })
}

/**
 * `getAcl` as [{ id: 'digest:shop:<hash>' | 'world:anyone', perms: 'cdrwa' | 'r' }], anonymous
 * or as `auth` (reading an ACL needs read permission).
 */
async function getAcl(zpath, auth) {
  const { out } = await zkScript([...(auth ? [`addauth digest ${auth}`] : []), `getAcl ${zpath}`])
  const acl = []
  for (const m of out.matchAll(/^'(\w+),'([^\n]*)\n: (\w+)$/gm)) acl.push({ id: `${m[1]}:${m[2]}`, perms: m[3] })
  return acl
}

test('with auth, provider nodes are readable by anyone and changed or deleted only by that identity', async () => {
  const group = 'owned'
  const server = await startProvider()
  cleanups.push(() => server.close())
  const { cluster } = newCluster({ auth: OWNER })
  const reg = await cluster.provide({ app: APP, group, port: server.port, methods: ['ping'] })
  const node = await reg.path()
  const folder = `/lemonhjuice/${APP}/${group}/providers`

  // Anyone reads: consumers need no credentials to discover.
  assert.equal(JSON.parse(await zkGet(suite.zk.connectString, node)).port, server.port)
  // Nobody else writes, deletes, or adds a (fake) provider next to it.
  await assert.rejects(zkSet(suite.zk.connectString, node, '{"port":1}'), DENIED)
  await assert.rejects(zkDelete(suite.zk.connectString, node), DENIED)
  await assert.rejects(zkCreate(suite.zk.connectString, `${folder}/10.6.6.6:1`, '{"port":1}'), DENIED)
  await zkScript([`deleteall ${folder}`]) // the CLI says nothing when refused: the checks below tell
  assert.equal(JSON.parse(await zkGet(suite.zk.connectString, node)).port, server.port, 'unchanged')
  assert.equal((await zkLs(suite.zk.connectString, folder)).length, 1)

  // getAcl shows the digest identity with every permission, and read for the world.
  for (const p of [node, folder]) {
    const acl = await getAcl(p)
    assert.equal(acl.length, 2, JSON.stringify(acl))
    assert.match(acl.find((a) => a.id.startsWith('digest:')).id, /^digest:shop:\S+$/)
    assert.equal(acl.find((a) => a.id.startsWith('digest:')).perms, 'cdrwa')
    assert.deepEqual(
      acl.find((a) => a.id === 'world:anyone'),
      { id: 'world:anyone', perms: 'r' },
    )
  }
  // The folders above are shared by every app whatever its credentials: open.
  assert.deepEqual(await getAcl(`/lemonhjuice/${APP}/${group}`), [{ id: 'world:anyone', perms: 'cdrwa' }])

  // Another process with the same credentials registers in the same service...
  const { cluster: twin } = newCluster({ auth: OWNER })
  const twinReg = await twin.provide({ app: APP, group, port: server.port + 1 })
  assert.equal((await zkLs(suite.zk.connectString, folder)).length, 2)
  await twinReg.close()
  assert.equal((await zkLs(suite.zk.connectString, folder)).length, 1, 'and removes its node again')
  // ...and a client authenticated as that identity may change and delete.
  const { out } = await zkScript([`addauth digest ${OWNER}`, `set ${node} {"port":7}`, `get ${node}`, `delete ${node}`])
  assert.doesNotMatch(out, DENIED)
  assert.match(out, /^\{"port":7\}$/m)
  assert.equal(await zkGet(suite.zk.connectString, node), null)
})

test('a consumer without credentials discovers and calls providers registered with auth', async () => {
  const group = 'discover'
  const server = await startProvider()
  cleanups.push(() => server.close())
  const { cluster: owner } = newCluster({ auth: OWNER })
  await owner.provide({ app: APP, group, port: server.port, methods: ['ping'] })

  const { cluster: anonymous } = newCluster()
  const consumer = anonymous.consumer({ app: APP, group })
  await consumer.ready()
  await waitFor(() => consumer.providers().length === 1, { what: 'the provider' })
  const reply = await consumer.call('ping', { n: 1 })
  assert.deepEqual(reply.args, { n: 1 })
  assert.equal(server.hits, 1)
  // The consumers folder is shared: callers with any credentials (or none) register there.
  await waitFor(async () => ((await zkLs(suite.zk.connectString, `/lemonhjuice/${APP}/${group}/consumers`)) || []).length === 1, {
    what: 'the consumer node',
  })
})

test('a wrong password or no credentials: provide() fails with ERR_ZK_AUTH naming the node and identity, never the password', async () => {
  const group = 'wrongpw'
  const { cluster: owner } = newCluster({ auth: OWNER })
  await owner.provide({ app: APP, group, port: 1001 })
  const folder = `/lemonhjuice/${APP}/${group}/providers`

  // ZooKeeper accepts any digest password at connect: the refusal comes with the write.
  const { cluster: wrong } = newCluster({ auth: 'shop:wrong-pw' })
  await wrong.ready()
  const err = await wrong.provide({ app: APP, group, port: 1002 }).then(
    () => assert.fail('a wrong password must not register'),
    (e) => e,
  )
  assert.equal(err.code, 'ERR_ZK_AUTH')
  assert.ok(err.path.startsWith(`${folder}/`), err.path)
  assert.ok(err.message.includes(folder) && err.message.includes('digest:shop'), err.message)
  assert.match(err.message, /password is wrong/)
  assert.ok(!`${err.message}\n${err.stack}`.includes('wrong-pw'), err.stack)

  const { cluster: none } = newCluster()
  await assert.rejects(none.provide({ app: APP, group, port: 1003 }), (e) => {
    assert.equal(e.code, 'ERR_ZK_AUTH')
    assert.ok(e.message.includes(folder) && /without credentials/.test(e.message), e.message)
    return true
  })
  assert.equal((await zkLs(suite.zk.connectString, folder)).length, 1, 'only the owner registered')
})

test("acl: 'private' hides the nodes from readers without credentials; 'open' keeps them open", async () => {
  const { cluster: hidden } = newCluster({ auth: OWNER, acl: 'private' })
  const node = await (await hidden.provide({ app: APP, group: 'private', port: 1004 })).path()
  await assert.rejects(zkGet(suite.zk.connectString, node), DENIED)
  assert.deepEqual(await getAcl(node), [], 'not even the ACL is shown')
  const acl = await getAcl(node, OWNER)
  assert.deepEqual(
    acl.map((a) => a.perms),
    ['cdrwa'],
  )
  assert.match(acl[0].id, /^digest:shop:/)

  const { cluster: open } = newCluster({ auth: OWNER, acl: 'open' })
  const openNode = await (await open.provide({ app: APP, group: 'open', port: 1005 })).path()
  assert.deepEqual(await getAcl(openNode), [{ id: 'world:anyone', perms: 'cdrwa' }])
})

test('a providers folder open to anyone (older version, by hand) is reported: ERR_ZK_ACL', async () => {
  const group = 'legacy'
  const folder = `/lemonhjuice/${APP}/${group}/providers`
  await zkCreate(suite.zk.connectString, folder, '', { parents: true })
  const { cluster, warnings } = newCluster({ auth: OWNER })
  const node = await (await cluster.provide({ app: APP, group, port: 1006 })).path()
  // Warnings are events: they may reach JavaScript just after the promise settles.
  const w = await waitFor(() => warnings.find((x) => x.code === 'ERR_ZK_ACL'), { what: 'the ERR_ZK_ACL warning' })
  assert.equal(w.path, folder)
  assert.match(w.message, /setAcl/)
  // The node itself is still protected against changes.
  await assert.rejects(zkSet(suite.zk.connectString, node, '{}'), DENIED)
  // A folder this version made itself is not reported.
  const { cluster: fresh, warnings: quiet } = newCluster({ auth: OWNER })
  await fresh.provide({ app: APP, group: 'fresh', port: 1007 })
  assert.deepEqual(quiet, [])
})

test('config store with auth: its znode and folder cannot be changed or deleted without credentials; the owner can', async () => {
  const { conf, store } = openStore({ host: suite.zk.connectString, name: 'sec/config', auth: 'cfg:cfg-pw', autoSave: -1 })
  cleanups.push(() => store.close())
  conf.set('db:host', 'a')
  await new Promise((resolve, reject) => store.save(null, (e) => (e ? reject(e) : resolve())))
  await assert.rejects(zkSet(suite.zk.connectString, '/sec/config', '{}'), DENIED)
  // Deleting is a permission of the parent: the store makes its folder the same way.
  await assert.rejects(zkDelete(suite.zk.connectString, '/sec/config'), DENIED)
  await assert.rejects(zkCreate(suite.zk.connectString, '/sec/other', '{}'), DENIED)
  for (const p of ['/sec', '/sec/config']) {
    const acl = await getAcl(p, 'cfg:cfg-pw')
    assert.equal(acl.length, 1, JSON.stringify(acl))
    assert.match(acl[0].id, /^digest:cfg:/)
    assert.equal(acl[0].perms, 'cdrwa')
  }
  const { out } = await zkScript(['addauth digest cfg:cfg-pw', 'set /sec/config {"db":{"host":"b"}}'])
  assert.doesNotMatch(out, DENIED)
  await waitFor(() => conf.get('db:host') === 'b', { what: 'the owner’s change to arrive' })
})

test('bad auth and acl options are ERR_INVALID_ARG naming the field, without repeating the password', () => {
  const cases = [
    [{ auth: 'hunter2' }, 'options.auth'],
    [{ auth: 'shop:' }, 'options.auth'],
    [{ auth: 42 }, 'options.auth'],
    [{ acl: 'creator' }, 'options.acl'],
    [{ auth: OWNER, acl: 'everyone' }, 'options.acl'],
    [{ zk: 'shop:hunter2@127.0.0.1:2181' }, 'options.zk'],
  ]
  for (const [extra, field] of cases) {
    assert.throws(
      () => new Cluster({ zk: '127.0.0.1:1', ...extra }),
      (e) => e.code === 'ERR_INVALID_ARG' && e.field === field && !e.message.includes('hunter2'),
      JSON.stringify(extra),
    )
  }
})

test('no secret in any log line (LEMON_LOG=debug), warning, error message or stack', async () => {
  const child = path.join(__dirname, 'fixtures', 'secrets-child.js')
  const result = await new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [child, suite.zk.connectString],
      { env: { ...process.env, LEMON_LOG: 'debug' }, timeout: 60000, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => (err ? reject(Object.assign(err, { stderr })) : resolve({ stdout, stderr })),
    )
  })
  const report = JSON.parse(result.stdout)
  // The run did what it claims: the secret was decrypted and used, the failures happened and
  // debug records were delivered — otherwise the absence of secrets would prove nothing.
  assert.equal(report.decrypted, true)
  assert.ok(
    report.logs.some(([level]) => level === 'debug'),
    'debug records reached the logger',
  )
  assert.ok(report.logs.length >= 5, JSON.stringify(report.logs))
  const codes = report.errors.map((e) => e.code)
  for (const code of ['ERR_ZK_AUTH', 'ERR_INVALID_ARG', 'ERR_CONNECT', 'ERR_CONFIG_DECRYPT']) {
    assert.ok(codes.includes(code), `${code} in ${codes}`)
  }
  const warned = report.warnings.map((w) => w.code)
  for (const code of ['ERR_CONFIG_DECRYPT', 'ERR_CONFIG_READ_ONLY']) assert.ok(warned.includes(code), `${code} in ${warned}`)
  assert.ok(report.changes.length > 0, 'change events were seen')

  const everything = [
    ...report.logs.map(([, line]) => line),
    ...report.errors.flatMap((e) => [e.message, e.stack]),
    ...report.warnings.map((w) => w.message),
    JSON.stringify(report.changes),
    report.inspected,
    result.stderr,
  ].join('\n')
  for (const [what, secret] of Object.entries(report.secrets)) {
    assert.ok(!everything.includes(secret), `the ${what} leaked:\n${everything}`)
  }
})
