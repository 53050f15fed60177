'use strict'
// The main job in one run: a local ZooKeeper, three providers, one consumer. Balanced calls,
// a weight changed at runtime, a provider going away — and the process exits by itself.
//
//   npm run demo

const http = require('node:http')
const { Cluster } = require('..')
const { startZooKeeper } = require('../harness/zookeeper')

const APP = 'movie'
const GROUP = 'query'

/** A provider: an HTTP server answering POST /movie/query/getMovieById, registered in ZooKeeper. */
async function startProvider(zk, name) {
  const server = http.createServer((req, res) => {
    let body = ''
    req.on('data', (c) => (body += c))
    req.on('end', () => {
      const { id } = JSON.parse(body || '{}')
      res.setHeader('content-type', 'application/json')
      res.end(JSON.stringify({ id, title: `Movie #${id}`, servedBy: name }))
    })
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  const cluster = new Cluster({ zk, host: '127.0.0.1' })
  const registration = await cluster.provide({
    app: APP,
    group: GROUP,
    port: server.address().port,
    version: 'V1',
    methods: ['getMovieById', 'getMovieByCity'],
  })
  return {
    name,
    registration,
    async stop() {
      await cluster.close() // the ephemeral node goes first, so consumers stop sending...
      await new Promise((resolve) => server.close(resolve)) // ...then the server stops
    },
  }
}

async function spread(consumer, calls) {
  const counts = {}
  for (let id = 1; id <= calls; id++) {
    const movie = await consumer.call('getMovieById', { id })
    counts[movie.servedBy] = (counts[movie.servedBy] || 0) + 1
  }
  return Object.entries(counts)
    .sort()
    .map(([k, v]) => `${k}=${v}`)
    .join('  ')
}

async function main() {
  const zk = await startZooKeeper()
  console.log(`ZooKeeper ${zk.connectString} (pid ${zk.pid})`)

  const providers = []
  for (const name of ['alpha', 'beta', 'gamma']) providers.push(await startProvider(zk.connectString, name))
  console.log(`3 providers registered under /lemonhjuice/${APP}/${GROUP}/providers`)

  const cluster = new Cluster({ zk: zk.connectString, host: '127.0.0.1' })
  const consumer = cluster.consumer({ app: APP, group: GROUP, version: 'V1', warmupMs: 0 })
  consumer.on('change', (c) => {
    const names = (list) => list.map((p) => p.address).join(', ')
    if (c.added.length) console.log(`  [change] added ${names(c.added)} (${c.total} providers)`)
    if (c.removed.length) console.log(`  [change] removed ${names(c.removed)} (${c.total} providers)`)
    if (c.updated.length) console.log(`  [change] updated ${c.updated.map((p) => `${p.address} weight=${p.weight}`).join(', ')}`)
  })
  await consumer.ready()
  for (let i = 0; i < 100 && consumer.providers().length < 3; i++) await new Promise((r) => setTimeout(r, 10))
  console.log(
    `consumer sees: ${consumer
      .providers()
      .map((p) => p.address)
      .join(', ')}`,
  )

  console.log(`\n30 calls, smooth weighted round robin:   ${await spread(consumer, 30)}`)

  await providers[2].registration.update({ weight: 300 })
  await new Promise((r) => setTimeout(r, 100))
  console.log(`50 calls after gamma's weight -> 300:    ${await spread(consumer, 50)}`)

  console.log('\nbeta shuts down (node removed first, then the server)')
  await providers[1].stop()
  await new Promise((r) => setTimeout(r, 100))
  console.log(`50 calls with beta gone:                 ${await spread(consumer, 50)}`)

  try {
    await consumer.call('deleteMovie', { id: 1 })
  } catch (e) {
    console.log(`\na method nobody declares -> ${e.code}: ${e.message}`)
  }

  await cluster.close()
  await providers[0].stop()
  await providers[2].stop()
  await zk.cleanup()
  console.log('\nall closed; the process now exits on its own')
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
