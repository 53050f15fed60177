'use strict'
// The operations layer end to end: the `lemon-cluster` CLI run as a child process against a
// real ZooKeeper, real provider and consumer processes, checked from outside with zkCli.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { zooKeeperForFile } = require('./harness/file')
const { startProvider, deadPort, waitFor } = require('./harness/providers')
const { zkCli, zkCreate, zkGet, zkLs, zkSet } = require('../harness/zookeeper')
const { cli, steered } = require('./harness/ops')
const { Cluster } = require('..')

const suite = zooKeeperForFile()
const me = `${os.userInfo().username}@${os.hostname()}`
const base = '/lemonhjuice/shop/cart'
let env
let providers
let consumers
let hand
let addresses

const lemon = (...args) => cli(args, { env })
const json = async (...args) => {
  const r = await cli([...args, '--json'], { env })
  assert.equal(r.code, 0, `lemon-cluster ${args.join(' ')}: ${r.err}`)
  return r.json
}
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lemon-admin-test-'))
const file = (name, value) => {
  const f = path.join(tmp, name)
  fs.writeFileSync(f, typeof value === 'string' ? value : JSON.stringify(value))
  return f
}

/** Each endpoint's count among `n` calls of consumer `c`, by address. */
async function split(c, n) {
  const r = await c.request({ calls: n })
  assert.deepEqual(r.errors, {})
  return Object.fromEntries(Object.entries(r.ports).map(([port, count]) => [`127.0.0.1:${port}`, count]))
}

// The shared service, made by the first test that needs it (a second root `before` hook would
// not be ordered after the ZooKeeper fixture's on Node 20).
let made
const setup = () => (made = made || makeService())

async function makeService() {
  env = { LEMON_ZK: suite.zk.connectString, LEMON_ZK_AUTH: '' }
  const cs = suite.zk.connectString
  providers = [await steered('ops-provider.js', [cs, 'shop', 'cart']), await steered('ops-provider.js', [cs, 'shop', 'cart'])]
  suite.cleanups.push(() => Promise.all(providers.map((p) => p.kill())))
  // The third provider is written by hand with zkCli in the design note's format: no port in the
  // node name, every value a string, methods as "[a(),b()]".
  hand = await startProvider()
  suite.cleanups.push(() => hand.close())
  await zkCreate(
    cs,
    `${base}/providers/127.0.0.1`,
    JSON.stringify({ port: String(hand.port), version: 'V1', methods: '[get(),put()]', gray: 'false', weight: '100' }),
  )
  addresses = [...providers.map((p) => `127.0.0.1:${p.hello.port}`), `127.0.0.1:${hand.port}`].sort()
  consumers = [
    await steered('ops-consumer.js', [cs, 'shop', 'cart', '1000']),
    await steered('ops-consumer.js', [cs, 'shop', 'cart', '1000']),
  ]
  suite.cleanups.push(() => Promise.all(consumers.map((c) => c.kill())))
  for (const c of consumers)
    await waitFor(async () => Object.keys(await split(c, 6)).length === 3, { timeoutMs: 10000, what: 'a consumer to see 3 providers' })
}

test('services, providers and consumers show the 3 provider processes (one written by hand) and 2 consumer processes exactly', async () => {
  await setup()
  const services = await json('services')
  assert.deepEqual(
    services.map((s) => [s.service, s.endpoints, s.instances, s.consumers]),
    [['shop/cart', 3, 3, 2]],
  )
  const p = await json('providers', 'shop/cart')
  assert.deepEqual(
    p.endpoints.map((e) => e.address),
    addresses,
  )
  assert.deepEqual(p.rejected, [])
  for (const e of p.endpoints) {
    assert.equal(e.version, 'V1')
    assert.deepEqual(e.methods, ['get', 'put'])
    assert.equal(e.weight, 100)
    assert.equal(e.disabled, false)
    assert.equal(e.instances, 1)
  }
  const byAddress = Object.fromEntries(p.endpoints.map((e) => [e.address, e]))
  for (const pr of providers) assert.deepEqual(byAddress[`127.0.0.1:${pr.hello.port}`].pids, [pr.hello.pid])
  assert.deepEqual(byAddress[`127.0.0.1:${hand.port}`].pids, [], 'the hand-written node has no pid')
  const c = await json('consumers', 'shop/cart')
  assert.deepEqual(c.map((x) => x.pid).sort(), consumers.map((x) => x.hello.pid).sort())
  for (const x of c) {
    assert.deepEqual(
      [x.host, x.version, x.loadBalance, x.mode, x.lemonVersion],
      ['127.0.0.1', 'V1', 'roundrobin', 'failover', require('../package.json').version],
    )
  }
  // The readable tables say the same.
  const table = await lemon('providers', 'shop/cart')
  assert.equal(table.code, 0)
  for (const a of addresses) assert.match(table.out, new RegExp(a.replace(/\./g, '\\.')))
  const all = await lemon('services')
  assert.match(all.out, /^SERVICE\s+ENDPOINTS/m)
  assert.match(all.out, /^shop\/cart\s+3\s+3\s+2/m)
})

