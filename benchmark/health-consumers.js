'use strict'
// One process of the health-report benchmark: `count` consumers of one service on one cluster.
// argv: connectString app group count. Over IPC: 'busy' makes every consumer call once a second
// (spread over the second), 'idle' stops calling, 'close' closes the cluster (then it exits).
const { Cluster } = require('../lib')

async function main() {
  const [zk, app, group, countArg] = process.argv.slice(2)
  const count = Number(countArg)
  const cluster = new Cluster({ zk, host: '127.0.0.1', cacheDir: false })
  cluster.on('warning', () => {})
  const consumers = Array.from({ length: count }, () => cluster.consumer({ app, group, warmupMs: 0 }))
  await Promise.all(consumers.map((c) => c.ready()))
  let timer = null
  process.on('message', async (m) => {
    if (m === 'busy' && !timer) {
      let i = 0
      // `count` calls a second in all, round robin over the consumers: one call each per second.
      timer = setInterval(() => {
        for (let k = 0; k < Math.ceil(count / 100); k++) consumers[i++ % count].call('get', {}).catch(() => {})
      }, 10)
    }
    if (m === 'idle') {
      clearInterval(timer)
      timer = null
    }
    if (m === 'close') {
      clearInterval(timer)
      await cluster.close()
      process.disconnect()
    }
  })
  process.send('ready')
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
