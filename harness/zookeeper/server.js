'use strict'
// ZooKeeper servers: a standalone server or an ensemble on loopback ports, each with its own data
// dir and log file, started, stopped, restarted and always cleaned up.

const { spawn } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const { sleep } = require('../wait')
const { findZooKeeper, javaBinary, FAST_JVM_FLAGS } = require('./install')
const { HOST, freePort, freePorts, fourLetterWord, parseMode } = require('./ports')
const {
  liveJvms,
  tempDirs,
  killQuietly,
  pidAlive,
  installHandlers,
  hasSetprivPdeathsig,
  startWatchdog,
  makeTempDir,
} = require('./processes')

const STANDALONE_MAIN = 'org.apache.zookeeper.server.ZooKeeperServerMain'
const QUORUM_MAIN = 'org.apache.zookeeper.server.quorum.QuorumPeerMain'

function tail(file, lines = 40) {
  try {
    const text = fs.readFileSync(file, 'utf8')
    return text.split('\n').slice(-lines).join('\n')
  } catch (e) {
    return `(could not read ${file}: ${e.message})`
  }
}

function writeConfig(member) {
  const o = member.opts
  const lines = [
    `tickTime=${o.tickTime}`,
    `initLimit=${o.initLimit}`,
    `syncLimit=${o.syncLimit}`,
    `minSessionTimeout=${o.minSessionTimeout}`,
    `maxSessionTimeout=${o.maxSessionTimeout}`,
    `dataDir=${member.dataDir}`,
    `clientPort=${member.port}`,
    `clientPortAddress=${HOST}`,
    'admin.enableServer=false',
    '4lw.commands.whitelist=*',
    'maxClientCnxns=0',
    'autopurge.purgeInterval=0',
  ]
  if (member.peers) {
    // Ensemble member: quorum and election ports on loopback.
    lines.push('standaloneEnabled=false', 'reconfigEnabled=false', 'quorumListenOnAllIPs=false')
    for (const p of member.peers) lines.push(`server.${p.id}=${HOST}:${p.quorumPort}:${p.electionPort}`)
    fs.writeFileSync(path.join(member.dataDir, 'myid'), `${member.id}\n`)
  }
  for (const [k, v] of Object.entries(o.extraConfig || {})) lines.push(`${k}=${v}`)
  fs.writeFileSync(member.configFile, lines.join('\n') + '\n')
}

const DEFAULTS = {
  tickTime: 100,
  initLimit: 50, // 5 s for followers to connect and sync to a new leader
  syncLimit: 20, // 2 s before a silent follower is dropped
  minSessionTimeout: 200,
  maxSessionTimeout: 20000,
  startTimeoutMs: 20000,
  extraConfig: {},
  jvmFlags: [],
  extraClasspath: [], // jars the server needs beyond ZooKeeper's own (Netty's TLS pieces)
}

class ZooKeeperServer {
  constructor(fields) {
    Object.assign(this, fields)
    this.host = HOST
    this.connectString = `${HOST}:${this.port}`
    this.pid = null
    this.logFile = path.join(this.dataDir, 'zookeeper.log')
    this.configFile = path.join(this.dataDir, 'zoo.cfg')
    this._child = null
    this._exited = null
  }

  get running() {
    return this._child !== null
  }

  /** Spawn the JVM (without waiting for it to serve). */
  _spawn() {
    installHandlers()
    const zk = findZooKeeper()
    const main = this.peers ? QUORUM_MAIN : STANDALONE_MAIN
    const javaArgs = [
      ...FAST_JVM_FLAGS,
      '-Djava.net.preferIPv4Stack=true',
      '-Dzookeeper.jmx.log4j.disable=true',
      `-Dzookeeper.log.dir=${this.dataDir}`,
      // election connect timeout: fail over quickly when a peer is down
      '-Dzookeeper.cnxTimeout=1000',
      ...zk.jvmProps,
      ...this.opts.jvmFlags,
      '-cp',
      [zk.classpath, ...(this.opts.extraClasspath || [])].join(path.delimiter),
      main,
      this.configFile,
    ]
    const java = javaBinary()
    const usePdeath = hasSetprivPdeathsig()
    const [cmd, args] = usePdeath ? ['setpriv', ['--pdeathsig', 'KILL', '--', java, ...javaArgs]] : [java, javaArgs]
    const fd = fs.openSync(this.logFile, 'a')
    let child
    try {
      fs.writeSync(fd, `\n==== [harness] ${new Date().toISOString()} starting ${main} (${zk.source}) on port ${this.port}\n`)
      child = spawn(cmd, args, { cwd: this.dataDir, stdio: ['ignore', fd, fd], env: process.env })
    } finally {
      fs.closeSync(fd)
    }
    if (!child.pid) {
      // spawn failed (ENOENT etc.); the 'error' event follows, swallow it here
      child.on('error', () => {})
      throw new Error(`Failed to spawn ${cmd} (is Java installed? set JAVA_HOME or install openjdk-17-jre-headless)`)
    }
    // Don't keep the event loop alive just for the JVM: a test that forgets to
    // stop it still lets the process exit, and the 'exit' handler kills it.
    child.unref()
    this._child = child
    this.pid = child.pid
    const info = { watchdogPid: usePdeath ? null : startWatchdog(child.pid) }
    liveJvms.set(child.pid, info)
    this._exited = new Promise((resolve) => {
      const onGone = (code, signal) => {
        liveJvms.delete(child.pid)
        if (info.watchdogPid) killQuietly(info.watchdogPid, 'SIGKILL')
        if (this._child === child) this._child = null
        resolve({ code, signal })
      }
      child.once('exit', onGone)
      child.once('error', (err) => {
        fs.appendFileSync(this.logFile, `[harness] spawn error: ${err.message}\n`)
        onGone(null, null)
      })
    })
  }

