'use strict'
// Scale, end to end: one service with 10,000 real providers (a farm process listening on 10,000
// loopback ports, each registered through lemon-cluster), one consumer in this process.
// Measures, medians of ROUNDS rounds: how long until the consumer sees all providers registered,
// all of them changed (every node rewritten) and all of them gone; the consumer's memory per
// provider; calls over the 10,000; the cache file. Then the Rust micro-benchmark of picking
// (`cargo bench -p lemon-core --bench scale`) unless SCALE_SKIP_PICKS=1.
// Run with `npm run bench:scale`. Memory is measured in a fresh process (scale-consumer.js) per
// round, since a process that already held a list keeps the pages its allocator got back.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync, fork } = require('node:child_process')
const lemon = require('../lib')
const { startZooKeeper } = require('../harness/zookeeper')
const { startFarm } = require('../harness/farm')
const { median, sleep } = require('./lib')

const COUNT = Number(process.env.SCALE_PROVIDERS || 10000)
const ROUNDS = Number(process.env.SCALE_ROUNDS || 3)
const CALLS = 2000
const CONCURRENCY = 16
const LIMIT_MS = 120000

/** Forks the memory probe; resolves its messages in order through `next()`. */
function memoryProbe(connectString, app, group) {
  const child = fork(path.join(__dirname, 'scale-consumer.js'), [connectString, app, group, String(COUNT)], {
    execArgv: ['--expose-gc'],
  })
  const messages = []
  const waiting = []
  child.on('message', (m) => (waiting.length ? waiting.shift()(m) : messages.push(m)))
  const failed = new Promise((_, reject) => child.once('exit', (code) => code && reject(new Error(`probe exited (${code})`))))
  const exited = new Promise((resolve) => child.once('exit', resolve))
  return {
    next: () => Promise.race([messages.length ? messages.shift() : new Promise((r) => waiting.push(r)), failed]),
    async close() {
      if (child.connected) child.send('close')
      const killer = setTimeout(() => child.kill('SIGKILL'), 10000)
      await exited
      clearTimeout(killer)
    },
  }
}

/** Resolves with the ms from `t0` until `check()` is true; polls every 5 ms, at most LIMIT_MS. */
async function until(t0, check, what) {
  const deadline = Date.now() + LIMIT_MS
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(5)
  }
  return performance.now() - t0
}

async function calls(consumer, loadBalance) {
  let next = 0
  let failed = 0
  const t0 = performance.now()
  const worker = async () => {
    while (next < CALLS) {
      next++
      try {
        await consumer.call('get', {}, { loadBalance })
      } catch {
        failed++
      }
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker))
  const ms = performance.now() - t0
  return { perSecond: Math.round((CALLS / ms) * 1000), failed }
}

async function round(zk, r, report) {
  const app = 'scale'
  const group = `g${r}`
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'lemon-scale-'))
  const cluster = new lemon.Cluster({ zk: zk.connectString, host: '127.0.0.1', cacheDir })
  cluster.on('warning', () => {})
  const consumer = cluster.consumer({ app, group, warmupMs: 0 })
  await consumer.ready()
  // Counted from change events, not by converting 10,000 providers to objects on every poll.
  let total = 0
  let updated = 0
  consumer.on('change', (c) => {
    total = c.total
    updated += c.updated.length
  })
  const farm = await startFarm({ connectString: zk.connectString, app, group, count: COUNT })
  const probe = memoryProbe(zk.connectString, app, group)
  try {
    const { empty } = await probe.next()
    let t0 = performance.now()
    const registering = farm.command('register')
    report.seeAll.push(await until(t0, () => total === COUNT, `${COUNT} providers`))
    report.register.push((await registering).registerMs)
    const { full } = await probe.next()
    report.rssPer.push((full.rss - empty.rss) / COUNT)
    report.heapPer.push((full.heapUsed + full.external - empty.heapUsed - empty.external) / COUNT)
    t0 = performance.now()
    const listed = consumer.providers()
    report.providersCall.push(performance.now() - t0)
    if (listed.length !== COUNT) throw new Error(`providers(): ${listed.length}`)

    updated = 0
    t0 = performance.now()
    const updating = farm.command('update', { patch: { version: 'v2' } })
    report.seeUpdate.push(await until(t0, () => updated >= COUNT, `${COUNT} updates`))
    report.update.push((await updating).updateMs)

    for (const lb of ['roundrobin', 'p2c']) {
      const c = await calls(consumer, lb)
      report[`calls_${lb}`].push(c.perSecond)
      report.failed += c.failed
    }
    const { ports } = await farm.command('hits')
    report.distinct.push(ports)

    const cacheFile = fs.readdirSync(cacheDir).find((f) => f.endsWith('.json'))
    const doc = JSON.parse(fs.readFileSync(path.join(cacheDir, cacheFile), 'utf8'))
    report.cacheNodes.push(doc.nodes.length)
    report.cacheBytes.push(fs.statSync(path.join(cacheDir, cacheFile)).size)

    t0 = performance.now()
    const leaving = farm.command('unregister')
    report.seeNone.push(await until(t0, () => total === 0, 'no providers'))
    report.unregister.push((await leaving).unregisterMs)
  } finally {
    await probe.close()
    await farm.stop()
    await consumer.close()
    await cluster.close()
    fs.rmSync(cacheDir, { recursive: true, force: true })
  }
}

