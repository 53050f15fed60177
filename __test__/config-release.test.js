'use strict'
// Configuration release management from the command line (issue 12, §2–3): `config <path> get |
// set | edit | history | diff | rollback | compare [--copy]`, the CLI run as a child process, two
// app processes following the document, a real ZooKeeper. Both layouts where the writes differ
// (the tree layout writes only the changed keys' znodes).

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { waitFor } = require('./harness/providers')
const { configFile, tempFile, sleep } = require('./harness/config')
const { cli, steered } = require('./harness/ops')

const suite = configFile({ autoSave: -1 })
const IDENTITY = `${os.userInfo().username}@${os.hostname()}`

/** `lemon-cluster --zk <suite> ...args`; with `json`, --json and the parsed answer. */
async function run(args, { json = false, ok = true, ...options } = {}) {
  const res = await cli(['--zk', suite.zk.connectString, ...(json ? ['--json'] : []), ...args], options)
  if (ok) assert.equal(res.code, 0, `${args.join(' ')}: ${res.err}${res.out}`)
  return res
}

/** An app process following `name` (see fixtures/config-release-child.js), closed at the end. */
async function app(name, layout, ...rest) {
  const a = await steered('config-release-child.js', [suite.zk.connectString, name, layout, ...rest])
  suite.cleanups.push(() => a.kill())
  return a
}

const get = async (a, key) => (await a.request({ op: 'get', key })).value
const updates = async (a) => (await a.request({ op: 'updates' })).updates

for (const layout of ['document', 'tree']) {
  const flags = layout === 'tree' ? ['--layout', 'tree'] : []
  const doc = `/rel-${layout}/app`

  test(`${layout}: set creates, history lists every version with message and identity, diff shows exactly the changed keys, rollback to the first version is one change for each process`, async () => {
    const first = await run(['config', doc, 'set', 'pool', '1', '-m', 'first pool', ...flags])
    assert.match(first.out, new RegExp(`${doc}: version 1\\n  \\+ pool: 1`), 'a write prints the diff it made')
    await run(['config', doc, 'set', 'db', '{"host":"a","port":5432}', '-m', 'the database', ...flags])
    const [one, two] = [await app(doc.slice(1), layout), await app(doc.slice(1), layout)]
    for (const a of [one, two]) assert.equal(await get(a, 'db:host'), 'a')
    await run(['config', doc, 'set', 'pool', '2', '-m', 'more pool', ...flags])
    await run(['config', doc, 'set', 'db:host', '"b"', ...flags])
    for (const a of [one, two]) await waitFor(async () => (await get(a, 'db:host')) === 'b', { what: 'both on version 4' })

    const history = (await run(['config', doc, 'history', ...flags], { json: true })).json
    assert.deepEqual(
      history.map((e) => [e.version, e.action, e.message, e.who, e.content]),
      [
        [1, 'set', 'first pool', IDENTITY, true],
        [2, 'set', 'the database', IDENTITY, true],
        [3, 'set', 'more pool', IDENTITY, true],
        [4, 'set', '', IDENTITY, true],
      ],
    )
    const text = (await run(['config', doc, 'history', ...flags])).out
    assert.match(text, new RegExp(`version 3 .* ${IDENTITY.replace(/[.]/g, '\\.')}  set: more pool\\n  ~ pool: 1 -> 2`))

    const diff = (await run(['config', doc, 'diff', '1', '4', ...flags], { json: true })).json
    assert.deepEqual(diff.changes.map((c) => [c.key, c.kind, c.old, c.new]).sort(), [
      ['db:host', 'added', null, 'b'],
      ['db:port', 'added', null, 5432],
      ['pool', 'modified', 1, 2],
    ])
    const diff23 = (await run(['config', doc, 'diff', '2', '3', ...flags])).out
    assert.equal(diff23.trim(), `${doc}: version 2 -> version 3\n  ~ pool: 1 -> 2`)

    const before = await Promise.all([updates(one), updates(two)])
    const back = await run(['config', doc, 'rollback', '1', ...flags], { json: true })
    assert.equal(back.json.version, 5)
    for (const a of [one, two]) await waitFor(async () => (await get(a, 'db')) === undefined, { what: 'both back on version 1' })
    for (const a of [one, two]) assert.equal(await get(a, 'pool'), 1)
    await sleep(700)
    const after = await Promise.all([updates(one), updates(two)])
    assert.deepEqual(
      after.map((n, i) => n - before[i]),
      [1, 1],
      'the rollback is one change for each process',
    )
    const last = (await run(['config', doc, 'history', ...flags], { json: true })).json.at(-1)
    assert.deepEqual([last.version, last.action, last.message], [5, 'rollback', 'rollback to version 1'])
    const got = (await run(['config', doc, 'get', ...flags], { json: true })).json
    assert.deepEqual([got.version, got.document], [5, { pool: 1 }])
    const one1 = (await run(['config', doc, 'get', 'pool', ...flags])).out
    assert.equal(one1.trim(), `${doc} version 5\npool = 1`)

    // The audit log has every write, in the same transaction as the write.
    const audit = (await run(['audit', '--limit', '1000'], { json: true })).json.filter((e) => e.target === doc)
    assert.deepEqual(
      audit.map((e) => [e.action, e.version]),
      [
        ['config.set', 1],
        ['config.set', 2],
        ['config.set', 3],
        ['config.set', 4],
        ['config.rollback', 5],
      ],
    )
  })
}

