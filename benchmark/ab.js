'use strict'
// A/B of the consumer's call path: the same throughput run (3 providers, 64 concurrent) made by
// child processes that each load a given addon build and environment, in alternating order,
// rounds interleaved, medians. On a machine others load, only ratios within one such run mean
// anything.
//
//   node benchmark/ab.js [--calls 30000] [--rounds 5] \
//     --variant old=path/to/old.node --variant new=lemon-cluster.linux-x64-gnu.node \
//     [--variant name=path.node,ENV=value,...]

const path = require('node:path')
const { spawn } = require('node:child_process')
const lemon = require('../lib')
const { startZooKeeper } = require('../harness/zookeeper')
const { startProviderProcess, runLoad, median, sleep, option } = require('./lib')

const CONCURRENCY = 64

if (process.env.LEMON_AB_CHILD) {
  child().catch((e) => {
    console.error(e)
    process.exit(1)
  })
} else {
  parent().catch((e) => {
    // A usage mistake gets its one line, not a stack.
    console.error(e.usage ? `ab.js: ${e.message}` : e)
    process.exit(e.usage ? 2 : 1)
  })
}

async function child() {
  const { zk, group, providers, calls } = JSON.parse(process.env.LEMON_AB_CHILD)
  const cluster = new lemon.Cluster({ zk, host: '127.0.0.1', cacheDir: false })
  const consumer = cluster.consumer({ app: 'bench', group })
  await consumer.ready()
  for (let i = 0; i < 500 && consumer.providers().length < providers; i++) await sleep(10)
  const call = (i) => consumer.call('echo', { id: i, name: 'lemon' })
  await runLoad(call, { concurrency: CONCURRENCY, total: 2000 })
  const r = await runLoad(call, { concurrency: CONCURRENCY, total: calls })
  await consumer.close()
  await cluster.close()
  process.stdout.write(JSON.stringify({ rps: r.rps, p99: r.p99, cpuUsPerCall: r.cpuUsPerCall, failures: r.failures }))
}

function runChild(variant, job) {
  return new Promise((resolve, reject) => {
    const env = { ...process.env, ...variant.env, LEMON_AB_CHILD: JSON.stringify(job) }
    if (variant.addon) env.NAPI_RS_NATIVE_LIBRARY_PATH = path.resolve(variant.addon)
    const c = spawn(process.execPath, [__filename], { env, stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    c.stdout.on('data', (d) => (out += d))
    c.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`${variant.name} exited ${code}`))))
  })
}

async function parent() {
  const args = process.argv.slice(2)
  const opt = (name, dflt) => option(args, name, dflt)
  const calls = Number(opt('calls', 30000))
  const rounds = Number(opt('rounds', 5))
  const variants = []
  args.forEach((a, i) => {
    if (a !== '--variant') return
    const [head, ...envs] = args[i + 1].split(',')
    const [name, addon] = head.split('=')
    variants.push({ name, addon: addon || null, env: Object.fromEntries(envs.map((e) => e.split('='))) })
  })
  const usage = (message) => Object.assign(new Error(message), { usage: true })
  if (variants.length < 2) throw usage('give two or more --variant name=addon.node[,ENV=value]')
  for (const v of variants) {
    if (v.addon && !require('node:fs').existsSync(v.addon)) throw usage(`--variant ${v.name}: no file ${v.addon}`)
  }
  if (!(calls > 0) || !(rounds > 0)) throw usage('--calls and --rounds take positive numbers')
  const zk = await startZooKeeper()
  const registrar = new lemon.Cluster({ zk: zk.connectString, host: '127.0.0.1', cacheDir: false })
  const procs = await Promise.all([0, 0, 0].map(() => startProviderProcess(0)))
  const results = Object.fromEntries(variants.map((v) => [v.name, []]))
  try {
    for (const p of procs) await registrar.provide({ app: 'bench', group: 'ab', port: p.port, protocol: 'http' })
    const job = { zk: zk.connectString, group: 'ab', providers: procs.length, calls }
    for (let round = 0; round < rounds; round++) {
      // Alternate the order so neither variant always runs right after the other.
      const order = round % 2 ? [...variants].reverse() : variants
      for (const v of order) results[v.name].push(await runChild(v, job))
    }
  } finally {
    for (const p of procs) p.kill()
    await registrar.close()
    await zk.cleanup()
  }
  const base = results[variants[0].name]
  const m = (rs, k) => median(rs.map((r) => r[k]))
  console.log(`${calls} calls × ${rounds} rounds, loadavg ${require('node:os').loadavg()[0].toFixed(1)}`)
  console.log('| variant | calls/s | p99 ms | CPU µs/call | CPU vs first | calls/s vs first | CPU per round | failed |')
  console.log('|---|---|---|---|---|---|---|---|')
  for (const v of variants) {
    const rs = results[v.name]
    console.log(
      `| ${v.name} | ${Math.round(m(rs, 'rps'))} | ${m(rs, 'p99').toFixed(2)} | ${m(rs, 'cpuUsPerCall').toFixed(1)} | ${(m(rs, 'cpuUsPerCall') / m(base, 'cpuUsPerCall')).toFixed(3)}× | ${(m(rs, 'rps') / m(base, 'rps')).toFixed(3)}× | ${rs.map((r) => r.cpuUsPerCall.toFixed(1)).join(' ')} | ${rs.reduce((a, r) => a + r.failures, 0)} |`,
    )
  }
}
