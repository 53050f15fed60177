'use strict'

// Real-ZooKeeper test harness.
//
// Starts genuine ZooKeeper JVMs (standalone or a small ensemble) on free
// loopback ports with throw-away data dirs, and drives the real `zkCli.sh`
// for out-of-band inspection of what the code under test wrote.
//
// Where ZooKeeper comes from (first match wins):
//   1. ZOOKEEPER_CLASSPATH  explicit JVM classpath for the server
//                           (CLI: $ZOOKEEPER_HOME/bin/zkCli.sh if set, else Debian's)
//   2. ZOOKEEPER_HOME       an upstream install: $ZOOKEEPER_HOME/*.jar,
//                           $ZOOKEEPER_HOME/lib/*.jar, $ZOOKEEPER_HOME/conf,
//                           CLI $ZOOKEEPER_HOME/bin/zkCli.sh
//   3. Debian's `zookeeper` package: /usr/share/java/zookeeper.jar (its
//      manifest Class-Path names jute, netty, slf4j-api, ... — this is exactly
//      what Debian's zkEnv.sh puts on CLASSPATH) plus slf4j-simple.jar as the
//      logging binding, CLI /usr/share/zookeeper/bin/zkCli.sh
//
// Orphan protection (a JVM must never outlive the test process):
//   * every JVM is tracked; process 'exit' (and SIGINT/SIGTERM/SIGHUP) SIGKILLs
//     any that are still running, synchronously, by PID;
//   * if the test process dies abruptly (SIGKILL, crash) no JS runs, so the
//     JVM is exec'd through `setpriv --pdeathsig KILL` (util-linux, always on
//     Debian): the kernel SIGKILLs the JVM as soon as its parent (this node
//     process) dies. setpriv execs java, so the child's PID *is* the JVM's PID.
//   * where setpriv is not available, a tiny detached `sh` watchdog polls
//     `kill -0 <node pid>` twice a second and SIGKILLs the JVM when node is
//     gone (it also exits by itself once the JVM is gone).
//   * zkCli.sh runs java as a child of bash (not exec), so each CLI call is
//     spawned in its own process group and the whole group is killed on
//     timeout or exit.

const { spawn, spawnSync } = require('node:child_process')
const fs = require('node:fs')
const net = require('node:net')
const os = require('node:os')
const path = require('node:path')

const HOST = '127.0.0.1'
const DEBIAN_JAR = '/usr/share/java/zookeeper.jar'
const DEBIAN_CLI = '/usr/share/zookeeper/bin/zkCli.sh'
const STANDALONE_MAIN = 'org.apache.zookeeper.server.ZooKeeperServerMain'
const QUORUM_MAIN = 'org.apache.zookeeper.server.quorum.QuorumPeerMain'
const FAST_JVM_FLAGS = ['-Xmx256m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Xshare:auto']
const CLI_JVM_FLAGS = '-Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto'

const INSTALL_HINT =
  'Install it with `apt-get install -y zookeeper` (Debian/Ubuntu; or run scripts/setup.sh), ' +
  'or point ZOOKEEPER_HOME at an unpacked ZooKeeper distribution ' +
  '(or ZOOKEEPER_CLASSPATH at an explicit server classpath).'

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

// ---------------------------------------------------------------------------
// Process tracking and emergency cleanup
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// Locating ZooKeeper and Java
// ---------------------------------------------------------------------------

function jarsIn(dir) {
  try {
    return fs
      .readdirSync(dir)
      .filter((f) => f.endsWith('.jar'))
      .sort()
      .map((f) => path.join(dir, f))
  } catch {
    return []
  }
}

/**
 * Where ZooKeeper is: { classpath, cli, source, jvmProps }.
 * Throws a clear error (with install instructions) when none is found.
 */