test('weight: the running consumers follow; history names the message and identity; rollback restores the split; diff shows it', async () => {
  await setup()
  const [a] = addresses
  const even = await split(consumers[0], 90)
  assert.deepEqual(Object.values(even), [30, 30, 30], 'round robin before any rule')
  const w = await lemon('--json', 'weight', 'shop/cart', a, '300', '-m', 'a takes more')
  assert.equal(w.code, 0, w.err)
  assert.deepEqual(w.json.changes, [{ key: `configurators.providers.${a}.weight`, type: 'added', old: null, new: 300 }])
  const version = w.json.version
  // Global flags after the command too; the readable output prints the diff it made.
  const shown = await cli(['rules', 'shop/cart', 'get', '--zk', suite.zk.connectString], { env: { LEMON_ZK: '' } })
  assert.match(shown.out, new RegExp(`version ${version}`))
  // 300 : 100 : 100 → 60 % of the calls (smooth weighted round robin: within one call of it).
  await waitFor(async () => Math.abs((await split(consumers[1], 100))[a] - 60) <= 1, { timeoutMs: 10000, what: 'the weight to apply' })
  const after = await split(consumers[0], 100)
  assert.ok(Math.abs(after[a] - 60) <= 1, JSON.stringify(after))

  const history = await json('rules', 'shop/cart', 'history')
  const last = history[history.length - 1]
  assert.deepEqual([last.version, last.message, last.who, last.action, last.recorded], [version, 'a takes more', me, 'weight', true])
  assert.match(
    (await lemon('rules', 'shop/cart', 'history')).out,
    new RegExp(`version ${version} .*${me.replace(/\./g, '\\.')}.*weight: a takes more`),
  )

  const diff = await json('rules', 'shop/cart', 'diff', String(version - 1), String(version))
  assert.deepEqual(diff.changes, [{ key: `configurators.providers.${a}.weight`, type: 'added', old: null, new: 300 }])
  const printed = await lemon('rules', 'shop/cart', 'diff', String(version - 1))
  assert.match(printed.out, new RegExp(`\\+ configurators\\.providers\\.${a.replace(/\./g, '\\.')}\\.weight: 300`))

  const back = await lemon('rules', 'shop/cart', 'rollback', String(version - 1), '-m', 'undo')
  assert.equal(back.code, 0, back.err)
  assert.match(back.out, new RegExp(`version ${version + 1}`))
  assert.match(back.out, /- configurators\.providers\..*\.weight: 300/)
  await waitFor(async () => Object.values(await split(consumers[1], 90)).every((n) => Math.abs(n - 30) <= 1), {
    timeoutMs: 10000,
    what: 'the rollback to apply',
  })
  const h = await json('rules', 'shop/cart', 'history')
  assert.deepEqual(
    h.slice(-2).map((e) => [e.version, e.action, e.message]),
    [
      [version, 'weight', 'a takes more'],
      [version + 1, 'rollback', `rollback to version ${version - 1}: undo`],
    ],
  )
  const audit = await json('audit')
  assert.deepEqual(
    audit.slice(-2).map((e) => [e.action, e.target, e.who, e.version]),
    [
      ['rules.weight', 'shop/cart', me, version],
      ['rules.rollback', 'shop/cart', me, version + 1],
    ],
  )
  // The history and audit nodes are not taken for a service.
  assert.deepEqual(
    (await json('services')).map((s) => s.service),
    ['shop/cart'],
  )
})

