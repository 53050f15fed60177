'use strict'
// The real `zkCli.sh`, for out-of-band checks of what the code under test wrote.

const { spawn } = require('node:child_process')
const fs = require('node:fs')

const { findZooKeeper, CLI_JVM_FLAGS, INSTALL_HINT } = require('./install')
const { liveCliGroups, killQuietly, makeTempDir } = require('./processes')

let cliLogDir
function cliEnv() {
  if (!cliLogDir) cliLogDir = makeTempDir('zk-cli-log-')
  return {
    ...process.env,
    ZOO_LOG_DIR: cliLogDir,
    JVMFLAGS: process.env.JVMFLAGS || CLI_JVM_FLAGS,
    CLIENT_JVMFLAGS: process.env.CLIENT_JVMFLAGS || '',
  }
}

function isPlainObject(v) {
  return v !== null && typeof v === 'object' && !Array.isArray(v)
}

/**
 * Run the real CLI non-interactively:
 *   zkCli.sh -server <cs> -waitforconnection -timeout <sessionTimeoutMs> <args...>
 * The last argument may be an options object { timeoutMs = 20000, sessionTimeoutMs = 5000 }.
 * Resolves { code, stdout, stderr } (a non-zero code is not an error);
 * rejects on timeout (the whole process group is killed).
 *
 * Arguments go through execve (no shell) and ZooKeeperMain passes everything
 * after the command name verbatim, so data with spaces/quotes is fine; data
 * starting with '-' must follow a `--` (the helpers below do that).
 */
function zkCli(connectString, ...args) {
  const opts = args.length && isPlainObject(args[args.length - 1]) ? args.pop() : {}
  const { timeoutMs = 20000, sessionTimeoutMs = 5000 } = opts
  const zk = findZooKeeper()
  if (!fs.existsSync(zk.cli)) {
    return Promise.reject(new Error(`zkCli.sh not found at ${zk.cli}. ${INSTALL_HINT}`))
  }
  const argv = ['-server', connectString, '-waitforconnection', '-timeout', String(sessionTimeoutMs), ...args.map(String)]
  return new Promise((resolve, reject) => {
    const child = spawn(zk.cli, argv, { env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'], detached: true })
    const pgid = child.pid
    if (pgid) liveCliGroups.add(pgid)
    let stdout = ''
    let stderr = ''
    let timedOut = false
    child.stdout.setEncoding('utf8').on('data', (d) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d) => (stderr += d))
    const timer = setTimeout(() => {
      timedOut = true
      killQuietly(-pgid, 'SIGKILL')
    }, timeoutMs)
    child.on('error', (err) => {
      clearTimeout(timer)
      liveCliGroups.delete(pgid)
      reject(new Error(`failed to run ${zk.cli}: ${err.message}`))
    })
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      liveCliGroups.delete(pgid)
      // bash does not forward signals to java; make sure nothing is left
      killQuietly(-pgid, 'SIGKILL')
      if (timedOut) {
        reject(
          new Error(
            `zkCli.sh timed out after ${timeoutMs} ms: ${argv.join(' ')}\n--- stdout ---\n${stdout}\n--- stderr ---\n${cleanStderr(stderr)}`,
          ),
        )
      } else {
        resolve({ code: code === null ? 128 : code, signal, stdout, stderr })
      }
    })
  })
}

// What the CLI prints besides a command's own output:
//   stdout: "Connecting to <cs>\n\nWATCHER::\n\nWatchedEvent state:SyncConnected type:None path:null\n"
//           (with -waitforconnection this always precedes the command output:
//           the watcher prints before releasing the connect latch)
//   stderr: SLF4J "no binding" warnings (Debian's zkEnv.sh classpath has no
//           binding), plus the command's messages: "Created /x",
//           "Node does not exist: /x", "Node already exists: /x", ...
const HEADER_RE = /^Connecting to [^\n]*\n(?:\nWATCHER::\n\nWatchedEvent state:\w+ type:\w+ path:[^\n]*\n)?/

function cleanStderr(stderr) {
  return stderr
    .split('\n')
    .filter((l) => !/^SLF4J: /.test(l))
    .join('\n')
    .trim()
}

function cliError(what, res) {
  const msg = cleanStderr(res.stderr) || res.stdout.replace(HEADER_RE, '').trim()
  const err = new Error(`zkCli ${what} failed (exit ${res.code}): ${msg}`)
  if (/Node does not exist/.test(res.stderr)) err.code = 'NONODE'
  else if (/Node already exists/.test(res.stderr)) err.code = 'NODEEXISTS'
  else if (/ConnectionLoss/.test(res.stderr)) err.code = 'CONNECTIONLOSS'
  err.result = res
  return err
}

