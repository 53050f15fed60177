'use strict'
// Hot-configuration benchmark, side by side in one run against a real ZooKeeper (the test
// harness starts one on loopback):
//   1. nconf.get('a:b:c') on a 1,000-key document: nconf's Memory store, this store, and
//      nconf-zookeeper 0.2.2 (ns per call, median of rounds, ratio to Memory);
//   2. time from a ZooKeeper write by another process to onUpdated, for this store and
//      nconf-zookeeper 0.2.2 watching the same znode (p50/p99 over the updates).
// Usage: node benchmark/config.js [updates=100]. Every loop is bounded in count and time.

const path = require('node:path')
const { spawn } = require('node:child_process')
const nconf = require('nconf')
require('../lib/nconf')(nconf)
const { startZooKeeper, zkCreate } = require('../harness/zookeeper')

const UPDATES = Math.max(50, Number(process.argv[2]) || 100)
const now = () => performance.timeOrigin + performance.now()
const { sleep } = require('../harness/wait')

function document1000() {
  const doc = {}
  for (let a = 0; a < 10; a++) {
    doc[`a${a}`] = {}
    for (let b = 0; b < 10; b++) {
      doc[`a${a}`][`b${b}`] = {}
      for (let c = 0; c < 10; c++) doc[`a${a}`][`b${b}`][`c${c}`] = a * 100 + b * 10 + c
    }
  }
  doc.a = { b: { c: 42 } }
  return doc
}

function nsPerGet(conf, iterations) {
  let sink = 0
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < iterations; i++) sink += conf.get('a:b:c')
  const ns = Number(process.hrtime.bigint() - t0) / iterations
  if (sink !== 42 * iterations) throw new Error('wrong value read')
  return ns
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]
}

async function loadNconfZookeeper(conf, options) {
  // nconf-zookeeper registers itself as nconf.Zookeeper (only when first required) and has no
  // loadSync: load(cb) hands the data over in the error slot, so take whatever comes. Swap it
  // in for this one store, then put this package's store back.
  const ours = nconf.Zookeeper
  nconf.Zookeeper = require('nconf-zookeeper').Zookeeper
  try {
    conf.use('zookeeper-legacy', { type: 'zookeeper', ...options })
  } finally {
    nconf.Zookeeper = ours
  }
  const store = conf.stores['zookeeper-legacy']
  await new Promise((resolve) => store.load(() => resolve()))
  return store
}

async function main() {
  // forceSync=no: the latency measured is ZooKeeper's notification path and the stores, not the
  // fsync latency of this machine's disk (which both stores would pay alike).
  const zk = await startZooKeeper({ extraConfig: { forceSync: 'no' } })
  const [host, port] = zk.connectString.split(':')
  const doc = document1000()
  await zkCreate(zk.connectString, '/bench-get', JSON.stringify(doc))
  await zkCreate(zk.connectString, '/bench-latency', '{}')

  // --- 1. get() ---------------------------------------------------------------------------
  const memory = new nconf.Provider()
  memory.use('memory')
  memory.set(null, structuredClone(doc))
  const ours = new nconf.Provider()
  ours.use('zookeeper', { host, port, name: 'bench-get' })
  const legacyConf = new nconf.Provider()
  const legacy = await loadNconfZookeeper(legacyConf, { host, port, name: 'bench-get' })
  if (legacyConf.get('a:b:c') !== 42 || ours.get('a:b:c') !== 42) throw new Error('documents not loaded')

  const ITER = 1_000_000
  const rows = { memory: [], lemon: [], legacy: [] }
  const deadline = Date.now() + 60000
  for (let round = 0; round < 9 && Date.now() < deadline; round++) {
    rows.memory.push(nsPerGet(memory, ITER))
    rows.lemon.push(nsPerGet(ours, ITER))
    rows.legacy.push(nsPerGet(legacyConf, ITER))
  }
  const m = median(rows.memory)
  console.log(`\nnconf.get('a:b:c'), 1,000-key document, ${ITER.toLocaleString()} calls x ${rows.memory.length} rounds (median)`)
  console.log(`  nconf Memory store      ${m.toFixed(1).padStart(7)} ns/call   1.00x`)
  for (const [name, key] of [
    ['lemon-cluster/nconf', 'lemon'],
    ['nconf-zookeeper 0.2.2', 'legacy'],
  ]) {
    const v = median(rows[key])
    console.log(`  ${name.padEnd(22)}  ${v.toFixed(1).padStart(7)} ns/call   ${(v / m).toFixed(2)}x`)
  }
  legacy.client.close()

  // --- 2. write -> onUpdated, ROUNDS rounds of UPDATES writes -------------------------------
  let latency
  let seen
  const record = (who, data) => {
    if (!latency) return
    const b = data && data.bench
    if (!b || seen[who].has(b.seq)) return
    seen[who].add(b.seq)
    latency[who].push(now() - b.sentAt)
  }
  const live = new nconf.Provider()
  live.use('zookeeper', { host, port, name: 'bench-latency', onUpdated: () => record('lemon', live.get()) })
  const legacyLive = new nconf.Provider()
  const legacyStore = await loadNconfZookeeper(legacyLive, {
    host,
    port,
    name: 'bench-latency',
    autoUpdate: true,
    onUpdated: () => record('legacy', legacyLive.get()),
  })

  const ROUNDS = 3
  const rounds = { lemon: [], legacy: [] }
  for (let round = 0; round < ROUNDS; round++) {
    latency = { lemon: [], legacy: [] }
    seen = { lemon: new Set(), legacy: new Set() }
    const writer = spawn(
      process.execPath,
      [path.join(__dirname, 'config-writer.js'), zk.connectString, '/bench-latency', String(UPDATES), '25'],
      { stdio: 'inherit' },
    )
    await new Promise((resolve) => writer.on('exit', resolve))
    const until = Date.now() + 5000
    while ((seen.lemon.size < UPDATES || seen.legacy.size < UPDATES) && Date.now() < until) await sleep(20)
    for (const key of ['lemon', 'legacy']) {
      const xs = latency[key]
      rounds[key].push({ p50: percentile(xs, 50), p99: percentile(xs, 99), max: Math.max(...xs), seen: xs.length })
    }
    latency = null
    await sleep(200)
  }

  console.log(
    `\nZooKeeper write by another process -> onUpdated, ${UPDATES} updates 25 ms apart, median of ${ROUNDS} rounds (ms; ZooKeeper forceSync=no)`,
  )
  const med = (key, field) => median(rounds[key].map((r) => r[field]))
  for (const [name, key] of [
    ['lemon-cluster/nconf', 'lemon'],
    ['nconf-zookeeper 0.2.2', 'legacy'],
  ]) {
    const seenAll = rounds[key].map((r) => r.seen).join(', ')
    console.log(
      `  ${name.padEnd(22)}  p50 ${med(key, 'p50').toFixed(2).padStart(6)}   p99 ${med(key, 'p99').toFixed(2).padStart(6)}   max ${med(
        key,
        'max',
      )
        .toFixed(2)
        .padStart(6)}   p99 vs nconf-zookeeper ${(med(key, 'p99') / med('legacy', 'p99')).toFixed(2)}x   seen ${seenAll} of ${UPDATES}`,
    )
  }
  console.log(
    `\nNode ${process.version}, ${require('node:os').cpus()[0].model} x ${require('node:os').cpus().length}, nconf ${nconf.version}`,
  )

  legacyStore.client.close()
  await live.stores.zookeeper.close()
  await ours.stores.zookeeper.close()
  await zk.cleanup()
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
