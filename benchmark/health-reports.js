'use strict'
// What the consumers' health reports cost ZooKeeper: 1,000 real consumers (4 processes of 250,
// each consumer its own node and report, default healthReportMs 5000) of one service with 3
// providers, first busy (every consumer calls once a second) then idle; the writes and bytes
// are read back from the nodes' data versions and sizes through lemon.Admin.
// `node benchmark/health-reports.js [consumers] [busySeconds] [idleSeconds]`; bounded: about
// busy + idle + 90 s (after the calls stop, 65 s for the windows to empty).

const http = require('node:http')
const path = require('node:path')
const { fork } = require('node:child_process')
const lemon = require('../lib')
const { startZooKeeper } = require('../harness/zookeeper')
const { sleep } = require('./lib')

const CONSUMERS = Number(process.argv[2] || 1000)
const BUSY_S = Number(process.argv[3] || 30)
const IDLE_S = Number(process.argv[4] || 30)
const SETTLE_S = 65
const PROCESSES = 4

async function snapshot(admin) {
  const list = await admin.consumers('bench/health')
  return { writes: list.reduce((n, c) => n + c.reports, 0), bytes: list.reduce((n, c) => n + c.bytes, 0), count: list.length }
}

async function main() {
  const zk = await startZooKeeper()
  const children = []
  const servers = []
  const cluster = new lemon.Cluster({ zk: zk.connectString, host: '127.0.0.1', cacheDir: false })
  const admin = new lemon.Admin({ zk: zk.connectString })
  try {
    for (let i = 0; i < 3; i++) {
      const s = http.createServer((req, res) => req.resume().on('end', () => res.end('{}')))
      await new Promise((r) => s.listen(0, '127.0.0.1', r))
      servers.push(s)
      await cluster.provide({ app: 'bench', group: 'health', port: s.address().port })
    }
    for (let i = 0; i < PROCESSES; i++) {
      const child = fork(path.join(__dirname, 'health-consumers.js'), [zk.connectString, 'bench', 'health', String(CONSUMERS / PROCESSES)])
      children.push(child)
      await new Promise((resolve, reject) => {
        child.once('message', resolve)
        child.once('exit', (code) => reject(new Error(`consumer process exited (${code})`)))
      })
    }
    for (let i = 0; i < 100 && (await snapshot(admin)).count < CONSUMERS; i++) await sleep(200)
    await sleep(6000) // every consumer's first report
    const t0 = await snapshot(admin)
    for (const c of children) c.send('busy')
    await sleep(BUSY_S * 1000)
    const t1 = await snapshot(admin)
    for (const c of children) c.send('idle')
    await sleep(SETTLE_S * 1000) // the calls leave the 10 s window, then the 30-60 s latency window
    const t2 = await snapshot(admin)
    await sleep(IDLE_S * 1000)
    const t3 = await snapshot(admin)
    const rate = (a, b, s) => (b.writes - a.writes) / s
    const avg = t3.bytes / t3.count
    const result = {
      consumers: t3.count,
      reportBytes: Math.round(avg),
      busy: {
        seconds: BUSY_S,
        writesPerSecond: rate(t0, t1, BUSY_S),
        perConsumerPerSecond: rate(t0, t1, BUSY_S) / CONSUMERS,
        bytesPerSecond: Math.round(rate(t0, t1, BUSY_S) * avg),
      },
      settling: { seconds: SETTLE_S, writes: t2.writes - t1.writes, perConsumer: (t2.writes - t1.writes) / CONSUMERS },
      idle: { seconds: IDLE_S, writesPerSecond: rate(t2, t3, IDLE_S), bytesPerSecond: Math.round(rate(t2, t3, IDLE_S) * avg) },
      machine: `${require('node:os').cpus().length} cpu, node ${process.version}`,
    }
    console.log(JSON.stringify(result, null, 2))
  } finally {
    for (const c of children) c.send('close')
    await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r() : c.once('exit', r)))))
    await admin.close()
    await cluster.close()
    for (const s of servers) s.close()
    await zk.cleanup()
  }
}

main().catch((e) => {
  console.error(e)
  process.exitCode = 1
})
