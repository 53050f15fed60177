'use strict'
// Encrypted values: "ENC(...)" (AES-256-GCM) decrypted in memory for get(); ZooKeeper, the
// snapshot file and change events only ever hold ciphertext; a value that cannot be decrypted
// is reported and left out, never handed over as if it were the secret.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const { zkGet, zkSet, zkCreate } = require('../harness/zookeeper')
const { waitFor } = require('./harness/providers')
const { register, tempFile, configFile, save } = require('./harness/config')

const suite = configFile()
const { open } = suite

test('encrypt() and generateKey() make values only the right key opens', () => {
  const key = register.generateKey()
  assert.match(key, /^[A-Za-z0-9+/]{43}=$/)
  const a = register.encrypt('s3cret', key)
  const b = register.encrypt('s3cret', key)
  assert.match(a, /^ENC\([A-Za-z0-9+/=]+\)$/)
  assert.notEqual(a, b, 'a fresh nonce every time')
  assert.ok(!a.includes('s3cret'))
  assert.throws(
    () => register.encrypt('x', 'not a key'),
    (e) => e.code === 'ERR_INVALID_ARG',
  )
  const hex = '00'.repeat(32)
  assert.match(register.encrypt('x', hex), /^ENC\(/)
})

test('secrets are plaintext for get(), ciphertext in ZooKeeper, the snapshot and change events', async () => {
  const key = register.generateKey()
  const sealed = register.encrypt('hunter2', key)
  const cacheFile = tempFile()
  await zkCreate(suite.zk.connectString, '/secrets', JSON.stringify({ db: { user: 'app', password: sealed } }))
  const { conf, updates } = open({ name: 'secrets', secretKey: key, cacheFile, autoSave: -1 })
  assert.equal(conf.get('db:password'), 'hunter2')
  assert.deepEqual(conf.get('db'), { user: 'app', password: 'hunter2' })
  await waitFor(() => fs.existsSync(cacheFile), { what: 'the snapshot' })
  const snapshot = fs.readFileSync(cacheFile, 'utf8')
  assert.ok(!snapshot.includes('hunter2') && snapshot.includes(sealed), snapshot)

  // Saving another key keeps the very same ciphertext for the unchanged secret.
  conf.set('db:pool', 5)
  await save(conf)
  let stored = JSON.parse(await zkGet(suite.zk.connectString, '/secrets'))
  assert.equal(stored.db.password, sealed)
  // Changing the secret seals the new value; ZooKeeper never sees the plaintext.
  conf.set('db:password', 'correct horse')
  await save(conf)
  const raw = await zkGet(suite.zk.connectString, '/secrets')
  assert.ok(!raw.includes('correct horse'), raw)
  stored = JSON.parse(raw)
  assert.match(stored.db.password, /^ENC\(/)
  assert.notEqual(stored.db.password, sealed)
  assert.equal(conf.get('db:password'), 'correct horse')
  await waitFor(() => !fs.readFileSync(cacheFile, 'utf8').includes(sealed), { what: 'the snapshot to follow' })
  assert.ok(!fs.readFileSync(cacheFile, 'utf8').includes('correct horse'))
  for (const u of updates) assert.ok(!JSON.stringify(u).includes('correct horse') && !JSON.stringify(u).includes('hunter2'))

  // A remote rotation arrives decrypted.
  await zkSet(suite.zk.connectString, '/secrets', JSON.stringify({ db: { user: 'app', password: register.encrypt('rotated', key) } }))
  await waitFor(() => conf.get('db:password') === 'rotated', { what: 'the rotated secret' })
})

test('an undecryptable value is reported (ERR_CONFIG_DECRYPT, key named, no secret shown) and left out', async () => {
  const key = register.generateKey()
  const otherKey = register.generateKey()
  await zkCreate(
    suite.zk.connectString,
    '/undecryptable',
    JSON.stringify({ db: { password: register.encrypt('hunter2', key), host: 'h' }, broken: 'ENC(garbage!)' }),
  )
  for (const options of [{ secretKey: otherKey }, {}]) {
    const { conf, warnings } = open({ name: 'undecryptable', ...options })
    assert.equal(conf.get('db:password'), undefined, 'never the ciphertext, never a wrong plaintext')
    assert.equal(conf.get('broken'), undefined)
    assert.equal(conf.get('db:host'), 'h')
    await waitFor(() => warnings.filter((w) => w.code === 'ERR_CONFIG_DECRYPT').length >= 2, { what: 'the decryption warnings' })
    const text = JSON.stringify(warnings)
    assert.ok(text.includes('db:password') && text.includes('broken'), text)
    assert.ok(!text.includes('hunter2') && !text.includes(key) && !text.includes(otherKey), text)
  }
})

test('the key can come from LEMON_CONFIG_KEY or from the variable named by secretKeyEnv', async () => {
  const key = register.generateKey()
  await zkCreate(suite.zk.connectString, '/envkey', JSON.stringify({ token: register.encrypt('t0ken', key) }))
  process.env.LEMON_CONFIG_KEY = key
  try {
    assert.equal(open({ name: 'envkey' }).conf.get('token'), 't0ken')
  } finally {
    delete process.env.LEMON_CONFIG_KEY
  }
  process.env.MY_APP_CONFIG_KEY = key
  try {
    assert.equal(open({ name: 'envkey', secretKeyEnv: 'MY_APP_CONFIG_KEY' }).conf.get('token'), 't0ken')
  } finally {
    delete process.env.MY_APP_CONFIG_KEY
  }
  assert.equal(open({ name: 'envkey' }).conf.get('token'), undefined)
})