test("an invalid rule is refused with the consumers' message and the node is unchanged (zkCli); two concurrent edits: one wins, the other is told, nothing is lost", async () => {
  await setup()
  const [a, b] = addresses
  const cs = suite.zk.connectString
  const before = await zkGet(cs, `${base}/configurators`)
  for (const [doc, code, says] of [
    [{ configurators: { providers: { [a]: { weigth: 5 } } } }, 'ERR_BAD_CONFIGURATOR', /weigth/],
    [{ routers: { gray: { percent: 'ten' } } }, 'ERR_BAD_ROUTER', /percent/],
    [{ configurators: { providers: { [a]: { weight: -1 } } } }, 'ERR_BAD_CONFIGURATOR', /weight/],
    [{ router: {} }, 'ERR_INVALID_ARG', /router/],
  ]) {
    const r = await lemon('rules', 'shop/cart', 'set', file('bad.json', doc), '-m', 'oops')
    assert.notEqual(r.code, 0)
    assert.equal(r.err.trim().split('\n').length, 1, `one line: ${r.err}`)
    assert.match(r.err, new RegExp(code))
    assert.match(r.err, says)
  }
  const notJson = await lemon('rules', 'shop/cart', 'set', file('bad.json', '{"configurators": '))
  assert.equal(notJson.code, 1)
  assert.match(notJson.err, /not JSON/)
  assert.equal(await zkGet(cs, `${base}/configurators`), before, 'nothing was written')

  // Two operators edit at once: both read the same version, both write (the editor waits until
  // both have read), exactly one wins.
  const barrier = fs.mkdtempSync(path.join(tmp, 'barrier-'))
  const editor = file(
    'editor.js',
    `#!${process.execPath}
const fs = require('node:fs')
const [f] = process.argv.slice(2)
const doc = JSON.parse(fs.readFileSync(f, 'utf8'))
doc.configurators = { providers: { ${JSON.stringify(b)}: { weight: Number(process.env.TEST_WEIGHT) } } }
fs.writeFileSync(f, JSON.stringify(doc))
fs.writeFileSync(${JSON.stringify(barrier)} + '/' + process.pid, '')
const until = Date.now() + 20000
while (fs.readdirSync(${JSON.stringify(barrier)}).length < 2 && Date.now() < until) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20)
`,
  )
  fs.chmodSync(editor, 0o755)
  // The configurators node exists (both edits rewrite it, compare-and-set on its version).
  await json('weight', 'shop/cart', a, '100', '-m', 'before the race')
  const versionBefore = (await json('rules', 'shop/cart', 'get')).version
  const [x, y] = await Promise.all(
    ['7', '9'].map((weight) =>
      cli(['rules', 'shop/cart', 'edit', '-m', `weight ${weight}`], { env: { ...env, EDITOR: editor, VISUAL: '', TEST_WEIGHT: weight } }),
    ),
  )
  const results = [x, y].sort((p, q) => p.code - q.code)
  assert.deepEqual(
    results.map((r) => r.code),
    [0, 1],
    `${x.err} / ${y.err}`,
  )
  const [winner, loser] = results
  assert.match(loser.err, /ERR_RULE_CONFLICT/)
  const kept = /kept in (\S+)\)/.exec(loser.err)
  assert.ok(kept, loser.err)
  const node = JSON.parse(await zkGet(cs, `${base}/configurators`))
  const wonWeight = node.providers[b].weight
  assert.match(winner.out, new RegExp(`weight: .*${wonWeight}$`, 'm'))
  // The losing edit is not lost: it is kept in its file, to be applied again.
  const lostWeight = JSON.parse(fs.readFileSync(kept[1], 'utf8')).configurators.providers[b].weight
  assert.deepEqual([wonWeight, lostWeight].sort(), [7, 9], `${winner.out} / ${lostWeight}`)
  const now = await json('rules', 'shop/cart', 'get')
  assert.equal(now.version, versionBefore + 1, 'one new version')
  const h = await json('rules', 'shop/cart', 'history')
  assert.equal(h[h.length - 1].message, `weight ${wonWeight}`)
})

