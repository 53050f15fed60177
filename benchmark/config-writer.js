'use strict'
// The "other process" of benchmark/config.js: writes `count` versions of the znode with
// node-zookeeper-client (a neutral writer, neither store under test), each carrying the wall
// clock of the moment the write was sent, `gapMs` apart. argv: connectString path count gapMs
const zookeeper = require('node-zookeeper-client')

const [cs, znode, count, gapMs] = process.argv.slice(2)
const client = zookeeper.createClient(cs)
const now = () => performance.timeOrigin + performance.now()

client.once('connected', async () => {
  for (let seq = 1; seq <= Number(count); seq++) {
    const doc = { bench: { seq, sentAt: now() }, padding: 'x'.repeat(64) }
    await new Promise((resolve, reject) => client.setData(znode, Buffer.from(JSON.stringify(doc)), -1, (e) => (e ? reject(e) : resolve())))
    await new Promise((r) => setTimeout(r, Number(gapMs)))
  }
  client.close()
})
client.connect()
setTimeout(() => process.exit(2), 120000).unref()
