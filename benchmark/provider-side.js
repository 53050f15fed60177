'use strict'
// The provider side: the same load generator (autocannon, in this process) against each provider
// variant of ./provider-variant.js, one variant under load at a time. Each variant is one process,
// started and warmed up once; then every round measures each of them for about `seconds`, in
// A B … B A order (reversed every other round, so a drift of the machine's load over the run
// weighs on every variant alike).
//
// The provider's CPU per request is the steady figure: the process reports its own
// process.cpuUsage() (µs) over IPC right before and right after a measured window. Ratios to the
// minimal handler are taken per round (neighbours in time) and their median printed with their
// range, so a difference smaller than the spread of the rounds shows as such. requests/s is
// bounded by whichever of the two processes is busier per request: on two cores the provider has
// one core and autocannon (one JavaScript thread) the other, so the autocannon column says when
// the load generator, not the provider, is the limit.

const { startProcess, blast, median } = require('./lib')

// [key, variant, label, the key it is compared with besides `bare`]
const VARIANTS = [
  ['bare', 'bare', 'minimal `node:http` JSON handler (the limit)', null],
  ['lemon-http', 'lemon-http', '`lemon.service().handler()` on `node:http`', null],
  ['express-json', 'express-json', 'Express 5: `express.json()` + route', null],
  ['express-lemon', 'express-lemon', 'Express 5: `lemon.express()`', 'express-json'],
  ['koa-body', 'koa-body', 'Koa 3: `@koa/bodyparser` + route', null],
  ['koa-lemon', 'koa-lemon', 'Koa 3: `lemon.koa()`', 'koa-body'],
]

/** user + system µs of a process.cpuUsage() reply. */
const cpuOf = (u) => u.user + u.system

/**
 * `rounds` measured rounds of about `seconds` per variant. `against` (a path) adds a row served
 * by another copy of lib/provider.js, compared with `lemon.service().handler()`: the A/B of two
 * versions in one run; `only` (keys) runs some of the variants.
 */
async function providerSide({ rounds, concurrency, path, body, seconds = 1, against, only }) {
  // `only`: keys to run, with the minimal handler (every ratio is to it) and the framework's own
  // variant of each lemon one picked.
  const wanted = only && new Set(['bare', ...only, ...VARIANTS.filter(([k]) => only.includes(k)).map(([, , , f]) => f)])
  const variants = VARIANTS.filter(([key]) => !wanted || wanted.has(key))
  if (against) variants.splice(2, 0, ['lemon-http-b', 'lemon-http', `the same from \`${against}\``, 'lemon-http'])
  // Requests for about `seconds` at `rps`, so that a slow framework's round is not five times as
  // long as the minimal handler's.
  const windowOf = (rps) => Math.max(2000, Math.round((rps * seconds) / 1000) * 1000)
  const procs = new Map()
  const amounts = new Map()
  const results = new Map(variants.map(([key]) => [key, []]))
  try {
    for (const [key, variant] of variants) {
      const proc = await startProcess('provider-variant.js', key === 'lemon-http-b' ? [variant, against] : [variant])
      procs.set(key, proc)
      const run = (total) => blast([proc.port], { path, body, concurrency, total })
      await run(3000) // connections and JIT
      amounts.set(key, windowOf((await run(10000)).rps))
    }
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? variants : [...variants].reverse()
      for (const [key] of order) {
        const proc = procs.get(key)
        const cpu0 = cpuOf(await proc.ask('cpu'))
        const r = await blast([proc.port], { path, body, concurrency, total: amounts.get(key) })
        r.providerCpuUs = (cpuOf(await proc.ask('cpu')) - cpu0) / r.calls
        if (r.failures > 0) throw new Error(`provider variant ${key}: ${r.failures} failed requests`)
        results.get(key).push(r)
        // The next round's window from this one's rate (a short warm-up run underestimates it).
        amounts.set(key, windowOf(r.rps))
      }
    }
  } finally {
    for (const proc of procs.values()) proc.kill()
  }
  const m = (key, k) => median(results.get(key).map((r) => r[k]))
  // The median and range of the per-round ratios key / base of field k.
  const ratio = (key, base, k) => {
    const rs = results.get(key).map((r, i) => r[k] / results.get(base)[i][k])
    const range = `${Math.min(...rs).toFixed(2)}–${Math.max(...rs).toFixed(2)}`
    return `${median(rs).toFixed(2)}× (${range})`
  }
  console.log(
    `\n### Provider side: autocannon, ${concurrency} connections, one provider process at a time, ${rounds} rounds of about ${seconds} s each, medians\n`,
  )
  console.log(
    "| provider | requests/s | vs minimal node:http | vs the framework's own | provider CPU µs/request | CPU vs minimal | autocannon CPU µs/request | p50 ms | p99 ms | failed |",
  )
  console.log('|---|---|---|---|---|---|---|---|---|---|')
  for (const [key, , label, framework] of variants) {
    const own = framework ? ratio(key, framework, 'rps') : ''
    console.log(
      `| ${label} | ${Math.round(m(key, 'rps'))} | ${ratio(key, 'bare', 'rps')} | ${own} | ${m(key, 'providerCpuUs').toFixed(2)} | ${ratio(key, 'bare', 'providerCpuUs')} | ${m(key, 'cpuUsPerCall').toFixed(1)} | ${m(key, 'p50').toFixed(2)} | ${m(key, 'p99').toFixed(2)} | 0 |`,
    )
  }
  if (against) console.log(`\nCPU of \`${against}\` vs lib/provider.js: ${ratio('lemon-http-b', 'lemon-http', 'providerCpuUs')}`)
}

module.exports = { providerSide }
