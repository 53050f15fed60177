'use strict'
// One option schema: the core's readers are the only parsers, and this test fails when the
// typings (binding.d.ts, generated from src/types.rs) or the reference (docs/api.md) disagree with
// them — about which keys an options object has, and which names `loadBalance` and `cluster`
// accept. The readers' keys are what they say themselves when refusing an unknown key; nothing
// is connected (nothing listens on port 1).

const test = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')

const { binding: native } = require('../lib/native')

const root = path.join(__dirname, '..')
const typings = fs.readFileSync(path.join(root, 'binding.d.ts'), 'utf8')
const api = fs.readFileSync(path.join(root, 'docs', 'api.md'), 'utf8')
const PROBE = 'zzProbe'

// Read by the binding before the core sees the options (src/logger.rs), so not in the reader.
const BINDING_ONLY = { ClusterOptions: ['logger'] }

/** The keys a reader knows, from its refusal of an unknown one. */
function readerKeys(fn) {
  try {
    fn()
  } catch (e) {
    const known = /unknown option \(known: ([^)]*)\)/.exec(e.message)
    assert.ok(known, e.message)
    return known[1].split(', ').sort()
  }
  assert.fail('the probe key was accepted')
}

/** The names a reader accepts for a value, from its refusal of an unknown one. */
function readerNames(fn) {
  try {
    fn()
  } catch (e) {
    const known = /\(known: ([^)]*)\)/.exec(e.message)
    assert.ok(known, e.message)
    return known[1].split(', ').sort()
  }
  assert.fail('the probe name was accepted')
}

/** The top-level keys of `export interface {name}` in binding.d.ts. */
function typedKeys(name) {
  const body = new RegExp(`export interface ${name} \\{\\n([\\s\\S]*?)\\n\\}`).exec(typings)
  assert.ok(body, `binding.d.ts declares ${name}`)
  return [...body[1].matchAll(/^ {2}(\w+)\??:/gm)].map((m) => m[1]).sort()
}

/** The string literals of `key?: 'a' | 'b'` in `interface`. */
function typedNames(name, key) {
  const body = new RegExp(`export interface ${name} \\{\\n([\\s\\S]*?)\\n\\}`).exec(typings)[1]
  const line = new RegExp(`^ {2}${key}\\??: (.*)$`, 'm').exec(body)[1]
  return [...line.matchAll(/'([^']+)'/g)].map((m) => m[1]).sort()
}

/** The option names in the first column of the table under `heading` in docs/api.md. */
function documentedKeys(heading) {
  const at = api.indexOf(heading)
  assert.ok(at >= 0, `docs/api.md has ${heading}`)
  const rows = api.slice(at).split('\n## ')[0].split('\n')
  const keys = rows.filter((l) => l.startsWith('| `')).flatMap((l) => [...l.split('|')[1].matchAll(/`(\w+)`/g)].map((m) => m[1]))
  return keys.sort()
}

/** The `key:` / `key =` names inside the first `{ ... }` after `marker` in docs/api.md. */
function documentedObject(marker) {
  const at = api.indexOf(marker)
  assert.ok(at >= 0, `docs/api.md has ${marker}`)
  const object = api.slice(at + marker.length).match(/\{([^}]*)\}/)[1]
  return object
    .split(',')
    .map((part) => /^\s*(\w+)/.exec(part)[1])
    .sort()
}

/** The backticked names of a prose list in docs/api.md, from `start` up to `end`. */
function documentedList(start, end) {
  const from = api.indexOf(start)
  assert.ok(from >= 0, `docs/api.md has ${start}`)
  const text = api.slice(from + start.length, api.indexOf(end, from))
  return [...text.matchAll(/`(\w+)`/g)].map((m) => m[1]).sort()
}

const withBindingOnly = (name, keys) => [...keys, ...(BINDING_ONLY[name] || [])].sort()

test('every options object: the reader, the typings and docs/api.md list the same keys', async (t) => {
  const cluster = new native.Cluster({ zk: '127.0.0.1:1', connectTimeoutMs: 100 })
  cluster.on('warning', () => {})
  t.after(() => cluster.close())
  const consumer = cluster.consumer({ app: 'a', group: 'g' })
  const service = { app: 'a', group: 'g' }
  const cases = [
    {
      typed: 'ClusterOptions',
      reader: readerKeys(() => new native.Cluster({ zk: '127.0.0.1:1', [PROBE]: 1 })),
      documented: documentedKeys('## `new Cluster(options)`'),
    },
    {
      typed: 'StatsdOptions',
      reader: readerKeys(() => new native.Cluster({ zk: '127.0.0.1:1', statsd: { host: 'h', [PROBE]: 1 } })),
      documented: documentedObject("`'udp://host:port'` or "),
    },
    {
      typed: 'ConsumerOptions',
      reader: readerKeys(() => cluster.consumer({ ...service, [PROBE]: 1 })),
      documented: documentedKeys('## Consumers: `cluster.consumer(options)`'),
    },
    {
      typed: 'BreakerOptions',
      reader: readerKeys(() => cluster.consumer({ ...service, breaker: { [PROBE]: 1 } })),
      documented: documentedObject('`breaker`: '),
    },
    {
      typed: 'RetryBudgetOptions',
      reader: readerKeys(() => cluster.consumer({ ...service, retryBudget: { [PROBE]: 1 } })),
      documented: documentedObject('| `retryBudget` | '),
    },
    {
      typed: 'CallOptions',
      reader: readerKeys(() => consumer.call('m', null, { [PROBE]: 1 })),
      documented: documentedList("Per-call `options` override the consumer's:", 'A\n  configurator'),
    },
  ]
  let provideKeys
  try {
    await cluster.provide({ ...service, port: 1, [PROBE]: 1 })
  } catch (e) {
    provideKeys = readerKeys(() => {
      throw e
    })
  }
  cases.push({
    typed: 'ProvideOptions',
    reader: provideKeys,
    documented: documentedKeys('## Providers: `cluster.provide(options)`'),
  })
  for (const c of cases) {
    const reader = withBindingOnly(c.typed, c.reader)
    assert.deepEqual(typedKeys(c.typed), reader, `${c.typed}: binding.d.ts (src/types.rs) vs the core's reader`)
    assert.deepEqual(c.documented, reader, `${c.typed}: docs/api.md vs the core's reader`)
  }
})

test('loadBalance and cluster: the names the reader accepts are the typed and documented ones', (t) => {
  const cluster = new native.Cluster({ zk: '127.0.0.1:1', connectTimeoutMs: 100 })
  cluster.on('warning', () => {})
  t.after(() => cluster.close())
  const service = { app: 'a', group: 'g' }
  const balancers = readerNames(() => cluster.consumer({ ...service, loadBalance: PROBE }))
  const modes = readerNames(() => cluster.consumer({ ...service, cluster: PROBE }))
  for (const typed of ['ConsumerOptions', 'CallOptions']) {
    assert.deepEqual(typedNames(typed, 'loadBalance'), balancers, `${typed}.loadBalance`)
    assert.deepEqual(typedNames(typed, 'cluster'), modes, `${typed}.cluster`)
  }
  const row = (key) => api.split('\n').find((l) => l.startsWith(`| \`${key}\` |`))
  const named = (line) => [...line.split('|')[3].matchAll(/`(\w+)`/g)].map((m) => m[1]).sort()
  assert.deepEqual(named(row('loadBalance')), balancers, 'docs/api.md loadBalance')
  assert.deepEqual(named(row('cluster')), modes, 'docs/api.md cluster')
})
