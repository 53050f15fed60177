'use strict'
// `npm run bench [-- --only provider,startup] [--calls N] [--rounds N]`: the RPC benchmarks
// (./rpc.js: throughput, slow, crash, https, provider, startup) and the configuration one
// (./config.js), each in its own process, one after the other. Without --only, all of them.

const { spawnSync } = require('node:child_process')
const path = require('node:path')

const RPC = ['throughput', 'slow', 'crash', 'https', 'provider', 'startup']
const args = process.argv.slice(2)
const i = args.indexOf('--only')
const only = i >= 0 ? String(args[i + 1]).split(',') : [...RPC, 'config']
const unknown = only.filter((o) => o !== 'config' && !RPC.includes(o))
if (unknown.length) {
  console.error(`unknown benchmark ${unknown.join(', ')}; --only takes ${[...RPC, 'config'].join(', ')}`)
  process.exit(2)
}
const rest = i >= 0 ? [...args.slice(0, i), ...args.slice(i + 2)] : args
const run = (script, argv) => {
  const r = spawnSync(process.execPath, [path.join(__dirname, script), ...argv], { stdio: 'inherit' })
  if (r.status !== 0) process.exit(r.status ?? 1)
}
const rpc = only.filter((o) => RPC.includes(o))
if (rpc.length) run('rpc.js', ['--only', rpc.join(','), ...rest])
if (only.includes('config')) run('config.js', [])