test('a change made with zkCli shows as an external version and is recorded before the next change', async () => {
  await setup()
  const [a] = addresses
  const cs = suite.zk.connectString
  const v = (await json('rules', 'shop/cart', 'get')).version
  await zkSet(cs, `${base}/configurators`, JSON.stringify({ providers: { [a]: { weight: 50 } } }))
  const seen = await json('rules', 'shop/cart', 'get')
  assert.deepEqual([seen.version, seen.external], [v + 1, true])
  const h = await json('rules', 'shop/cart', 'history')
  assert.deepEqual([h[h.length - 1].external, h[h.length - 1].recorded], [true, false])
  const w = await json('weight', 'shop/cart', a, '60', '-m', 'after zkCli')
  assert.equal(w.version, v + 2)
  assert.equal(w.recordedExternal, true)
  const h2 = await json('rules', 'shop/cart', 'history')
  assert.deepEqual(
    h2.slice(-2).map((e) => [e.version, e.action, e.recorded]),
    [
      [v + 1, 'external', true],
      [v + 2, 'weight', true],
    ],
  )
  // Rolling back to the external version restores what zkCli wrote.
  await json('rules', 'shop/cart', 'rollback', String(v + 1))
  assert.deepEqual(JSON.parse(await zkGet(cs, `${base}/configurators`)), { providers: { [a]: { weight: 50 } } })
})

test('disable of the last enabled endpoint is refused without --force; simulate reports the shares', async () => {
  await setup()
  const cluster = new Cluster({ zk: suite.zk.connectString, host: '127.0.0.1', cacheDir: false })
  suite.cleanups.push(() => cluster.close())
  const servers = [await startProvider(), await startProvider()]
  suite.cleanups.push(() => Promise.all(servers.map((s) => s.close())))
  for (const s of servers) await cluster.provide({ app: 'shop', group: 'pay', port: s.port })
  const [a, b] = servers.map((s) => `127.0.0.1:${s.port}`)
  // A consumer without warmup, so that the dry run weighs as it does (the providers just started).
  const watcher = cluster.consumer({ app: 'shop', group: 'pay', warmupMs: 0 })
  await watcher.ready()
  await waitFor(async () => (await json('consumers', 'shop/pay')).length === 1, { what: 'the consumer node' })
  const one = await lemon('disable', 'shop/pay', a, '-m', 'maintenance')
  assert.equal(one.code, 0, one.err)
  assert.match(one.out, /\+ configurators\.providers\..*\.disabled: true/)
  const last = await lemon('disable', 'shop/pay', b)
  assert.equal(last.code, 1)
  assert.match(last.err, /ERR_RULE_UNSAFE.*every method.*force/)
  assert.deepEqual(JSON.parse(await zkGet(suite.zk.connectString, '/lemonhjuice/shop/pay/configurators')), {
    providers: { [a]: { disabled: true } },
  })
  const forced = await lemon('disable', 'shop/pay', b, '--force', '-m', 'all down')
  assert.equal(forced.code, 0, forced.err)
  assert.equal((await lemon('enable', 'shop/pay', a)).code, 0)
  assert.equal((await lemon('enable', 'shop/pay', b)).code, 0)
  // A typo in the address is refused too.
  const typo = await lemon('weight', 'shop/pay', '127.0.0.1:1', '5')
  assert.equal(typo.code, 1)
  assert.match(typo.err, /ERR_NOT_FOUND/)

  const untouched = await zkGet(suite.zk.connectString, '/lemonhjuice/shop/pay/configurators')
  const proposal = file('proposal.json', {
    configurators: { providers: { [a]: { weight: 300 } } },
    routers: { gray: { hosts: ['10.9.9.9'] } },
  })
  const sim = await json('rules', 'shop/pay', 'simulate', proposal)
  assert.deepEqual(
    sim.endpoints.map((e) => [e.address, e.share]),
    [
      [a, 0.75],
      [b, 0.25],
    ].sort(),
  )
  assert.deepEqual(sim.orphaned, [])
  const table = await lemon('rules', 'shop/pay', 'simulate', proposal)
  assert.match(table.out, /75%/)
  assert.match(table.out, /25%/)
  assert.equal(await zkGet(suite.zk.connectString, '/lemonhjuice/shop/pay/configurators'), untouched, 'simulate writes nothing')
})