async function main() {
  const zk = await startZooKeeper()
  const keys = ['register', 'seeAll', 'update', 'seeUpdate', 'unregister', 'seeNone', 'rssPer', 'heapPer']
  const report = { failed: 0, calls_roundrobin: [], calls_p2c: [], distinct: [], cacheNodes: [], cacheBytes: [], providersCall: [] }
  for (const k of keys) report[k] = []
  try {
    for (let r = 0; r < ROUNDS; r++) {
      await round(zk, r, report)
      process.stderr.write(`round ${r + 1}/${ROUNDS} done\n`)
    }
  } finally {
    await zk.cleanup()
  }
  const m = (xs) => median(xs)
  const rustc = spawnSync('rustc', ['--version'], { encoding: 'utf8' }).stdout.trim()
  console.log(
    `## Scale — ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} × ${os.cpus()[0].model}, Node ${process.version}, ${rustc}, ${COUNT} providers, median of ${ROUNDS} rounds\n`,
  )
  console.log('| step | median | rounds |')
  console.log('|---|---|---|')
  const row = (name, xs, fmt) => console.log(`| ${name} | ${fmt(m(xs))} | ${xs.map(fmt).join(', ')} |`)
  const fmtMs = (x) => `${Math.round(x)} ms`
  row(`register ${COUNT} providers (farm: one session, 500 in flight)`, report.register, fmtMs)
  row(`consumer sees all ${COUNT} (from the first registration)`, report.seeAll, fmtMs)
  const lag = (seen, written) => seen.map((x, i) => x - written[i])
  row(`rewrite all ${COUNT} nodes (farm)`, report.update, fmtMs)
  row(`consumer sees all ${COUNT} changed (from the first rewrite)`, report.seeUpdate, fmtMs)
  row(`remove all ${COUNT} nodes (farm)`, report.unregister, fmtMs)
  row(`consumer sees none left (from the first removal)`, report.seeNone, fmtMs)
  row('… behind the last registration', lag(report.seeAll, report.register), fmtMs)
  row('… behind the last rewrite', lag(report.seeUpdate, report.update), fmtMs)
  row('… behind the last removal', lag(report.seeNone, report.unregister), fmtMs)
  row('consumer RSS per provider', report.rssPer, (x) => `${(x / 1024).toFixed(2)} KiB`)
  row('consumer JS heap + external per provider', report.heapPer, (x) => `${Math.round(x)} B`)
  row(`\`consumer.providers()\` with ${COUNT}`, report.providersCall, (x) => `${x.toFixed(1)} ms`)
  row(`calls/s, roundrobin, ${CONCURRENCY} concurrent, ${CALLS} calls`, report.calls_roundrobin, (x) => `${x}`)
  row(`calls/s, p2c, ${CONCURRENCY} concurrent, ${CALLS} calls`, report.calls_p2c, (x) => `${x}`)
  row('distinct providers called', report.distinct, (x) => `${x}`)
  row('cache file: nodes', report.cacheNodes, (x) => `${x}`)
  row('cache file: size', report.cacheBytes, (x) => `${(x / 1024 / 1024).toFixed(2)} MiB`)
  console.log(`\nfailed calls: ${report.failed}`)
  if (process.env.SCALE_SKIP_PICKS !== '1') {
    const bench = spawnSync('cargo', ['bench', '-q', '-p', 'lemon-core', '--bench', 'scale'], {
      cwd: path.join(__dirname, '..'),
      stdio: 'inherit',
    })
    if (bench.status !== 0) process.exitCode = 1
  }
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
