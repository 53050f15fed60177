'use strict'
// The gray (beta) release of a configuration document (issue 12, §1 and §3): app processes on one
// document, the release started, promoted and aborted with the CLI as a user types it; only the
// selected processes change, promote is one change for the others and none for the gray ones,
// abort one change for the gray ones and none for the others — also across ZooKeeper restarts,
// for a store that joins during a release, a store restarted on its snapshot while ZooKeeper is
// down, label and percentage selectors, an autoSave writer in the release, and the tree layout.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const { zkGet, zkLs, zkCreate } = require('../harness/zookeeper')
const { sleep, waitFor } = require('../harness/wait')
const { configFile, tempFile, exactly } = require('./harness/config')
const { cli, steered } = require('./harness/ops')

const suite = configFile({ autoSave: -1 })

/** An app process on the document `name` (see fixtures/config-gray-child.js). */
async function app(name, options = {}) {
  const a = await steered('config-gray-child.js', [suite.zk.connectString, name, JSON.stringify(options)], { limitMs: 180000 })
  suite.cleanups.push(() => a.kill())
  return a
}

/** Runs the CLI against the file's ZooKeeper with --json; resolves to the parsed answer. */
async function ops(...args) {
  const res = await cli(['--zk', suite.zk.connectString, '--json', 'config', ...args])
  assert.equal(res.code, 0, `${args.join(' ')}: ${res.err}${res.out}`)
  return res.json
}

/** The `host:pid` the instance reports name the process `a` by, once it reports. */
async function instance(doc, a) {
  let found
  await waitFor(
    async () => {
      const list = await ops(doc, 'instances')
      found = list.find((i) => i.pid === a.hello.pid)
      return Boolean(found)
    },
    { timeoutMs: 20000, what: `the instance node of pid ${a.hello.pid}` },
  )
  return found.instance
}

const read = (a, key) => a.request({ get: key })

/** Waits until process `a` reads `want` at `key`. */
async function reads(a, key, want, what) {
  await waitFor(async () => (await read(a, key)).value === want, { timeoutMs: 20000, what })
}

/** Asserts that for a second from now `a` keeps reading `want` and sees no update beyond `updated`. */
async function stays(a, key, want, updated, what) {
  const until = Date.now() + 1000
  for (let i = 0; i < 20 && Date.now() < until; i++) {
    const r = await read(a, key)
    assert.deepEqual([r.value, r.updated], [want, updated], what)
    await sleep(100)
  }
}

async function restartZooKeeper() {
  await suite.zk.stop()
  await sleep(500)
  await suite.zk.start()
}

/**
 * Start (--instances the gray process), promote, a second release aborted; counts changes. With
 * `restart`, ZooKeeper is stopped and started in the middle of each step.
 */
