'use strict'
// The provider side: the same load generator (autocannon, in this process) against each provider
// variant of ./provider-variant.js, one provider process at a time, interleaved rounds, medians.
// Prints requests/s with two ratios: to the minimal hand-written node:http handler (the limit),
// and, for the middleware on a framework, to the framework's own body parser + route; and the
// provider process's CPU per request, the steadier figure when the machine is not idle (with
// both processes on two cores, requests/s is also bounded by the load generator's one thread).

const { startProcess, blast, median } = require('./lib')

// [variant, label, the variant it is compared with besides `bare`]
const VARIANTS = [
  ['bare', 'minimal `node:http` JSON handler (the limit)', null],
  ['lemon-http', '`lemon.service().handler()` on `node:http`', null],
  ['express-json', 'Express 5: `express.json()` + route', null],
  ['express-lemon', 'Express 5: `lemon.express()`', 'express-json'],
  ['koa-body', 'Koa 3: `@koa/bodyparser` + route', null],
  ['koa-lemon', 'Koa 3: `lemon.koa()`', 'koa-body'],
]

async function providerSide({ calls, rounds, concurrency, path, body }) {
  const results = Object.fromEntries(VARIANTS.map(([v]) => [v, []]))
  for (let round = 0; round < rounds; round++) {
    for (const [variant] of VARIANTS) {
      const proc = await startProcess('provider-variant.js', [variant])
      try {
        const run = (total) => blast([proc.port], { path, body, concurrency, total })
        await run(2000) // warm up connections and JIT
        const cpu0 = proc.cpuUs()
        const r = await run(calls)
        r.providerCpuUs = (proc.cpuUs() - cpu0) / r.calls
        if (r.failures > 0) throw new Error(`provider variant ${variant}: ${r.failures} failed requests`)
        results[variant].push(r)
      } finally {
        proc.kill()
      }
    }
  }
  const m = (v, k) => median(results[v].map((r) => r[k]))
  console.log(
    `\n### Provider side: autocannon, ${concurrency} connections, ${calls} requests, one provider process, median of ${rounds} rounds\n`,
  )
  console.log(
    "| provider | requests/s | vs minimal node:http | vs the framework's own | provider CPU µs/request | CPU vs minimal | p50 ms | p99 ms | failed |",
  )
  console.log('|---|---|---|---|---|---|---|---|---|')
  for (const [variant, label, framework] of VARIANTS) {
    const own = framework ? `${(m(variant, 'rps') / m(framework, 'rps')).toFixed(2)}×` : ''
    console.log(
      `| ${label} | ${Math.round(m(variant, 'rps'))} | ${(m(variant, 'rps') / m('bare', 'rps')).toFixed(2)}× | ${own} | ${m(variant, 'providerCpuUs').toFixed(1)} | ${(m(variant, 'providerCpuUs') / m('bare', 'providerCpuUs')).toFixed(2)}× | ${m(variant, 'p50').toFixed(2)} | ${m(variant, 'p99').toFixed(2)} | 0 |`,
    )
  }
}

module.exports = { providerSide }
