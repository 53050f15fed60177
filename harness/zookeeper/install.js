'use strict'
// Where ZooKeeper and Java come from (see index.js for the order), and how their JVMs run.

const fs = require('node:fs')
const path = require('node:path')

const DEBIAN_JAR = '/usr/share/java/zookeeper.jar'
const DEBIAN_CLI = '/usr/share/zookeeper/bin/zkCli.sh'
const FAST_JVM_FLAGS = ['-Xmx256m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1', '-Xshare:auto']
const CLI_JVM_FLAGS = '-Xmx128m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto'

const INSTALL_HINT =
  'Install it with `apt-get install -y zookeeper` (Debian/Ubuntu; or run scripts/setup.sh), ' +
  'or point ZOOKEEPER_HOME at an unpacked ZooKeeper distribution ' +
  '(or ZOOKEEPER_CLASSPATH at an explicit server classpath).'

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

module.exports = { findZooKeeper, javaBinary, logLevel, FAST_JVM_FLAGS, CLI_JVM_FLAGS, INSTALL_HINT }