async function startPromoteAbort(doc, { restart }) {
  const name = doc.slice(1)
  await zkCreate(suite.zk.connectString, doc, JSON.stringify({ pool: 1, mode: 'old' }))
  const [gray, other] = await Promise.all([app(name), app(name)])
  assert.deepEqual(
    [gray.hello.view, other.hello.view],
    [
      { pool: 1, mode: 'old' },
      { pool: 1, mode: 'old' },
    ],
  )
  const target = await instance(doc, gray)

  const started = await ops(
    doc,
    'gray',
    'start',
    '--instances',
    target,
    '--set',
    'pool',
    '5',
    '--set',
    'fresh',
    '"yes"',
    '-m',
    'try pool 5',
  )
  assert.deepEqual(started.selector, { instances: [target] })
  assert.deepEqual(started.changes.map((c) => [c.key, c.kind, c.new]).sort(), [
    ['fresh', 'added', 'yes'],
    ['pool', 'modified', 5],
  ])
  await reads(gray, 'pool', 5, 'the gray process to read the release')
  if (restart) await restartZooKeeper()
  await stays(other, 'pool', 1, 0, 'the other process keeps the main version, no update')
  await stays(gray, 'pool', 5, 1, 'the gray process: exactly one update')

  let status = await ops(doc, 'gray', 'status')
  assert.equal(status.active, true)
  assert.equal(status.message, 'try pool 5')
  const runs = Object.fromEntries(status.instances.map((i) => [i.pid, [i.selected, i.gray]]))
  await waitFor(
    async () => {
      status = await ops(doc, 'gray', 'status')
      return status.instances.find((i) => i.pid === gray.hello.pid)?.gray === true
    },
    { timeoutMs: 20000, what: 'the gray process to report that it runs the release' },
  )
  assert.deepEqual(runs[other.hello.pid], [false, false], JSON.stringify(status))

  // Written while the stores are still reconnecting after a restart.
  if (restart) await restartZooKeeper()
  const promoted = await ops(doc, 'gray', 'promote', '-m', 'pool 5 for all')
  assert.equal(typeof promoted.version, 'number')
  assert.deepEqual(JSON.parse(await zkGet(suite.zk.connectString, doc)), { pool: 5, mode: 'old', fresh: 'yes' })
  await reads(other, 'pool', 5, 'the other process to get the promoted version')
  if (restart) await restartZooKeeper()
  await stays(other, 'fresh', 'yes', 1, 'promote: exactly one change for the other process')
  await stays(gray, 'pool', 5, 1, 'promote: no change for the gray process')
  const history = await ops(doc, 'history')
  const last = history[history.length - 1]
  assert.deepEqual([last.version, last.action, last.message], [promoted.version, 'gray.promote', 'pool 5 for all'])
  assert.equal((await ops(doc, 'gray', 'status')).active, false)

  // A second release, aborted: the gray process goes back, the other sees nothing.
  await ops(doc, 'gray', 'start', '--instances', target, '--set', 'mode', '"new"')
  await reads(gray, 'mode', 'new', 'the gray process to read the second release')
  if (restart) await restartZooKeeper()
  const aborted = await ops(doc, 'gray', 'abort', '-m', 'not yet')
  assert.deepEqual(
    aborted.changes.map((c) => [c.key, c.old, c.new]),
    [['mode', 'new', 'old']],
  )
  await reads(gray, 'mode', 'old', 'the gray process to go back to the main version')
  if (restart) await restartZooKeeper()
  await stays(gray, 'mode', 'old', 3, 'abort: one change for the gray process (three in all)')
  await stays(other, 'mode', 'old', 1, 'abort: nothing for the other process')
  for (const a of [gray, other]) assert.deepEqual((await read(a, '')).value, { pool: 5, mode: 'old', fresh: 'yes' }, 'the promoted version')
  const audit = await cli(['--zk', suite.zk.connectString, '--json', 'audit'])
  const actions = audit.json.filter((e) => e.target === doc).map((e) => e.action)
  assert.deepEqual(actions, ['config.gray.start', 'config.gray.promote', 'config.gray.start', 'config.gray.abort'])
}

test('gray start --instances: only that process changes; promote is one change for the other, abort one for the gray one', async () => {
  await startPromoteAbort('/gray1', { restart: false })
})

test('the same with ZooKeeper stopped and started in the middle of every step', async () => {
  await startPromoteAbort('/gray2', { restart: true })
})

