'use strict'
// RPC benchmarks, peers side by side in one run (interleaved rounds, medians):
//   throughput — consumer.call vs undici BalancedPool vs node:http keep-alive round robin,
//                3 local providers (each its own process), 64 concurrent calls;
//   slow       — one of 3 providers answers 50 ms late: p99 per balancer vs BalancedPool;
//   crash      — kill -9 of one provider mid-run: failed calls and time to recover;
//   https      — throughput over HTTPS (providers with a certificate of a CA made for the run):
//                consumer.call vs undici BalancedPool over HTTPS vs consumer.call over plain HTTP;
//   provider   — the provider side: autocannon against each provider variant (./provider-side.js);
//   startup    — new Cluster() to the first successful call (./startup.js).
// The throughput table's first row is autocannon, the limit: no client library at all.
//
//   node benchmark/rpc.js [--calls 100000] [--rounds 3] [--only throughput,slow,crash,https,provider,startup]
//     throughput only: --rounds defaults to 5 there
//     provider only: [--provider-seconds 1] (per variant and round; --rounds defaults to 7 there, --calls
//     does not apply) [--against lib/provider.old.js] (an A/B row: another copy of lib/provider.js)
//     [--variants bare,lemon-http,...] (some of ./provider-variant.js's)

const fs = require('node:fs')
const http = require('node:http')
const { BalancedPool } = require('undici')
const { makePki } = require('../harness/tls')
const lemon = require('../lib')
const { startZooKeeper } = require('../harness/zookeeper')
const { startProviderProcess, runLoad, blast, median, sleep, option } = require('./lib')
const { providerSide } = require('./provider-side')
const { startup } = require('./startup')

const args = process.argv.slice(2)
const opt = (name, dflt) => option(args, name, dflt)
const CALLS = Number(opt('calls', 100000))
const ROUNDS = Number(opt('rounds', 3))
const ONLY = opt('only', 'throughput,slow,crash,https,provider,startup').split(',')
const CONCURRENCY = 64
const PATH = '/bench/g/echo'
const BODY = JSON.stringify({ id: 42, name: 'lemon' })

/** The peers: each returns { call(i), close() } over the given provider ports. */
const peers = {
  async lemon(ports, ctx, consumerOptions = {}) {
    const consumer = ctx.cluster.consumer({ app: 'bench', group: ctx.group(ports), ...consumerOptions })
    await consumer.ready()
    for (let i = 0; i < 500 && consumer.providers().length < ports.length; i++) await sleep(10)
    return {
      call: (i) => consumer.call('echo', { id: i, name: 'lemon' }),
      close: () => consumer.close(),
      health: () => consumer.health(),
    }
  },
  async balancedPool(ports, ctx, { ca } = {}) {
    const pool = new BalancedPool(
      ports.map((p) => `${ca ? 'https' : 'http'}://127.0.0.1:${p}`),
      { connections: CONCURRENCY, ...(ca ? { connect: { ca } } : {}) },
    )
    return {
      async call() {
        const { statusCode, body } = await pool.request({
          path: PATH,
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: BODY,
        })
        const reply = await body.json()
        if (statusCode !== 200) throw new Error(`HTTP ${statusCode}`)
        return reply
      },
      close: () => pool.close(),
    }
  },
  async nodeHttp(ports) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY })
    let rr = 0
    return {
      call() {
        const port = ports[rr++ % ports.length]
        return new Promise((resolve, reject) => {
          const req = http.request(
            { host: '127.0.0.1', port, path: PATH, method: 'POST', agent, headers: { 'content-type': 'application/json' } },
            (res) => {
              const chunks = []
              res.on('data', (c) => chunks.push(c))
              res.on('end', () => {
                try {
                  resolve(JSON.parse(Buffer.concat(chunks)))
                } catch (e) {
                  reject(e)
                }
              })
            },
          )
          req.on('error', reject)
          req.end(BODY)
        })
      },
      close: () => agent.destroy(),
    }
  },
}

async function providers(delays, tlsDir) {
  return Promise.all(delays.map((d) => startProviderProcess(d, tlsDir)))
}

