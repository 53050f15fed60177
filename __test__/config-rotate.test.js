'use strict'
// Secrets from the command line (issue 12, §1 and §3): `encrypt | decrypt | keygen`, masking
// everywhere unless `--reveal` (which is audited), and `rotate-key` with its window: two app
// processes read a secret every 10 ms while the document is rotated to a new key and they are
// restarted on it one after the other, in both orders (one per layout); no read ever returns
// undefined or ciphertext. Then no plaintext secret anywhere: every znode (documents, history,
// audit, instances), the snapshot files, the processes' output, the CLI's output.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const { waitFor } = require('./harness/providers')
const { configFile, tempFile, sleep } = require('./harness/config')
const { cli, steered } = require('./harness/ops')
const { otherZooKeeperClient } = require('./harness/file')

const suite = configFile({ autoSave: -1 })
const SECRET = 'tr0ub4dor-and-3'
const outputs = [] // every CLI output that must not show a secret
const logs = [] // every app process, for its output

async function run(args, { json = false, ok = true, env = {}, input, mayShow = false } = {}) {
  const res = await cli(['--zk', suite.zk.connectString, ...(json ? ['--json'] : []), ...args], { env, input })
  if (ok) assert.equal(res.code, 0, `${args.join(' ')}: ${res.err}${res.out}`)
  if (!mayShow) outputs.push({ args, text: res.out + res.err })
  return res
}

async function app(name, layout, key, cacheFile) {
  const a = await steered('config-release-child.js', [suite.zk.connectString, name, layout, key, cacheFile])
  logs.push(a)
  suite.cleanups.push(() => a.kill())
  assert.equal(await value(a), SECRET, 'the secret at start')
  await a.request({ op: 'read', key: 'db:password', everyMs: 10 })
  return a
}

const value = async (a) => (await a.request({ op: 'get', key: 'db:password' })).value

/** Closes `a` and returns what its reader saw. */
async function stop(a) {
  const seen = await a.request({ op: 'reads' })
  await a.request({ op: 'close' })
  await a.exited
  return seen
}

async function instances(doc) {
  return (await run(['config', doc, 'instances'], { json: true })).json
}

/** Waits until every instance of `doc` applied `version`. */
async function applied(doc, version, n) {
  let list = []
  await waitFor(
    async () => {
      list = await instances(doc)
      return list.length === n && list.every((i) => i.version === version)
    },
    { timeoutMs: 30000, what: `${n} instance(s) of ${doc} on version ${version}: ${JSON.stringify(list)}` },
  )
  return list
}

const cases = [
  ['document', [0, 1]],
  ['tree', [1, 0]],
]
const snapshots = []