test('labels and percent select stores; a store joining during a release gets what its selector says', async () => {
  const doc = '/gray3'
  await zkCreate(suite.zk.connectString, doc, JSON.stringify({ flag: 'off' }))
  const [canary, plain] = await Promise.all([app('gray3', { labels: ['canary'] }), app('gray3', { labels: ['web'] })])
  await Promise.all([instance(doc, canary), instance(doc, plain)])
  const started = await cli(['--zk', suite.zk.connectString, 'config', doc, 'gray', 'start', '--labels', 'canary', '--set', 'flag', '"on"'])
  assert.equal(started.code, 0, started.err)
  assert.match(started.out, /gray release started for \{"labels":\["canary"\]\}/)
  assert.match(started.out, /~ flag: off -> on/)
  await reads(canary, 'flag', 'on', 'the canary to read the release')
  await stays(plain, 'flag', 'off', 0, 'a store without the label keeps the main version')

  // Joining during the release: the first view is already what the selector says, no change after.
  const [joined, joinedPlain] = await Promise.all([app('gray3', { labels: ['canary'] }), app('gray3')])
  assert.equal(joined.hello.view.flag, 'on', 'a canary that joins starts on the release')
  assert.equal(joinedPlain.hello.view.flag, 'off')
  await stays(joined, 'flag', 'on', 0, 'no change after joining')

  const status = await cli(['--zk', suite.zk.connectString, 'config', doc, 'gray', 'status'])
  assert.equal(status.code, 0, status.err)
  assert.match(status.out, /gray release for \{"labels":\["canary"\]\}/)
  await ops(doc, 'gray', 'abort')
  await reads(joined, 'flag', 'off', 'the joined canary to go back')

  // --percent: the selected ones (status.selected, stable by host:pid) and only they run it.
  const more = await Promise.all([app('gray3'), app('gray3')])
  const all = [canary, plain, joined, joinedPlain, ...more]
  await Promise.all(all.map((a) => instance(doc, a)))
  await ops(doc, 'gray', 'start', '--percent', '50', '--set', 'flag', '"half"')
  let picked
  await waitFor(
    async () => {
      const s = await ops(doc, 'gray', 'status')
      picked = new Map(s.instances.map((i) => [i.pid, i]))
      return s.instances.every((i) => i.selected === i.gray)
    },
    { timeoutMs: 20000, what: 'every selected instance to run the release, and only those' },
  )
  for (const a of all) {
    const want = picked.get(a.hello.pid).selected ? 'half' : 'off'
    assert.equal((await read(a, 'flag')).value, want, `pid ${a.hello.pid}`)
  }

  // --hosts: every store on that host (all of them here, on one machine), replacing the release.
  const host = picked.get(canary.hello.pid).host
  await ops(doc, 'gray', 'start', '--hosts', host, '--set', 'flag', '"host"', '--force')
  for (const a of all) await reads(a, 'flag', 'host', `pid ${a.hello.pid} on ${host}`)
  await ops(doc, 'gray', 'abort')
})