test('with --auth the change is recorded as the ZooKeeper identity and the new nodes get its ACL', async () => {
  await setup()
  const cs = suite.zk.connectString
  const w = await cli(['weight', 'shop/locked', '127.0.0.1:9', '5', '--force', '-m', 'secured', '--json'], {
    env: { ...env, LEMON_ZK_AUTH: 'ops:s3cret' },
  })
  assert.equal(w.code, 0, w.err)
  const h = await json('rules', 'shop/locked', 'history')
  assert.equal(h[h.length - 1].who, 'digest:ops')
  for (const p of ['/lemonhjuice/shop/locked/configurators', '/lemonhjuice/.lemon/history/services/shop/locked/v0000000001']) {
    const acl = await zkCli(cs, 'getAcl', p)
    assert.match(acl.stdout, /'digest,'ops:/, p)
    assert.match(acl.stdout, /'world,'anyone\n: r\n/, p)
  }
  const anonymous = await lemon('weight', 'shop/locked', '127.0.0.1:9', '6', '--force')
  assert.equal(anonymous.code, 1)
  assert.match(anonymous.err, /ERR_ZK_AUTH/)
  assert.doesNotMatch(w.out + w.err + anonymous.err, /s3cret/)
})

test('usage: --help for every command, one-line reasons and exit codes', async () => {
  await setup()
  for (const command of [
    'services',
    'providers',
    'consumers',
    'health',
    'weight',
    'disable',
    'enable',
    'gray',
    'degrade',
    'rules',
    'audit',
  ]) {
    const r = await cli([command, '--help'])
    assert.equal(r.code, 0)
    assert.match(r.out, new RegExp(`usage: lemon-cluster .*${command}`))
  }
  const none = await cli([], { env: { LEMON_ZK: '' } })
  assert.equal(none.code, 2)
  for (const [args, code, says] of [
    [['frobnicate'], 2, /unknown command/],
    [['providers'], 2, /needs <app>\/<group>/],
    [['providers', 'nogroup'], 1, /ERR_INVALID_ARG/],
    [['providers', 'shop/none'], 1, /ERR_NOT_FOUND/],
    [['services', '--force'], 2, /--force is only for changes/],
    [['gray', 'shop/cart'], 2, /exactly one of/],
  ]) {
    const r = await lemon(...args)
    assert.equal(r.code, code, `${args.join(' ')}: ${r.err}`)
    assert.match(r.err, says)
    assert.equal(r.err.trim().split('\n').length, 1, r.err)
  }
  // ZooKeeper out of reach: one line, exit 1, within the connect timeout.
  const started = Date.now()
  const down = await lemon('services', '--zk', `127.0.0.1:${await deadPort()}`)
  assert.equal(down.code, 1)
  assert.match(down.err, /^lemon-cluster: \[ERR_ZK_UNAVAILABLE\]/)
  assert.equal(down.err.trim().split('\n').length, 1, down.err)
  assert.ok(Date.now() - started < 15000)
  const noZk = await cli(['services'], { env: { LEMON_ZK: '' } })
  assert.equal(noZk.code, 2)
  assert.match(noZk.err, /--zk/)
  const j = await lemon('providers', 'shop/none', '--json')
  assert.equal(j.json.error.code, 'ERR_NOT_FOUND')
})

test('history and audit stay bounded: the oldest versions go in the same multi as a change', async () => {
  await setup()
  const { Admin } = require('..')
  const admin = new Admin({ zk: suite.zk.connectString, identity: 'bounded@test', historyLimit: 3, auditLimit: 10 })
  suite.cleanups.push(() => admin.close())
  for (let w = 1; w <= 12; w++) {
    const r = await admin.change('shop/bounded', { op: 'weight', address: '127.0.0.1:9', weight: w }, { message: `w${w}`, force: true })
    assert.equal(r.version, w)
  }
  const history = await admin.history('shop/bounded')
  assert.deepEqual(
    history.map((e) => [e.version, e.message]),
    [
      [10, 'w10'],
      [11, 'w11'],
      [12, 'w12'],
    ],
  )
  assert.deepEqual(await zkLs(suite.zk.connectString, '/lemonhjuice/.lemon/history/services/shop/bounded'), [
    'v0000000010',
    'v0000000011',
    'v0000000012',
  ])
  const audit = await zkLs(suite.zk.connectString, '/lemonhjuice/.lemon/audit')
  assert.equal(audit.length, 10)
  assert.deepEqual(
    (await admin.audit(3)).map((e) => e.message),
    ['w10', 'w11', 'w12'],
  )
  await assert.rejects(admin.diff('shop/bounded', 2), (e) => e.code === 'ERR_NOT_FOUND' && /versions kept: 10 to 12/.test(e.message))
})