/** Registers the ports as one service (`protocol`: 'http' or 'https'); returns its group name. */
async function register(ctx, ports, protocol = 'http') {
  const group = `g${ctx.groups++}`
  for (const port of ports) await ctx.registrar.provide({ app: 'bench', group, port, protocol })
  ctx.groupOf.set(ports.join(','), group)
  return group
}

function row(name, results, base) {
  const m = (k) => median(results.map((r) => r[k]))
  const ratio = (k) => (base ? (m(k) / median(base.map((r) => r[k]))).toFixed(2) : '1.00')
  return `| ${name} | ${Math.round(m('rps'))} | ${ratio('rps')}× | ${m('p50').toFixed(2)} | ${m('p99').toFixed(2)} | ${ratio('p99')}× | ${m('cpuUsPerCall').toFixed(1)} | ${ratio('cpuUsPerCall')}× | ${results.reduce((a, r) => a + r.failures, 0)} |`
}

async function throughput(ctx) {
  // Five rounds by default: the CPU ratio moves by several per cent from round to round.
  const rounds = Number(opt('rounds', 5))
  const procs = await providers([0, 0, 0])
  const ports = procs.map((p) => p.port)
  await register(ctx, ports)
  // autocannon, the limit: a load generator that only sends the same request and reads the reply.
  const limit = {
    call: null,
    run: (total) => blast(ports, { path: PATH, body: BODY, concurrency: CONCURRENCY, total }),
    close() {},
  }
  const results = { autocannon: [], lemon: [], balancedPool: [], nodeHttp: [] }
  const names = Object.keys(results)
  for (let round = 0; round < rounds; round++) {
    // Each round starts with the next peer, so that none always runs right after the same one
    // (autocannon runs in this process: what it leaves to collect would otherwise always land
    // on the same peer's CPU).
    for (const name of names.map((_, i) => names[(i + round) % names.length])) {
      const peer = name === 'autocannon' ? limit : await peers[name](ports, ctx)
      const run = peer.run || ((total) => runLoad(peer.call, { concurrency: CONCURRENCY, total }))
      await run(2000) // warm up connections and JIT
      results[name].push(await run(CALLS))
      await peer.close()
    }
  }
  for (const p of procs) p.kill()
  const { autocannon: ac, balancedPool: bp } = results
  console.log(`\n### Throughput: 3 providers, ${CONCURRENCY} concurrent, ${CALLS} calls, median of ${rounds} rounds\n`)
  console.log(
    '| client | calls/s | vs autocannon | vs BalancedPool | p50 ms | p99 ms | p99 vs autocannon | p99 vs BP | CPU µs/call | CPU vs BP | CPU vs BP per round: median (range) | failed |',
  )
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|')
  const line = (name, rs) => {
    const m = (k, of = rs) => median(of.map((r) => r[k]))
    const x = (k, base) => `${(m(k) / m(k, base)).toFixed(2)}×`
    // The same ratio taken within each round (the two ran seconds apart), which a slow drift of
    // the machine moves less than the ratio of the medians.
    const perRound = rs.map((r, i) => r.cpuUsPerCall / bp[i].cpuUsPerCall)
    const spread = `${median(perRound).toFixed(2)}× (${Math.min(...perRound).toFixed(2)}–${Math.max(...perRound).toFixed(2)})`
    return `| ${name} | ${Math.round(m('rps'))} | ${x('rps', ac)} | ${x('rps', bp)} | ${m('p50').toFixed(2)} | ${m('p99').toFixed(2)} | ${x('p99', ac)} | ${x('p99', bp)} | ${m('cpuUsPerCall').toFixed(1)} | ${x('cpuUsPerCall', bp)} | ${spread} | ${rs.reduce((a, r) => a + r.failures, 0)} |`
  }
  console.log(line('autocannon 9 (the limit: no client library)', ac))
  console.log(line('lemon `consumer.call` (roundrobin)', results.lemon))
  console.log(line('undici `BalancedPool`', bp))
  console.log(line('`node:http` keep-alive round robin', results.nodeHttp))
}