for (const [layout, order] of cases) {
  test(`${layout}: rotate-key while two processes read a secret every 10 ms, restarted ${order[0] === 0 ? 'first then second' : 'second then first'}: never undefined, never ciphertext`, async () => {
    const oldKey = (await run(['keygen'], { json: true, mayShow: true })).json.key
    const fresh = (await run(['keygen'], { json: true, mayShow: true })).json
    const newKey = fresh.key
    const OLD = { LEMON_CONFIG_KEY: oldKey }
    const BOTH = { LEMON_CONFIG_KEY: oldKey, NEW_KEY: newKey }
    const flags = layout === 'tree' ? ['--layout', 'tree'] : []
    const name = `rot-${layout}/app`
    const doc = `/${name}`

    const sealed = (await run(['encrypt', '-'], { env: OLD, input: `${SECRET}\n` })).out.trim()
    assert.match(sealed, /^ENC\([A-Za-z0-9+/=]+\)$/)
    assert.equal((await run(['decrypt', sealed], { env: OLD, mayShow: true })).out.trim(), SECRET)
    await run(['config', doc, 'set', 'db', JSON.stringify({ password: sealed, user: 'shop' }), ...flags])

    const files = [tempFile(`${layout}-0.json`), tempFile(`${layout}-1.json`)]
    snapshots.push(...files)
    const apps = [await app(name, layout, oldKey, files[0]), await app(name, layout, oldKey, files[1])]
    await applied(doc, 1, 2)

    // Masked unless revealed; the reveal needs the key and is audited.
    const masked = (await run(['config', doc, 'get', ...flags], { json: true })).json
    assert.deepEqual(masked.document.db, { password: 'ENC(…)', user: 'shop' })
    const noKey = await run(['config', doc, 'get', '--reveal', ...flags], { ok: false })
    assert.match(noKey.err, /\[ERR_CONFIG_DECRYPT\].*LEMON_CONFIG_KEY/)
    const shown = await run(['config', doc, 'get', 'db:password', '--reveal', ...flags], { json: true, env: OLD, mayShow: true })
    assert.equal(shown.json.value, SECRET)
    const audit = (await run(['audit', '--limit', '1000'], { json: true })).json
    const reveal = audit.filter((e) => e.action === 'config.reveal' && e.target === doc)
    assert.equal(reveal.length, 1)
    assert.deepEqual(reveal[0].keys, ['db:password'])

    // The window: every secret sealed for both keys, as one version.
    const started = await run(['rotate-key', doc, '--new-key-env', 'NEW_KEY', ...flags], { json: true, env: BOTH })
    assert.deepEqual([started.json.version, started.json.secrets, started.json.keyId], [2, 1, fresh.keyId])
    const during = (await run(['config', doc, 'get', 'db:password', ...flags], { json: true })).json
    assert.match(during.value, new RegExp(`^ENC\\(… for [0-9a-f]{8},${fresh.keyId}\\)$`))
    await applied(doc, 2, 2)

    // Restarted on the new key one after the other; finishing is refused until all are.
    const seen = []
    for (const [step, i] of order.entries()) {
      seen.push(await stop(apps[i]))
      apps[i] = await app(name, layout, newKey, files[i])
      await applied(doc, 2, 2)
      await sleep(300)
      if (step === 0) {
        const early = await run(['rotate-key', doc, '--new-key-env', 'NEW_KEY', '--finish', ...flags], { ok: false, env: BOTH })
        assert.equal(early.code, 1)
        assert.match(early.err, /\[ERR_CONFIG_ROTATION\].*1 instance\(s\) still hold another key/)
      }
    }
    const list = await instances(doc)
    assert.deepEqual(
      list.map((i) => i.keyId),
      [fresh.keyId, fresh.keyId],
    )
    const finished = await run(['rotate-key', doc, '--new-key-env', 'NEW_KEY', '--finish', ...flags], {
      json: true,
      env: { NEW_KEY: newKey },
    })
    assert.equal(finished.json.version, 3)
    await applied(doc, 3, 2)
    await sleep(500)
    for (const a of apps) {
      assert.equal(await value(a), SECRET)
      seen.push(await stop(a))
    }
    for (const s of seen) {
      assert.ok(s.reads > 20, `each process read all along: ${s.reads}`)
      assert.deepEqual(s.bad, [], 'no read returned undefined or ciphertext')
    }
    const after = (await run(['config', doc, 'get', 'db:password', ...flags], { json: true })).json
    assert.equal(after.value, 'ENC(…)', 'sealed for the new key only')
    assert.equal(
      (
        await run(['config', doc, 'get', 'db:password', '--reveal', ...flags], {
          json: true,
          env: { LEMON_CONFIG_KEY: newKey },
          mayShow: true,
        })
      ).json.value,
      SECRET,
    )
    // The history before the rotation holds values the new key does not open: no rollback to it.
    const back = await run(['config', doc, 'rollback', '1', ...flags], { ok: false, env: { LEMON_CONFIG_KEY: newKey } })
    assert.match(back.err, /\[ERR_CONFIG_ROTATION\].*sealed before a key rotation/)
    const history = (await run(['config', doc, 'history', ...flags], { json: true })).json
    assert.deepEqual(
      history.map((e) => e.action),
      ['set', 'rotate-key', 'rotate-key-finish'],
    )
  })
}

test('no plaintext secret in ZooKeeper, history, audit, snapshot files, logs or CLI output without --reveal', async () => {
  assert.ok(outputs.length > 20 && snapshots.length === 4, 'the rotation tests ran first')
  const { client, call } = await otherZooKeeperClient(suite.zk.connectString)
  const found = []
  let walked = 0
  try {
    const walk = async (p) => {
      walked++
      const data = await call('getData', p).catch(() => null)
      if (data && data.toString('utf8').includes(SECRET)) found.push(p)
      const children = await call('getChildren', p).catch(() => [])
      for (const c of children) if (!(p === '/' && c === 'zookeeper')) await walk(p === '/' ? `/${c}` : `${p}/${c}`)
    }
    await walk('/')
  } finally {
    client.close()
  }
  assert.ok(walked > 20, `walked ${walked} znodes`)
  assert.deepEqual(found, [], 'znodes holding the secret')
  for (const f of snapshots) {
    const text = fs.readFileSync(f, 'utf8')
    assert.match(text, /ENC\(/, `${f} holds the sealed value`)
    assert.ok(!text.includes(SECRET), `the secret in the snapshot ${f}`)
  }
  for (const a of logs) assert.ok(!a.stderr.includes(SECRET), 'the secret in an app process output')
  for (const o of outputs) assert.ok(!o.text.includes(SECRET), `the secret in the output of ${o.args.join(' ')}`)
})