test('the tree layout: a write touches only the changed keys; a set refuses what a store would refuse', async () => {
  const doc = '/rel-tree2/app'
  await run(['config', doc, 'set', 'a', '{"x":1,"y":2}', '--layout', 'tree'])
  await run(['config', doc, 'set', 'b', '3', '--layout', 'tree'])
  const { client, call } = await require('./harness/file').otherZooKeeperClient(suite.zk.connectString)
  try {
    const stat = async (p) => await call('getData', p)
    const xBefore = (await new Promise((r, j) => client.getData(`${doc}/a/x`, (e, d, s) => (e ? j(e) : r(s))))).version
    await run(['config', doc, 'set', 'a:y', '20', '--layout', 'tree'])
    const xAfter = (await new Promise((r, j) => client.getData(`${doc}/a/x`, (e, d, s) => (e ? j(e) : r(s))))).version
    assert.equal(xAfter, xBefore, 'a:x was not written')
    assert.equal(String(await stat(`${doc}/a/y`)), '20')
  } finally {
    client.close()
  }

  const bad = await run(['config', doc, 'set', 'a', '{not json'], { ok: false })
  assert.equal(bad.code, 1)
  assert.match(bad.err, /\[ERR_INVALID_ARG\] the value is not JSON/)
  const deep = '['.repeat(127) + ']'.repeat(127)
  const tooDeep = await run(['config', '/rel-limits', 'set', 'a', deep], { ok: false })
  assert.match(tooDeep.err, /\[ERR_INVALID_ARG\].*nested 128 levels deep/)
  const big = JSON.stringify('x'.repeat(1100 * 1024))
  const tooBig = await run(['config', '/rel-limits', 'set', 'blob', '-'], { ok: false, input: big })
  assert.match(tooBig.err, /\[ERR_CONFIG_TOO_LARGE\].*`blob`/)
  const none = await run(['config', '/rel-limits', 'get'], { json: true })
  assert.equal(none.json.exists, false, 'nothing was written')
})