async function httpsThroughput(ctx) {
  const pki = makePki()
  const ca = fs.readFileSync(pki.ca, 'utf8')
  const tlsCluster = new lemon.Cluster({ zk: ctx.zk, host: '127.0.0.1', cacheDir: false, tls: { ca } })
  const secureProcs = await providers([0, 0, 0], pki.dir)
  const plainProcs = await providers([0, 0, 0])
  const securePorts = secureProcs.map((p) => p.port)
  const plainPorts = plainProcs.map((p) => p.port)
  await register(ctx, securePorts, 'https')
  await register(ctx, plainPorts)
  const runs = {
    lemonHttps: () => peers.lemon(securePorts, { ...ctx, cluster: tlsCluster }),
    balancedPoolHttps: () => peers.balancedPool(securePorts, ctx, { ca }),
    lemonHttp: () => peers.lemon(plainPorts, ctx),
  }
  const results = { lemonHttps: [], balancedPoolHttps: [], lemonHttp: [] }
  try {
    for (let round = 0; round < ROUNDS; round++) {
      for (const name of Object.keys(results)) {
        const peer = await runs[name]()
        await runLoad(peer.call, { concurrency: CONCURRENCY, total: 2000 })
        results[name].push(await runLoad(peer.call, { concurrency: CONCURRENCY, total: CALLS }))
        await peer.close()
      }
    }
  } finally {
    for (const p of [...secureProcs, ...plainProcs]) p.kill()
    await tlsCluster.close()
    pki.remove()
  }
  console.log(`\n### HTTPS: 3 providers, ${CONCURRENCY} concurrent, ${CALLS} calls, median of ${ROUNDS} rounds\n`)
  console.log('| client | calls/s | vs BalancedPool HTTPS | p50 ms | p99 ms | p99 vs BP | CPU µs/call | CPU vs BP | failed |')
  console.log('|---|---|---|---|---|---|---|---|---|')
  console.log(row('lemon `consumer.call` over HTTPS', results.lemonHttps, results.balancedPoolHttps))
  console.log(row('undici `BalancedPool` over HTTPS', results.balancedPoolHttps, results.balancedPoolHttps))
  console.log(row('lemon `consumer.call` over plain HTTP', results.lemonHttp, results.balancedPoolHttps))
}

async function slow(ctx) {
  const procs = await providers([0, 0, 50])
  const ports = procs.map((p) => p.port)
  await register(ctx, ports)
  const calls = Math.min(CALLS, 20000)
  const variants = {
    'lemon p2c': (p) => peers.lemon(p, ctx, { loadBalance: 'p2c' }),
    'lemon shortestresponse': (p) => peers.lemon(p, ctx, { loadBalance: 'shortestresponse' }),
    'lemon roundrobin': (p) => peers.lemon(p, ctx, { loadBalance: 'roundrobin' }),
    'undici BalancedPool': (p) => peers.balancedPool(p),
  }
  const results = Object.fromEntries(Object.keys(variants).map((k) => [k, []]))
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, make] of Object.entries(variants)) {
      const peer = await make(ports)
      results[name].push(await runLoad(peer.call, { concurrency: CONCURRENCY, total: calls }))
      await peer.close()
    }
  }
  // The healthy providers' own p99, for the target "p99 ≤ 2× the healthy providers' p99".
  const healthy = []
  for (let round = 0; round < ROUNDS; round++) {
    const peer = await peers.nodeHttp(ports.slice(0, 2))
    healthy.push(await runLoad(peer.call, { concurrency: CONCURRENCY, total: calls }))
    await peer.close()
  }
  for (const p of procs) p.kill()
  const healthyP99 = median(healthy.map((r) => r.p99))
  console.log(`\n### Slow provider: one of 3 answers 50 ms late, ${CONCURRENCY} concurrent, ${calls} calls, median of ${ROUNDS}\n`)
  console.log(`Healthy providers alone (node:http): p99 ${healthyP99.toFixed(2)} ms\n`)
  console.log('| client | calls/s | p50 ms | p99 ms | p99 / healthy p99 | failed |')
  console.log('|---|---|---|---|---|---|')
  for (const [name, rs] of Object.entries(results)) {
    const p99 = median(rs.map((r) => r.p99))
    console.log(
      `| ${name} | ${Math.round(median(rs.map((r) => r.rps)))} | ${median(rs.map((r) => r.p50)).toFixed(2)} | ${p99.toFixed(2)} | ${(p99 / healthyP99).toFixed(1)}× | ${rs.reduce((a, r) => a + r.failures, 0)} |`,
    )
  }
}

