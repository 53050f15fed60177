'use strict'
// Certificates and a TLS-speaking ZooKeeper for the security tests.
//
// `makePki()` makes a throw-away certificate authority with `openssl` (a real one, as an operator
// would: RSA keys, X.509 v3 with SANs), a server certificate for 127.0.0.1/localhost, a client
// certificate, and a second, unrelated CA that must never be trusted. `startSecureZooKeeper()`
// starts a real ZooKeeper with a `secureClientPort` served by Netty (the only connection factory
// that speaks TLS), reading PEM files directly (`ssl.keyStore.type=PEM`). Its plain `clientPort`
// stays open on loopback for the harness's own readiness checks and zkCli.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFileSync } = require('node:child_process')
const { startZooKeeper, freePort } = require('./zookeeper')

// Netty's pieces the server's TLS path needs beyond what zookeeper.jar's manifest names.
const NETTY_JARS = ['netty-codec.jar', 'netty-resolver.jar', 'netty-transport-native-unix-common.jar']

function openssl(args, cwd) {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'], timeout: 30000 })
}

function makeCa(dir, name) {
  openssl(
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      `/CN=${name}`,
      '-keyout',
      `${name}.key`,
      '-out',
      `${name}.pem`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    ],
    dir,
  )
}

function makeLeaf(dir, ca, name, ext) {
  fs.writeFileSync(path.join(dir, `${name}.ext`), ext)
  openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-subj', `/CN=${name}`, '-keyout', `${name}.key`, '-out', `${name}.csr`], dir)
  openssl(
    [
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${ca}.pem`,
      '-CAkey',
      `${ca}.key`,
      '-CAcreateserial',
      '-days',
      '2',
      '-out',
      `${name}.pem`,
      '-extfile',
      `${name}.ext`,
    ],
    dir,
  )
}

/**
 * Makes a CA, a server certificate (127.0.0.1, localhost), a client certificate and a foreign CA
 * in a temp folder. Returns the file paths and `read(name)` for PEM contents, and `remove()`.
 */
function makePki() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lemon-pki-'))
  makeCa(dir, 'ca')
  makeCa(dir, 'other-ca')
  makeLeaf(dir, 'ca', 'server', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n')
  makeLeaf(dir, 'ca', 'client', 'extendedKeyUsage=clientAuth\n')
  // ZooKeeper's PEM key store: the private key and its certificate in one file.
  for (const name of ['server', 'client']) {
    const both = fs.readFileSync(path.join(dir, `${name}.key`), 'utf8') + fs.readFileSync(path.join(dir, `${name}.pem`), 'utf8')
    fs.writeFileSync(path.join(dir, `${name}-store.pem`), both)
  }
  const file = (name) => path.join(dir, name)
  return {
    dir,
    ca: file('ca.pem'),
    otherCa: file('other-ca.pem'),
    serverCert: file('server.pem'),
    serverKey: file('server.key'),
    clientCert: file('client.pem'),
    clientKey: file('client.key'),
    read: (name) => fs.readFileSync(file(name), 'utf8'),
    remove: () => fs.rmSync(dir, { recursive: true, force: true }),
  }
}

/**
 * A standalone ZooKeeper that also serves TLS on `server.securePort` (`server.secureConnectString`).
 * `clientAuth`: 'none' (default) or 'need' (mutual TLS: clients must show a certificate the CA
 * signed). Other options go to startZooKeeper.
 */
async function startSecureZooKeeper(pki, { clientAuth = 'none', ...opts } = {}) {
  const securePort = await freePort()
  const jars = NETTY_JARS.map((j) => path.join('/usr/share/java', j)).filter((j) => fs.existsSync(j))
  const server = await startZooKeeper({
    ...opts,
    jvmFlags: [...(opts.jvmFlags || []), '-Dzookeeper.serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory'],
    extraConfig: {
      ...(opts.extraConfig || {}),
      secureClientPort: securePort,
      secureClientPortAddress: '127.0.0.1',
      'ssl.keyStore.location': path.join(pki.dir, 'server-store.pem'),
      'ssl.keyStore.type': 'PEM',
      'ssl.trustStore.location': pki.ca,
      'ssl.trustStore.type': 'PEM',
      'ssl.clientAuth': clientAuth,
    },
    extraClasspath: jars,
  })
  server.securePort = securePort
  server.secureConnectString = `127.0.0.1:${securePort}`
  return server
}

module.exports = { makePki, startSecureZooKeeper }