test('--if-version refuses a write based on an older version; edit keeps masked secrets; diff against a file', async () => {
  const doc = '/rel-cas/app'
  await run(['config', doc, 'set', 'a', '1'])
  await run(['config', doc, 'set', 'a', '2'])
  const stale = await run(['config', doc, 'set', 'a', '3', '--if-version', '1'], { ok: false })
  assert.equal(stale.code, 1)
  assert.match(stale.err, /\[ERR_CONFIG_CONFLICT\].*based on version 1, the document is now at version 2/)
  await run(['config', doc, 'set', 'a', '3', '--if-version', '2'])

  const file = tempFile('proposed.json')
  fs.writeFileSync(file, JSON.stringify({ a: 3, b: true }))
  const d = (await run(['config', doc, 'diff', '--file', file], { json: true })).json
  assert.deepEqual([d.from, d.to, d.changes], [3, 'file', [{ key: 'b', kind: 'added', old: null, new: true }]])
  const d1 = (await run(['config', doc, 'diff', '1', '--file', file])).out
  assert.equal(d1.trim(), `${doc}: version 1 -> the file\n  ~ a: 1 -> 3\n  + b: true`)

  // $EDITOR as a script that edits the file the CLI wrote; the secret stays as it was.
  const key = (await run(['keygen'], { json: true })).json.key
  const sealed = (await run(['encrypt', 'pa55word'], { env: { LEMON_CONFIG_KEY: key } })).out.trim()
  await run(['config', doc, 'set', 'token', JSON.stringify(sealed)])
  const editor = path.join(path.dirname(file), 'editor.js')
  fs.writeFileSync(
    editor,
    `const fs = require('fs'); const f = process.argv[2]; const d = JSON.parse(fs.readFileSync(f, 'utf8'));\n` +
      `if (d.token !== 'ENC(…)') process.exit(3); d.a = 4; fs.writeFileSync(f, JSON.stringify(d))\n`,
  )
  // A masked secret in a file (saved from `get`) stands for the stored one: no change.
  fs.writeFileSync(file, JSON.stringify({ a: 3, token: 'ENC(…)' }))
  const masked = (await run(['config', doc, 'diff', '--file', file], { json: true })).json
  assert.deepEqual(masked.changes, [])
  const edited = await run(['config', doc, 'edit'], { env: { EDITOR: `${process.execPath} ${editor}` } })
  assert.match(edited.out, /version 5\n  ~ a: 3 -> 4$/m)
  const raw = (await run(['config', doc, 'get', 'token', '--reveal'], { json: true, env: { LEMON_CONFIG_KEY: key } })).json
  assert.equal(raw.value, 'pa55word', 'the secret survived the edit')
})

test('rollback to a version whose content is not recorded is refused with its code', async () => {
  const doc = '/rel-big/app'
  await run(['config', doc, 'set', 'blob', '-'], { input: JSON.stringify('x'.repeat(300 * 1024)) })
  await run(['config', doc, 'set', 'blob', '"small"'])
  const history = (await run(['config', doc, 'history'], { json: true })).json
  assert.deepEqual(
    history.map((e) => e.content),
    [false, true],
  )
  const refused = await run(['config', doc, 'rollback', '1'], { ok: false })
  assert.equal(refused.code, 1)
  assert.match(refused.err, /\[ERR_CONFIG_VERSION_UNKNOWN\] the content of version 1 of \/rel-big\/app is not recorded/)
  const missing = await run(['config', doc, 'rollback', '9'], { ok: false })
  assert.match(missing.err, /\[ERR_NOT_FOUND\].*versions kept: 1 to 2/)
})

