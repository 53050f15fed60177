'use strict'
// Start-up: from `new Cluster()` to the first successful call — the ZooKeeper session, the
// provider list's read and the first connection to a provider — with a fresh cluster each run
// (the addon is loaded once, before the first run, as in a service that has started). Also when
// the first `ready()` resolved, to tell the registry's share from the call's.

const lemon = require('../lib')
const { startProviderProcess, median } = require('./lib')

const RUNS = 9

async function startup(ctx) {
  const proc = await startProviderProcess(0)
  const group = `startup${ctx.groups++}`
  await ctx.registrar.provide({ app: 'bench', group, port: proc.port, protocol: 'http' })
  const runs = []
  try {
    for (let i = 0; i < RUNS; i++) {
      const t0 = process.hrtime.bigint()
      const cluster = new lemon.Cluster({ zk: ctx.zk, host: '127.0.0.1', cacheDir: false })
      const consumer = cluster.consumer({ app: 'bench', group })
      const ready = consumer.ready().then(() => Number(process.hrtime.bigint() - t0) / 1e6)
      await consumer.call('echo', { id: i })
      const firstCallMs = Number(process.hrtime.bigint() - t0) / 1e6
      runs.push({ readyMs: await ready, firstCallMs })
      await consumer.close()
      await cluster.close()
    }
  } finally {
    proc.kill()
  }
  const m = (k) => median(runs.map((r) => r[k]))
  const sorted = runs.map((r) => r.firstCallMs).sort((a, b) => a - b)
  console.log(`\n### Start-up: new Cluster() to the first successful call, ZooKeeper and one provider on loopback, ${RUNS} runs\n`)
  console.log('| measure | median ms | min ms | max ms |')
  console.log('|---|---|---|---|')
  const readies = runs.map((r) => r.readyMs).sort((a, b) => a - b)
  console.log(
    `| \`consumer.ready()\` resolved (session + provider list) | ${m('readyMs').toFixed(1)} | ${readies[0].toFixed(1)} | ${readies.at(-1).toFixed(1)} |`,
  )
  console.log(
    `| first call answered (+ connect + call) | ${m('firstCallMs').toFixed(1)} | ${sorted[0].toFixed(1)} | ${sorted.at(-1).toFixed(1)} |`,
  )
}

module.exports = { startup }