  async _waitReady(timeoutMs, requireServing) {
    const deadline = Date.now() + timeoutMs
    const child = this._child
    let exited = null
    this._exited.then((r) => {
      exited = r
    })
    let lastMode = null
    let phase = 'ruok'
    // bounded: at most timeoutMs / ~50 ms iterations
    while (Date.now() < deadline) {
      if (exited || this._child !== child) {
        this._keepForDiagnosis()
        throw new Error(
          `ZooKeeper on port ${this.port} exited during startup (code ${exited && exited.code}, signal ${exited && exited.signal}). ` +
            `Log: ${this.logFile}\n--- log tail ---\n${tail(this.logFile)}`,
        )
      }
      if (phase === 'ruok') {
        if ((await fourLetterWord(this.port, 'ruok')) === 'imok') phase = 'srvr'
      }
      if (phase === 'srvr') {
        if (!requireServing) return null
        lastMode = parseMode(await fourLetterWord(this.port, 'srvr'))
        const ok = this.peers ? lastMode === 'leader' || lastMode === 'follower' || lastMode === 'observer' : lastMode === 'standalone'
        if (ok) return lastMode
      }
      await sleep(50)
    }
    const err = new Error(
      `ZooKeeper on port ${this.port} not ready after ${timeoutMs} ms (stage: ${phase}, last mode: ${lastMode}). ` +
        `Log: ${this.logFile}\n--- log tail ---\n${tail(this.logFile)}`,
    )
    await this.kill()
    this._keepForDiagnosis()
    throw err
  }

  // A data dir whose server failed to start is left for inspection (its log
  // is named in the error); the next harness run sweeps it once we are gone.
  _keepForDiagnosis() {
    tempDirs.delete(this.dataDir)
  }

  /**
   * (Re)start on the same port and data dir. Waits until the server serves
   * (standalone: `Mode: standalone`; ensemble member: leader/follower).
   * opts.wait=false: only spawn; opts.serving=false: wait for `ruok` only
   * (an ensemble member without quorum answers ruok but does not serve).
   */
  async start({ wait = true, serving = true, timeoutMs = this.opts.startTimeoutMs } = {}) {
    if (this._child) return this
    writeConfig(this)
    this._spawn()
    if (wait) await this._waitReady(timeoutMs, serving)
    return this
  }

  /** SIGTERM by PID, wait for exit; SIGKILL after 3 s. */
  async stop({ graceMs = 3000 } = {}) {
    const child = this._child
    if (!child) return
    killQuietly(child.pid, 'SIGTERM')
    let timer
    const killer = new Promise((resolve) => {
      timer = setTimeout(() => {
        killQuietly(child.pid, 'SIGKILL')
        resolve()
      }, graceMs)
    })
    await Promise.race([this._exited, killer])
    // After SIGKILL the exit event follows promptly; the 3 s timer above kept
    // the event loop alive, this one does the same for the final wait.
    const hard = setTimeout(() => {}, 10000)
    try {
      await this._exited
    } finally {
      clearTimeout(timer)
      clearTimeout(hard)
    }
  }

  /** SIGKILL (simulates a crash) and wait for the process to be gone. */
  async kill() {
    const child = this._child
    if (!child) return
    killQuietly(child.pid, 'SIGKILL')
    const hard = setTimeout(() => {}, 10000)
    try {
      await this._exited
    } finally {
      clearTimeout(hard)
    }
  }

  /** 'standalone' | 'leader' | 'follower' | 'observer' | null (down / not serving). */
  async mode() {
    return parseMode(await fourLetterWord(this.port, 'srvr'))
  }

  /** Raw four-letter-word reply (null on error/timeout). */
  fourLetterWord(word, opts) {
    return fourLetterWord(this.port, word, opts)
  }

