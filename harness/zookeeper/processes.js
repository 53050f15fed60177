'use strict'
// Orphan protection and throw-away directories: a ZooKeeper JVM, a zkCli.sh call or a data dir
// must never outlive the process that made it (see index.js for how).

const { spawn, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const liveJvms = new Map() // pid -> { watchdogPid }
const liveCliGroups = new Set() // process-group ids of running zkCli.sh calls
const tempDirs = new Set() // data dirs not yet removed
let handlersInstalled = false

function killQuietly(pid, signal) {
  try {
    process.kill(pid, signal)
    return true
  } catch {
    return false
  }
}

function pidAlive(pid) {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return e.code === 'EPERM'
  }
}

function killEverythingSync() {
  for (const [pid, info] of liveJvms) {
    killQuietly(pid, 'SIGKILL')
    if (info.watchdogPid) killQuietly(info.watchdogPid, 'SIGKILL')
  }
  liveJvms.clear()
  for (const pgid of liveCliGroups) killQuietly(-pgid, 'SIGKILL')
  liveCliGroups.clear()
  if (!process.env.ZK_HARNESS_KEEP_DATA) {
    for (const dir of tempDirs) {
      try {
        fs.rmSync(dir, { recursive: true, force: true })
      } catch {}
    }
    tempDirs.clear()
  }
}

function installHandlers() {
  if (handlersInstalled) return
  handlersInstalled = true
  process.on('exit', killEverythingSync)
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    const onSignal = () => {
      killEverythingSync()
      process.removeListener(sig, onSignal)
      // Keep the default "die of this signal" behaviour unless someone else
      // has taken responsibility for the signal.
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig)
    }
    process.on(sig, onSignal)
  }
}

let setprivSupportsPdeathsig
function hasSetprivPdeathsig() {
  if (setprivSupportsPdeathsig === undefined) {
    if (process.env.ZK_HARNESS_NO_SETPRIV) return (setprivSupportsPdeathsig = false)
    const r = spawnSync('setpriv', ['--help'], { encoding: 'utf8', timeout: 5000 })
    setprivSupportsPdeathsig = !r.error && /--pdeathsig/.test(`${r.stdout}${r.stderr}`)
  }
  return setprivSupportsPdeathsig
}

function startWatchdog(jvmPid) {
  const script =
    'while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 0.5; done; ' +
    'kill -0 "$1" 2>/dev/null || kill -9 "$2" 2>/dev/null; exit 0'
  const wd = spawn('sh', ['-c', script, 'zk-watchdog', String(process.pid), String(jvmPid)], {
    detached: true,
    stdio: 'ignore',
  })
  wd.on('error', () => {})
  wd.unref()
  return wd.pid
}

const OWNER_FILE = '.harness-owner-pid'
let sweptStale = false

// Data dirs of a test process that was SIGKILLed could not be removed by it;
// remove those whose owner process is gone (never another live run's dirs).
function sweepStaleDirs() {
  if (sweptStale) return
  sweptStale = true
  let entries = []
  try {
    entries = fs.readdirSync(os.tmpdir()).filter((f) => /^zk-(harness|cli-log)-/.test(f))
  } catch {
    return
  }
  for (const name of entries.slice(0, 1000)) {
    const dir = path.join(os.tmpdir(), name)
    try {
      const owner = Number(fs.readFileSync(path.join(dir, OWNER_FILE), 'utf8'))
      if (owner > 0 && owner !== process.pid && !pidAlive(owner)) {
        fs.rmSync(dir, { recursive: true, force: true })
      }
    } catch {}
  }
}

function makeTempDir(prefix) {
  sweepStaleDirs()
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  fs.writeFileSync(path.join(dir, OWNER_FILE), String(process.pid))
  tempDirs.add(dir)
  installHandlers()
  return dir
}

module.exports = {
  liveJvms,
  liveCliGroups,
  tempDirs,
  killQuietly,
  pidAlive,
  installHandlers,
  hasSetprivPdeathsig,
  startWatchdog,
  makeTempDir,
}