test('gray and degrade: the CLI edits reach a running consumer; off takes them back', async () => {
  await setup()
  const cs = suite.zk.connectString
  const cluster = new Cluster({ zk: cs, host: '127.0.0.1', cacheDir: false })
  suite.cleanups.push(() => cluster.close())
  const normal = await startProvider()
  const gray = await startProvider()
  suite.cleanups.push(() => Promise.all([normal.close(), gray.close()]))
  await cluster.provide({ app: 'shop', group: 'lane', port: normal.port })
  await cluster.provide({ app: 'shop', group: 'lane', port: gray.port, gray: true })
  const consumer = cluster.consumer({ app: 'shop', group: 'lane', warmupMs: 0 })
  await waitFor(() => consumer.providers().length === 2, { what: 'both providers' })

  const on = await lemon('gray', 'shop/lane', '--hosts', '127.0.0.1', '-m', 'this host goes gray')
  assert.equal(on.code, 0, on.err)
  assert.match(on.out, /\+ routers\.gray\.hosts: \["127\.0\.0\.1"\]/)
  assert.match((await lemon('services')).out, /shop\/lane .*gray hosts 127\.0\.0\.1/)
  await waitFor(async () => (await consumer.call('get')).port === gray.port, { timeoutMs: 10000, what: 'the gray rule' })
  const off = await lemon('gray', 'shop/lane', '--off')
  assert.equal(off.code, 0, off.err)
  assert.match(off.out, /- routers\.gray\.hosts/)
  await waitFor(async () => (await consumer.call('get')).port === normal.port, { timeoutMs: 10000, what: 'the gray rule gone' })
  assert.equal(await zkGet(cs, '/lemonhjuice/shop/lane/routers'), null, 'an empty rule deletes the node')

  const degraded = await lemon('degrade', 'shop/lane', 'on', '--fallback', '{"degraded":true}', '-m', 'db outage')
  assert.equal(degraded.code, 0, degraded.err)
  await waitFor(async () => (await consumer.call('get')).degraded === true, { timeoutMs: 10000, what: 'forced degradation' })
  const hits = normal.hits + gray.hits
  for (let i = 0; i < 10; i++) assert.deepEqual(await consumer.call('get'), { degraded: true })
  assert.equal(normal.hits + gray.hits, hits, 'no provider is called while degraded')
  assert.equal((await lemon('degrade', 'shop/lane', 'off')).code, 0)
  await waitFor(async () => (await consumer.call('get')).port === normal.port, { timeoutMs: 10000, what: 'degradation off' })
  const h = await json('rules', 'shop/lane', 'history')
  assert.deepEqual(
    h.map((e) => [e.action, e.message]),
    [
      ['gray', 'this host goes gray'],
      ['gray', ''],
      ['degrade', 'db outage'],
      ['degrade', ''],
    ],
  )
})

test('AdminOptions: the reader, lib/admin.d.ts and docs/operations.md name the same keys', () => {
  const { Admin } = require('..')
  let known
  try {
    new Admin({ zk: '127.0.0.1:1', zzProbe: 1 })
  } catch (e) {
    known = /unknown option \(known: ([^)]*)\)/.exec(e.message)[1].split(', ').sort()
  }
  assert.ok(known, 'the probe key is refused')
  const typings = fs.readFileSync(path.join(__dirname, '..', 'lib', 'admin.d.ts'), 'utf8')
  const body = /export interface AdminOptions \{\n([\s\S]*?)\n\}/.exec(typings)[1]
  assert.deepEqual([...body.matchAll(/^ {2}(\w+)\??:/gm)].map((m) => m[1]).sort(), known)
  const doc = fs.readFileSync(path.join(__dirname, '..', 'docs', 'operations.md'), 'utf8').split('\n## Methods')[0]
  for (const key of known) assert.match(doc, new RegExp(`\`${key}\``), `docs/operations.md names ${key}`)
})