test('a second start is refused (ERR_CONFIG_GRAY_EXISTS) unless --force; promote/abort without a release say so', async () => {
  const doc = '/gray4'
  await zkCreate(suite.zk.connectString, doc, JSON.stringify({ a: 1 }))
  const cs = suite.zk.connectString
  const none = await cli(['--zk', cs, 'config', doc, 'gray', 'promote'])
  assert.equal(none.code, 1)
  assert.match(none.err, /\[ERR_NOT_FOUND\] .*gray release of \/gray4/)
  await ops(doc, 'gray', 'start', '--hosts', '10.9.9.9', '--set', 'a', '2')
  const again = await cli(['--zk', cs, 'config', doc, 'gray', 'start', '--hosts', '10.9.9.8', '--set', 'a', '3'])
  assert.equal(again.code, 1)
  assert.match(
    again.err,
    /\[ERR_CONFIG_GRAY_EXISTS\] \/gray4 has a gray release in progress already \(started by .* for \{"hosts":\["10.9.9.9"\]\}\)/,
  )
  // --file: a whole document, of which only the differing keys are kept.
  const file = tempFile('gray4.json')
  fs.writeFileSync(file, JSON.stringify({ a: 3, extra: { on: true } }))
  const forced = await ops(doc, 'gray', 'start', '--hosts', '10.9.9.8', '--file', file, '--force')
  assert.equal(forced.replaced, true)
  assert.deepEqual(forced.changes.map((c) => [c.key, c.kind, c.new]).sort(), [
    ['a', 'modified', 3],
    ['extra:on', 'added', true],
  ])
  assert.deepEqual((await ops(doc, 'gray', 'status')).selector, { hosts: ['10.9.9.8'] })
  for (const [args, says] of [
    [['gray', 'start', '--set', 'a', '1'], /exactly one of --hosts/],
    [['gray', 'start', '--hosts', 'h', '--labels', 'l', '--set', 'a', '1'], /exactly one of --hosts/],
    [['gray', 'start', '--hosts', 'h'], /--set KEY JSON/],
    [['gray', 'start', '--hosts', 'h', '--set', 'a', 'not json'], /--set a must be JSON/],
    [['gray', 'abort', '--set', 'a', '1'], /--set goes with gray start/],
    [['gray', 'rollout'], /gray needs one of start, status, promote, abort/],
  ]) {
    const res = await cli(['--zk', cs, 'config', doc, ...args])
    assert.equal(res.code, 2, `${args.join(' ')}: ${res.err}`)
    assert.match(res.err, says)
  }
  const bad = await cli(['--zk', cs, 'config', doc, 'gray', 'start', '--force', '--percent', '0', '--set', 'a', '1'])
  assert.equal(bad.code, 1)
  assert.match(bad.err, /\[ERR_INVALID_ARG\] .*1\.\.100/)
  const same = await cli(['--zk', cs, 'config', doc, 'gray', 'start', '--force', '--percent', '5', '--set', 'a', '1'])
  assert.match(same.err, /\[ERR_INVALID_ARG\] .*changes nothing/)
  await ops(doc, 'gray', 'abort')
  // A release written by hand that nobody can read: status says so, abort still removes it.
  await zkCreate(cs, '/.lemon/gray/config/gray4', 'not json')
  const unreadable = await cli(['--zk', cs, 'config', doc, 'gray', 'status'])
  assert.equal(unreadable.code, 1)
  assert.match(unreadable.err, /\[ERR_CONFIG_INVALID\] .*gray release is not JSON/)
  assert.equal((await ops(doc, 'gray', 'abort')).selector, null)
  assert.equal((await ops(doc, 'gray', 'status')).active, false)
})

test('an autoSave writer in the release: its key goes to the main document, the gray keys stay gray', async () => {
  const doc = '/gray5'
  await zkCreate(suite.zk.connectString, doc, JSON.stringify({ shared: 1 }))
  const [writer, other] = await Promise.all([app('gray5', { autoSave: 0, labels: ['beta'] }), app('gray5')])
  await ops(doc, 'gray', 'start', '--labels', 'beta', '--set', 'shared', '2', '--set', 'beta:only', 'true')
  await reads(writer, 'shared', 2, 'the writer to run the release')
  await writer.request({ set: ['local', 'mine'] })
  await reads(other, 'local', 'mine', "the other process to get the writer's key through the main document")
  assert.deepEqual(JSON.parse(await zkGet(suite.zk.connectString, doc)), { shared: 1, local: 'mine' }, 'no gray key in the main document')
  assert.deepEqual((await read(writer, '')).value, { shared: 2, beta: { only: true }, local: 'mine' }, 'the writer keeps both sides')
  assert.equal((await read(other, 'shared')).value, 1)
  await ops(doc, 'gray', 'promote')
  await reads(other, 'shared', 2, 'promote to reach the other process')
  assert.deepEqual(JSON.parse(await zkGet(suite.zk.connectString, doc)), { shared: 2, local: 'mine', beta: { only: true } })
})