  /** Stop and remove the data dir. */
  async cleanup() {
    await this.stop()
    if (!process.env.ZK_HARNESS_KEEP_DATA) {
      fs.rmSync(this.dataDir, { recursive: true, force: true })
      tempDirs.delete(this.dataDir)
    }
  }
}

function mergeOpts(opts) {
  return { ...DEFAULTS, ...(opts || {}) }
}

/**
 * Start a standalone ZooKeeper on a free loopback port.
 * opts: { port, tickTime=100, minSessionTimeout=200, maxSessionTimeout=20000,
 *         initLimit, syncLimit, startTimeoutMs=20000, extraConfig: {k: v}, jvmFlags: [] }
 */
async function startZooKeeper(opts) {
  const o = mergeOpts(opts)
  findZooKeeper() // fail fast with the install hint
  return withPortRetry(!o.port, () => startZooKeeperOnce(o))
}

// A port found free may be taken by someone else before the JVM binds it;
// then start over on fresh ports (bounded: 3 attempts).
async function withPortRetry(mayRetry, startOnce) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce()
    } catch (e) {
      if (!mayRetry || attempt >= 3 || !/Address already in use|BindException/.test(e.message)) throw e
      for (const dir of e.dataDirs || []) fs.rmSync(dir, { recursive: true, force: true })
    }
  }
}

async function startZooKeeperOnce(o) {
  const port = o.port || (await freePort())
  const dataDir = makeTempDir('zk-harness-')
  const server = new ZooKeeperServer({ port, dataDir, opts: o, id: null, peers: null })
  try {
    await server.start()
  } catch (e) {
    await server.kill()
    e.dataDirs = [dataDir]
    throw e
  }
  return server
}

/**
 * Start an n-member ensemble (QuorumPeerMain), each member with its own data
 * dir, myid, client/quorum/election ports. Resolves once every member serves
 * (leader or follower) and exactly one is leader.
 */
async function startEnsemble(n = 3, opts) {
  const o = mergeOpts(opts)
  findZooKeeper()
  return withPortRetry(true, () => startEnsembleOnce(n, o))
}

async function startEnsembleOnce(n, o) {
  const ports = await freePorts(n * 3)
  const peers = []
  for (let i = 0; i < n; i++) {
    peers.push({ id: i + 1, port: ports[3 * i], quorumPort: ports[3 * i + 1], electionPort: ports[3 * i + 2] })
  }
  const servers = peers.map(
    (p) =>
      new ZooKeeperServer({
        id: p.id,
        port: p.port,
        quorumPort: p.quorumPort,
        electionPort: p.electionPort,
        peers,
        dataDir: makeTempDir(`zk-harness-${p.id}-`),
        opts: o,
      }),
  )
  const ensemble = {
    servers,
    connectString: servers.map((s) => s.connectString).join(','),
    /**
     * The member whose mode() is 'leader', polling up to timeoutMs (an
     * election may be in progress); null if none within the time.
     */
    async leader({ timeoutMs = 10000 } = {}) {
      const deadline = Date.now() + timeoutMs
      for (let i = 0; i < 1000; i++) {
        const modes = await Promise.all(servers.map((s) => (s.running ? s.mode() : null)))
        const leaders = servers.filter((_, j) => modes[j] === 'leader')
        if (leaders.length === 1) return leaders[0]
        if (Date.now() >= deadline) return null
        await sleep(100)
      }
      return null
    },
    async modes() {
      return Promise.all(servers.map((s) => s.mode()))
    },
    /** Start every stopped member (together, so that they can form a quorum). */
    async start(startOpts) {
      await Promise.all(servers.map((s) => s.start(startOpts)))
      return ensemble
    },
    async stop() {
      await Promise.all(servers.map((s) => s.stop()))
    },
    async kill() {
      await Promise.all(servers.map((s) => s.kill()))
    },
    async cleanup() {
      await Promise.all(servers.map((s) => s.cleanup()))
    },
  }
  try {
    await ensemble.start()
    if (!(await ensemble.leader({ timeoutMs: o.startTimeoutMs }))) {
      throw new Error(`ensemble has no single leader; modes: ${(await ensemble.modes()).join(', ')}`)
    }
  } catch (e) {
    await ensemble.kill()
    for (const s of servers) s._keepForDiagnosis()
    // One member failing (e.g. a port clash) fails the whole start; report
    // every member's log tail that mentions trouble.
    const clash = servers.find((s) => /Address already in use|BindException/.test(tail(s.logFile, 200)))
    if (clash && !/Address already in use|BindException/.test(e.message)) {
      e.message += `\n(member ${clash.id}: Address already in use, see ${clash.logFile})`
    }
    e.dataDirs = servers.map((s) => s.dataDir)
    throw e
  }
  return ensemble
}

module.exports = { ZooKeeperServer, startZooKeeper, startEnsemble }
