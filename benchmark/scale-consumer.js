'use strict'
// The memory probe of benchmark/scale.js: a consumer alone in a fresh process. Reports its
// memory with no provider, then with `count` providers (after garbage collection), then closes
// when told to. Run with --expose-gc. argv: connectString app group count
const { Cluster } = require('../lib')

const [connectString, app, group, countArg] = process.argv.slice(2)
const count = Number(countArg)
const { sleep } = require('../harness/wait')
const settledMemory = async () => {
  await sleep(1000) // the cache file writer and pending events settle
  for (let i = 0; i < 3; i++) global.gc()
  return process.memoryUsage()
}

async function main() {
  const cluster = new Cluster({ zk: connectString, host: '127.0.0.1', cacheDir: false })
  const consumer = cluster.consumer({ app, group, warmupMs: 0 })
  let total = 0
  consumer.on('change', (c) => (total = c.total))
  await consumer.ready()
  process.send({ empty: await settledMemory() })
  const deadline = Date.now() + 120000
  while (total !== count && Date.now() < deadline) await sleep(20)
  if (total !== count) throw new Error(`saw ${total} of ${count} providers`)
  process.send({ full: await settledMemory() })
  await new Promise((resolve) => process.once('message', resolve))
  await consumer.close()
  await cluster.close()
  process.disconnect()
}

main().catch((e) => {
  process.stderr.write(`${e.stack}\n`)
  process.exit(1)
})
