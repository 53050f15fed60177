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
//
// One job per file: install.js (finding ZooKeeper and Java), ports.js (free ports, four-letter
// words), processes.js (orphan protection, throw-away dirs), server.js (servers and ensembles),
// cli.js (zkCli.sh). Used by the tests, the demo and the benchmarks alike.

const { findZooKeeper } = require('./install')
const { freePort, freePorts, fourLetterWord } = require('./ports')
const { ZooKeeperServer, startZooKeeper, startEnsemble } = require('./server')
const { zkCli, zkGet, zkLs, zkSet, zkCreate, zkDelete } = require('./cli')

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