function findZooKeeper() {
  const home = process.env.ZOOKEEPER_HOME
  if (process.env.ZOOKEEPER_CLASSPATH) {
    return {
      source: 'ZOOKEEPER_CLASSPATH',
      classpath: process.env.ZOOKEEPER_CLASSPATH,
      cli: home ? path.join(home, 'bin', 'zkCli.sh') : DEBIAN_CLI,
      jvmProps: ['-Dorg.slf4j.simpleLogger.defaultLogLevel=' + logLevel()],
    }
  }
  if (home) {
    const jars = [...jarsIn(home), ...jarsIn(path.join(home, 'lib'))]
    if (!jars.some((j) => /zookeeper-[^/]*\.jar$|zookeeper\.jar$/.test(path.basename(j)))) {
      throw new Error(`ZOOKEEPER_HOME=${home} does not contain a zookeeper jar in ${home}/*.jar or ${home}/lib/*.jar. ` + INSTALL_HINT)
    }
    const conf = path.join(home, 'conf')
    const cp = fs.existsSync(conf) ? [conf, ...jars] : jars
    const level = logLevel().toUpperCase()
    return {
      source: `ZOOKEEPER_HOME=${home}`,
      classpath: cp.join(path.delimiter),
      cli: path.join(home, 'bin', 'zkCli.sh'),
      // Upstream ships logback (3.8+) or log4j (<= 3.7) configs driven by these.
      jvmProps: [
        `-Dzookeeper.console.threshold=${level}`,
        `-Dzookeeper.root.logger=${level},CONSOLE`,
        `-Dorg.slf4j.simpleLogger.defaultLogLevel=${logLevel()}`,
      ],
    }
  }
  if (fs.existsSync(DEBIAN_JAR)) {
    const cp = [DEBIAN_JAR]
    // zookeeper.jar's manifest pulls in slf4j-api but no binding (slf4j would
    // fall back to NOP and print a warning). slf4j-simple logs to stderr,
    // which goes to the per-server log file.
    for (const binding of ['/usr/share/java/slf4j-simple.jar', '/usr/share/java/slf4j-nop.jar']) {
      if (fs.existsSync(binding)) {
        cp.push(binding)
        break
      }
    }
    return {
      source: 'Debian zookeeper package',
      classpath: cp.join(path.delimiter),
      cli: DEBIAN_CLI,
      jvmProps: [
        `-Dorg.slf4j.simpleLogger.defaultLogLevel=${logLevel()}`,
        '-Dorg.slf4j.simpleLogger.showDateTime=true',
        '-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS',
      ],
    }
  }
  throw new Error(`No ZooKeeper installation found (looked for ${DEBIAN_JAR}, ZOOKEEPER_HOME, ZOOKEEPER_CLASSPATH). ${INSTALL_HINT}`)
}

function logLevel() {
  return process.env.ZK_HARNESS_LOG_LEVEL || 'warn'
}

function javaBinary() {
  if (process.env.JAVA_HOME) {
    const j = path.join(process.env.JAVA_HOME, 'bin', 'java')
    if (fs.existsSync(j)) return j
  }
  return 'java'
}

// ---------------------------------------------------------------------------
// Ports and four-letter words
// ---------------------------------------------------------------------------

function listenEphemeral() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer()
    srv.unref()
    srv.on('error', reject)
    srv.listen({ port: 0, host: HOST, exclusive: true }, () => resolve(srv))
  })
}

/** One free loopback TCP port (bind port 0 on 127.0.0.1, then release it). */
async function freePort() {
  return (await freePorts(1))[0]
}

/** `count` distinct free loopback ports (all held open until all are found). */
async function freePorts(count) {
  const servers = []
  try {
    for (let i = 0; i < count; i++) servers.push(await listenEphemeral())
    return servers.map((s) => s.address().port)
  } finally {
    await Promise.all(servers.map((s) => new Promise((resolve) => s.close(() => resolve()))))
  }
}

/**
 * Send a four-letter word (ruok, srvr, stat, mntr, ...) and return the reply
 * as a string, or null on any error / timeout.
 */
function fourLetterWord(port, word, { host = HOST, timeoutMs = 250 } = {}) {
  return new Promise((resolve) => {
    let out = ''
    let done = false
    const finish = (value) => {
      if (done) return
      done = true
      clearTimeout(timer)
      sock.destroy()
      resolve(value)
    }
    const sock = net.connect({ port, host })
    const timer = setTimeout(() => finish(null), timeoutMs)
    sock.setEncoding('utf8')
    sock.on('connect', () => sock.write(word))
    sock.on('data', (d) => {
      out += d
    })
    sock.on('end', () => finish(out))
    sock.on('close', () => finish(out || null))
    sock.on('error', () => finish(null))
  })
}

function parseMode(srvr) {
  const m = srvr && /^Mode: (\w+)/m.exec(srvr)
  return m ? m[1] : null
}

function tail(file, lines = 40) {
  try {
    const text = fs.readFileSync(file, 'utf8')
    return text.split('\n').slice(-lines).join('\n')
  } catch (e) {
    return `(could not read ${file}: ${e.message})`
  }
}

// ---------------------------------------------------------------------------
// Servers
// ---------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------
// zkCli.sh
// ---------------------------------------------------------------------------

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

module.exports = {
  startZooKeeper,
  startEnsemble,
  freePort,
  freePorts,
  fourLetterWord,
  findZooKeeper,
  zkCli,
  zkGet,
  zkLs,
  zkSet,
  zkCreate,
  zkDelete,
  ZooKeeperServer,
}
