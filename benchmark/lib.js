'use strict'
// Shared pieces of the benchmarks: provider processes, a bounded load loop, the load generator
// at the limit (autocannon), percentiles.

const { spawn } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const autocannon = require('autocannon')

/** Starts a provider process; resolves to { port, pid, kill() }. */
function startProviderProcess(delayMs = 0, tlsDir) {
  return startProcess('provider-process.js', [String(delayMs), ...(tlsDir ? [tlsDir] : [])])
}

/** Starts `benchmark/{script}` with `args`, which prints its port once listening. */
function startProcess(script, args) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(__dirname, script), ...args], {
      stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
    })
    child.stdout.once('data', (d) =>
      resolve({
        port: Number(String(d).trim()),
        pid: child.pid,
        cpuUs: () => processCpuUs(child.pid),
        // The process's own reply to `message` over IPC (for a script that answers one).
        ask: (message) =>
          new Promise((res) => {
            child.once('message', res)
            child.send(message)
          }),
        kill(signal = 'SIGTERM') {
          try {
            child.kill(signal)
          } catch {}
        },
      }),
    )
    child.once('error', reject)
    child.once('exit', (code) => reject(new Error(`provider exited early (${code})`)))
  })
}

/**
 * Runs `call(i)` from `concurrency` loops until `total` calls or `maxMs` have passed.
 * Returns { calls, failures, errors, wallMs, cpuUsPerCall, latencies (sorted ms), failureTimes }.
 */
async function runLoad(call, { concurrency = 64, total = 100000, maxMs = 120000, onTick } = {}) {
  const latencies = new Float64Array(total)
  let next = 0
  let done = 0
  let failures = 0
  const errors = new Map()
  const failureTimes = []
  const started = process.hrtime.bigint()
  const startedAt = Date.now()
  const cpu0 = process.cpuUsage()
  const loop = async () => {
    for (;;) {
      const i = next++
      if (i >= total || Date.now() - startedAt > maxMs) return
      if (onTick) onTick(i)
      const t0 = process.hrtime.bigint()
      try {
        await call(i)
      } catch (e) {
        failures++
        failureTimes.push(Date.now())
        const key = e.code || e.message
        errors.set(key, (errors.get(key) || 0) + 1)
      }
      latencies[done++] = Number(process.hrtime.bigint() - t0) / 1e6
    }
  }
  await Promise.all(Array.from({ length: concurrency }, loop))
  const cpu = process.cpuUsage(cpu0)
  const wallMs = Number(process.hrtime.bigint() - started) / 1e6
  const lat = latencies.subarray(0, done).sort()
  return {
    calls: done,
    failures,
    errors: Object.fromEntries(errors),
    wallMs,
    rps: (done / wallMs) * 1000,
    cpuUsPerCall: (cpu.user + cpu.system) / done,
    p50: percentile(lat, 0.5),
    p99: percentile(lat, 0.99),
    failureTimes,
  }
}

/**
 * CPU time (user + system, µs) the process `pid` has used so far, from /proc (Linux; NaN
 * elsewhere): a provider's cost per request, which a loaded machine blurs far less than its
 * requests per second.
 */
function processCpuUs(pid) {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    // utime and stime are fields 14 and 15 of stat(5), in clock ticks (100 per second on Linux).
    return ((Number(fields[11]) + Number(fields[12])) * 1e6) / 100
  } catch {
    return NaN
  }
}

/**
 * autocannon, the limit: `concurrency` keep-alive connections spread over `ports`, each sending
 * the same POST and reading the reply, until `total` requests. The same result shape as
 * runLoad(); latencies are autocannon's own per-request times (ms, not rounded to its
 * histogram's whole milliseconds), the CPU is this process's, where autocannon runs.
 */
async function blast(ports, { path: urlPath, body, concurrency = 64, total = 100000, maxMs = 120000 }) {
  const latencies = new Float64Array(total)
  let done = 0
  let failures = 0
  const started = process.hrtime.bigint()
  const cpu0 = process.cpuUsage()
  // autocannon reports on its once-a-second tick: the run ends at the last reply instead.
  let ended = null
  let cpu = null
  const result = await new Promise((resolve, reject) => {
    const instance = autocannon(
      {
        url: ports.map((p) => `http://127.0.0.1:${p}${urlPath}`),
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        connections: concurrency,
        amount: total,
        duration: maxMs / 1000,
        // autocannon ends a run on its sampling tick (1 s by default): a short one ends it soon
        // after the last reply instead of up to a second later.
        sampleInt: 50,
      },
      (err, res) => (err ? reject(err) : resolve(res)),
    )
    instance.on('response', (client, statusCode, bytes, ms) => {
      if (done < latencies.length) latencies[done++] = ms
      if (statusCode !== 200) failures++
      if (done === total) {
        ended = process.hrtime.bigint()
        cpu = process.cpuUsage(cpu0)
      }
    })
  })
  if (ended === null) {
    ended = process.hrtime.bigint()
    cpu = process.cpuUsage(cpu0)
  }
  const wallMs = Number(ended - started) / 1e6
  failures += result.errors + result.timeouts
  const lat = latencies.subarray(0, done).sort()
  return {
    calls: done,
    failures,
    errors: {},
    wallMs,
    rps: (done / wallMs) * 1000,
    cpuUsPerCall: (cpu.user + cpu.system) / done,
    p50: percentile(lat, 0.5),
    p99: percentile(lat, 0.99),
    failureTimes: [],
  }
}

function percentile(sorted, q) {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
}

function median(values) {
  const s = [...values].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

const { sleep } = require('../harness/wait')

/** The value after `--name` in `args`, or `dflt`. */
function option(args, name, dflt) {
  const i = args.indexOf(`--${name}`)
  return i >= 0 ? args[i + 1] : dflt
}

module.exports = { startProviderProcess, startProcess, runLoad, blast, percentile, median, sleep, option }