test('a gray store restarted on its snapshot while ZooKeeper is down drops a release aborted meanwhile when it is back', async () => {
  const doc = '/gray6'
  const cacheFile = tempFile('gray6.json')
  await zkCreate(suite.zk.connectString, doc, JSON.stringify({ limit: 10 }))
  const first = await app('gray6', { labels: ['canary'], cacheFile })
  await ops(doc, 'gray', 'start', '--labels', 'canary', '--set', 'limit', '99')
  await reads(first, 'limit', 99, 'the canary to run the release')
  await waitFor(() => fs.existsSync(cacheFile) && JSON.parse(fs.readFileSync(cacheFile, 'utf8')).limit === 99, {
    timeoutMs: 10000,
    what: 'the snapshot to record what the store applied',
  })
  // The canary is cut off (its process gone) while the release is aborted, then restarted
  // during an outage: it runs what it applied before, from the snapshot.
  await first.kill()
  await ops(doc, 'gray', 'abort')
  await suite.zk.stop()
  const second = await app('gray6', { labels: ['canary'], cacheFile, connectTimeoutMs: 500 })
  assert.deepEqual([second.hello.source, second.hello.view.limit], ['snapshot', 99])
  await suite.zk.start()
  // Back on ZooKeeper: the aborted release's keys are dropped, as exactly one change.
  await reads(second, 'limit', 10, 'the restarted store to drop the aborted release')
  await stays(second, 'limit', 10, 1, 'one change')
  assert.equal((await read(second, 'limit')).source, 'zookeeper')
  await waitFor(() => JSON.parse(fs.readFileSync(cacheFile, 'utf8')).limit === 10, { timeoutMs: 10000, what: 'the snapshot to follow' })
})

test("tree layout: promote writes only the changed keys' znodes, as one version", async () => {
  const doc = '/gray7'
  const first = await app('gray7', { layout: 'tree', labels: ['t'] })
  await first.request({ set: ['db:host', 'a'] })
  await first.request({ set: ['db:port', 1] })
  await first.request({ save: 'seed' })
  const untold = await cli(['--zk', suite.zk.connectString, 'config', doc, 'gray', 'start', '--labels', 't', '--set', 'db:host', '"b"'])
  assert.equal(untold.code, 1)
  assert.match(untold.err, /\[ERR_INVALID_ARG\] .*looks like the tree layout; give --layout tree/)
  await ops(doc, 'gray', 'start', '--layout', 'tree', '--labels', 't', '--set', 'db:host', '"b"')
  await reads(first, 'db:host', 'b', 'the tree store to run the release')
  const before = (await read(first, 'db:host')).updated
  const promoted = await ops(doc, 'gray', 'promote', '--layout', 'tree', '-m', 'db b')
  assert.deepEqual(
    promoted.changes.map((c) => c.key),
    ['db:host'],
  )
  assert.equal(await zkGet(suite.zk.connectString, '/gray7/db/host'), '"b"')
  assert.deepEqual((await zkLs(suite.zk.connectString, '/gray7')).sort(), ['db'])
  const history = await ops(doc, 'history')
  assert.deepEqual(history[history.length - 1].changes, [{ key: 'db:host', kind: 'modified', old: 'a', new: 'b' }])
  await stays(first, 'db:host', 'b', before, 'no change for the store that ran it')
})

test('after a session expiry the release watch is re-armed: a release started then reaches only its stores', async () => {
  const doc = '/gray8'
  await zkCreate(suite.zk.connectString, doc, JSON.stringify({ v: 'main' }))
  const short = { name: 'gray8', sessionTimeoutMs: 1000, connectTimeoutMs: 1000 }
  const canary = suite.open({ ...short, labels: ['canary'] })
  const plain = suite.open(short)
  await suite.zk.stop()
  await sleep(2500)
  await suite.zk.start()
  await waitFor(() => canary.warnings.some((w) => w.code === 'ERR_ZK_SESSION_EXPIRED'), { timeoutMs: 15000, what: 'the expiry' })
  await ops(doc, 'gray', 'start', '--labels', 'canary', '--set', 'v', '"gray"')
  await exactly(canary.updates, 1, 'the release in the new session')
  assert.equal(canary.conf.get('v'), 'gray')
  await ops(doc, 'gray', 'abort')
  await exactly(canary.updates, 2, 'the abort in the new session')
  assert.equal(canary.conf.get('v'), 'main')
  assert.deepEqual(plain.updates, [], 'the store without the label saw nothing')
})