async function crash(ctx) {
  const variants = {
    'lemon (idempotent, failover)': (p) => peers.lemon(p, ctx, { idempotent: true }),
    'undici BalancedPool': (p) => peers.balancedPool(p),
  }
  const results = Object.fromEntries(Object.keys(variants).map((k) => [k, []]))
  const calls = Math.min(CALLS, 30000)
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, make] of Object.entries(variants)) {
      const procs = await providers([0, 0, 0])
      const ports = procs.map((p) => p.port)
      await register(ctx, ports)
      const peer = await make(ports)
      let killedAt = 0
      let ejectedAt = 0
      // When the peer can tell (lemon's consumer.health()), the moment its breaker took the dead
      // provider out of rotation: from then on no call is sent to it.
      const dead = `127.0.0.1:${ports[2]}`
      const watch = peer.health
        ? setInterval(() => {
            if (killedAt && !ejectedAt && peer.health().some((h) => h.address === dead && h.breaker === 'open')) {
              ejectedAt = Date.now()
            }
          }, 1)
        : null
      const r = await runLoad(peer.call, {
        concurrency: CONCURRENCY,
        total: calls,
        onTick(i) {
          if (i === Math.floor(calls / 3)) {
            killedAt = Date.now()
            procs[2].kill('SIGKILL')
          }
        },
      })
      clearInterval(watch)
      r.recoveryMs = r.failureTimes.length ? Math.max(...r.failureTimes) - killedAt : 0
      r.ejectedMs = watch ? (ejectedAt ? ejectedAt - killedAt : NaN) : null
      results[name].push(r)
      await peer.close()
      for (const p of procs) p.kill()
    }
  }
  console.log(`\n### Crash: kill -9 of one of 3 providers a third into ${calls} calls, ${CONCURRENCY} concurrent, ${ROUNDS} rounds\n`)
  console.log(
    '| client | failed calls (per round) | last failure after the kill (ms, median) | dead provider ejected after (ms, median) | p99 ms |',
  )
  console.log('|---|---|---|---|---|')
  for (const [name, rs] of Object.entries(results)) {
    const ejected = rs[0].ejectedMs === null ? 'n/a (no ejection)' : median(rs.map((r) => r.ejectedMs))
    console.log(
      `| ${name} | ${rs.map((r) => r.failures).join(', ')} | ${median(rs.map((r) => r.recoveryMs))} | ${ejected} | ${median(rs.map((r) => r.p99)).toFixed(2)} |`,
    )
  }
}

async function main() {
  const zk = await startZooKeeper()
  const cluster = new lemon.Cluster({ zk: zk.connectString, host: '127.0.0.1', cacheDir: false })
  const registrar = new lemon.Cluster({ zk: zk.connectString, host: '127.0.0.1', cacheDir: false })
  const ctx = {
    zk: zk.connectString,
    cluster,
    registrar,
    groups: 0,
    groupOf: new Map(),
    group: (ports) => ctx.groupOf.get(ports.join(',')),
  }
  const os = require('node:os')
  console.log(
    `## RPC benchmarks — ${new Date().toISOString().slice(0, 10)}, ${os.cpus().length} × ${os.cpus()[0].model}, Node ${process.version}, undici ${require('undici/package.json').version}, autocannon ${require('autocannon/package.json').version}, loadavg ${os.loadavg()[0].toFixed(1)}`,
  )
  try {
    if (ONLY.includes('throughput')) await throughput(ctx)
    if (ONLY.includes('slow')) await slow(ctx)
    if (ONLY.includes('crash')) await crash(ctx)
    if (ONLY.includes('https')) await httpsThroughput(ctx)
    if (ONLY.includes('provider'))
      await providerSide({
        // Rounds of about a second per variant; more of them than the others' (medians of 7).
        rounds: Number(opt('rounds', 7)),
        seconds: Number(opt('provider-seconds', 1)),
        against: opt('against'),
        only: opt('variants')?.split(','),
        concurrency: CONCURRENCY,
        path: PATH,
        body: BODY,
      })
    if (ONLY.includes('startup')) await startup(ctx)
  } finally {
    await cluster.close()
    await registrar.close()
    await zk.cleanup()
  }
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