const STAT_FIELDS = [
  'cZxid',
  'ctime',
  'mZxid',
  'mtime',
  'pZxid',
  'cversion',
  'dataVersion',
  'aclVersion',
  'ephemeralOwner',
  'dataLength',
  'numChildren',
]

/**
 * Data of a node as a UTF-8 string ('' for empty or null data), or null if
 * the node does not exist. Uses `get -s` so that the stat block delimits the
 * data (multi-line data is fine) and dataLength tells empty from "null"
 * (the CLI prints null data as the word "null").
 */
async function zkGet(cs, zpath, opts) {
  const res = await zkCli(cs, 'get', '-s', zpath, opts || {})
  if (res.code !== 0) {
    if (/Node does not exist/.test(res.stderr)) return null
    throw cliError(`get ${zpath}`, res)
  }
  const body = res.stdout.replace(HEADER_RE, '').replace(/\n$/, '')
  const lines = body.split('\n')
  const statStart = lines.length - STAT_FIELDS.length
  if (statStart < 0 || !lines[statStart].startsWith('cZxid = ')) {
    throw cliError(`get ${zpath} (unparseable output)`, res)
  }
  const stat = {}
  for (const l of lines.slice(statStart)) {
    const m = /^(\w+) = (.*)$/.exec(l)
    if (m) stat[m[1]] = m[2]
  }
  if (Number(stat.dataLength) === 0) return ''
  return lines.slice(0, statStart).join('\n')
}

/**
 * Child names (sorted, as the CLI prints them) or null if the node does not
 * exist. Limitation: the CLI prints `[a, b]`, so a child name containing
 * ", " cannot be told apart.
 */
async function zkLs(cs, zpath, opts) {
  const res = await zkCli(cs, 'ls', zpath, opts || {})
  if (res.code !== 0) {
    if (/Node does not exist/.test(res.stderr)) return null
    throw cliError(`ls ${zpath}`, res)
  }
  const lines = res.stdout.replace(HEADER_RE, '').split('\n')
  const list = lines.reverse().find((l) => /^\[.*\]$/.test(l))
  if (list === undefined) throw cliError(`ls ${zpath} (unparseable output)`, res)
  const inner = list.slice(1, -1)
  return inner === '' ? [] : inner.split(', ')
}

/** Set data of an existing node (throws, err.code = 'NONODE', if missing). */
async function zkSet(cs, zpath, data, opts) {
  const res = await zkCli(cs, 'set', '--', zpath, String(data), opts || {})
  if (res.code !== 0) throw cliError(`set ${zpath}`, res)
}

/**
 * Create a node; resolves the created path (differs from zpath for
 * sequential nodes). opts: { ephemeral, sequential, parents (create missing
 * ancestors with no data), sessionTimeoutMs, timeoutMs }.
 * Throws err.code = 'NODEEXISTS' / 'NONODE' (missing parent).
 *
 * Note: zkCli exits without closing its session, so an ephemeral node made
 * here lives until that session expires: sessionTimeoutMs (default 5000,
 * clamped by the server to [minSessionTimeout, maxSessionTimeout]).
 */
async function zkCreate(cs, zpath, data, opts = {}) {
  const { ephemeral = false, sequential = false, parents = false, ...cliOpts } = opts
  if (parents) {
    const parts = zpath.split('/').filter(Boolean)
    for (let i = 1; i < parts.length; i++) {
      const p = '/' + parts.slice(0, i).join('/')
      const r = await zkCli(cs, 'create', '--', p, { ...cliOpts })
      if (r.code !== 0 && !/Node already exists/.test(r.stderr)) throw cliError(`create ${p}`, r)
    }
  }
  const args = ['create']
  if (ephemeral) args.push('-e')
  if (sequential) args.push('-s')
  args.push('--', zpath)
  if (data !== undefined && data !== null) args.push(String(data))
  const res = await zkCli(cs, ...args, { ...cliOpts })
  if (res.code !== 0) throw cliError(`create ${zpath}`, res)
  const m = /^Created (.*)$/m.exec(res.stderr) || /^Created (.*)$/m.exec(res.stdout)
  return m ? m[1] : zpath
}

/** Delete a node (recursive: `deleteall`). Resolves false if it did not exist. */
async function zkDelete(cs, zpath, opts = {}) {
  const { recursive = false, ...cliOpts } = opts
  const res = await zkCli(cs, recursive ? 'deleteall' : 'delete', zpath, { ...cliOpts })
  if (res.code !== 0) {
    if (/Node does not exist/.test(res.stderr)) return false
    throw cliError(`delete ${zpath}`, res)
  }
  if (/Node does not exist/.test(res.stderr)) return false
  return true
}

module.exports = { zkCli, zkGet, zkLs, zkSet, zkCreate, zkDelete }