test('a secret in a release is sealed as a save seals it; no plaintext in ZooKeeper, the history or the CLI output', async () => {
  const { register } = require('./harness/config')
  const cs = suite.zk.connectString
  const key = register.generateKey()
  const doc = '/gray9'
  await zkCreate(cs, doc, JSON.stringify({ db: { password: register.encrypt('old-s3cret', key) } }))
  const [gray, other] = await Promise.all([app('gray9', { secretKey: key, labels: ['canary'] }), app('gray9', { secretKey: key })])
  assert.equal(gray.hello.view.db.password, 'old-s3cret')
  const args = ['--zk', cs, 'config', doc, 'gray', 'start', '--labels', 'canary', '--set', 'db:password', '"n3w-s3cret"']
  const refused = await cli(args, { env: { LEMON_CONFIG_KEY: '' } })
  assert.equal(refused.code, 1)
  assert.match(refused.err, /\[ERR_CONFIG_DECRYPT\] .*db:password/)
  const started = await cli(args, { env: { LEMON_CONFIG_KEY: key } })
  assert.equal(started.code, 0, started.err)
  assert.match(started.out, /~ db:password: ENC\(…\) -> ENC\(…\)/)
  await reads(gray, 'db:password', 'n3w-s3cret', 'the gray store to decrypt the release')
  assert.equal((await read(other, 'db:password')).value, 'old-s3cret')
  const status = await cli(['--zk', cs, '--json', 'config', doc, 'gray', 'status'])
  assert.deepEqual(
    status.json.changes.map((c) => [c.key, c.old, c.new]),
    [['db:password', 'ENC(…)', 'ENC(…)']],
    'masked in the answer too',
  )
  const node = await zkGet(cs, '/.lemon/gray/config/gray9')
  assert.match(node, /ENC\(/)
  await ops(doc, 'gray', 'promote')
  await reads(other, 'db:password', 'n3w-s3cret', 'the promoted secret')
  const history = await cli(['--zk', cs, '--json', 'config', doc, 'history'])
  const stored = await zkGet(cs, doc)
  for (const text of [started.out, started.err, status.out, node, history.out, stored]) {
    for (const plain of ['old-s3cret', 'n3w-s3cret']) assert.ok(!text.includes(plain), `${plain} in ${text.slice(0, 200)}`)
  }
})

test("a release this store may not read (another identity's ACL) is reported and never stops it following its document", async () => {
  const { zkSet } = require('../harness/zookeeper')
  const cs = suite.zk.connectString
  const doc = '/gray10'
  await zkCreate(cs, doc, JSON.stringify({ v: 1 }))
  const store = suite.open({ name: 'gray10' })
  assert.equal(store.conf.get('v'), 1)
  const { Admin } = require('..')
  const admin = new Admin({ zk: cs, auth: 'ops:pw', acl: 'private' })
  suite.cleanups.push(() => admin.close())
  await admin.configGrayStart(doc, { selector: { percent: 100 }, set: { v: 2 } })
  // ZooKeeper does not tell a session of changes to a node it may not read; the next read of
  // the document reads the release too.
  await zkSet(cs, doc, JSON.stringify({ v: 1, w: true }))
  await waitFor(() => store.conf.get('w') === true, { timeoutMs: 15000, what: 'the store to keep following its document' })
  assert.equal(store.conf.get('v'), 1)
  assert.ok(
    store.warnings.some((w) => w.code === 'ERR_ZK_AUTH' && /gray release/.test(w.message)),
    JSON.stringify(store.warnings),
  )
  await admin.configGrayAbort(doc)
})