test('compare of two documents differing in 3 of 1,000 keys prints exactly those 3; --copy copies them as one version', async () => {
  const base = {}
  for (let i = 0; i < 1000; i++) base[`k${String(i).padStart(4, '0')}`] = i
  const staging = { ...base, k0007: 'seven', k0500: { deep: true } }
  delete staging.k0999
  for (const [name, d] of [
    ['cmp/prod', base],
    ['cmp/staging', staging],
  ]) {
    const { conf, store } = suite.open({ name })
    conf.set(null, d)
    await store.save('seed')
  }
  const cmp = (await run(['config', '/cmp/staging', 'compare', '/cmp/prod'], { json: true })).json
  assert.deepEqual(cmp.differences, [
    { key: 'k0007', kind: 'modified', value: 'seven', otherValue: 7 },
    { key: 'k0500', kind: 'modified', value: { deep: true }, otherValue: 500 },
    { key: 'k0999', kind: 'onlyThere', value: null, otherValue: 999 },
  ])
  const text = (await run(['config', '/cmp/staging', 'compare', '/cmp/prod'])).out.trim().split('\n')
  assert.deepEqual(
    text.map((l) => l.split(/\s{2,}/)),
    [
      ['KEY', '/cmp/staging', '/cmp/prod'],
      ['k0007', 'seven', '7'],
      ['k0500', '{"deep":true}', '500'],
      ['k0999', '(absent)', '999'],
    ],
    'only the 3 differing keys, each with both values',
  )

  const before = (await run(['config', '/cmp/prod', 'history'], { json: true })).json.length
  const copied = await run(['config', '/cmp/staging', 'compare', '/cmp/prod', '--copy', 'k0007', 'k0500', 'k0999', '-m', 'promote staging'])
  assert.match(copied.out, /^\/cmp\/prod: version \d+/)
  const after = (await run(['config', '/cmp/prod', 'history'], { json: true })).json
  assert.equal(after.length, before + 1, 'one version')
  assert.equal(after.at(-1).action, 'copy')
  assert.match(after.at(-1).message, /^copied k0007, k0500, k0999 from \/cmp\/staging \(version \d+\): promote staging$/)
  const same = (await run(['config', '/cmp/staging', 'compare', '/cmp/prod'], { json: true })).json
  assert.deepEqual(same.differences, [])
})

test('a tree named without --layout tree is refused, not overwritten; --reveal on history, diff and compare is audited', async () => {
  await run(['config', '/rel-tree3/app', 'set', 'a', '1', '--layout', 'tree'])
  const wrong = await run(['config', '/rel-tree3/app', 'set', 'b', '2'], { ok: false })
  assert.equal(wrong.code, 1)
  assert.match(wrong.err, /\[ERR_INVALID_ARG\].*looks like the tree layout; give --layout tree/)
  const still = (await run(['config', '/rel-tree3/app', 'get', '--layout', 'tree'], { json: true })).json
  assert.deepEqual([still.version, still.document], [1, { a: 1 }])

  const key = (await run(['keygen'], { json: true })).json.key
  const env = { LEMON_CONFIG_KEY: key }
  const sealed = (await run(['encrypt', '-'], { env, input: 'n0t-shown' })).out.trim()
  await run(['config', '/rel-rev/a', 'set', 'pw', JSON.stringify(sealed)])
  await run(['config', '/rel-rev/b', 'set', 'pw', '"plain"'])
  const masked = [
    await run(['config', '/rel-rev/a', 'history']),
    await run(['config', '/rel-rev/a', 'diff', '1', '--file', '/dev/null'], { ok: false }),
    await run(['config', '/rel-rev/a', 'compare', '/rel-rev/b']),
  ]
  for (const m of masked) assert.ok(!(m.out + m.err).includes('n0t-shown'), m.out + m.err)
  const shown = [
    await run(['config', '/rel-rev/a', 'history', '--reveal'], { env }),
    await run(['config', '/rel-rev/b', 'compare', '/rel-rev/a', '--reveal'], { env }),
  ]
  assert.match(shown[0].out, /\+ pw: n0t-shown/)
  assert.match(shown[1].out, /pw\s+plain\s+n0t-shown/)
  const audit = (await run(['audit', '--limit', '1000'], { json: true })).json.filter(
    (e) => e.action === 'config.reveal' && e.target.startsWith('/rel-rev/'),
  )
  assert.deepEqual(
    audit.map((e) => [e.target, e.keys]),
    [
      ['/rel-rev/a', ['pw']],
      ['/rel-rev/b', ['pw']],
    ],
  )
  assert.ok(!JSON.stringify(audit).includes('n0t-shown'), 'the audit names keys, never values')
})
