'use strict'
// The session options every CLI command (and `lemon-cluster console`) opens its Admin with,
// from the global flags and their environment variables: one place, so the commands cannot
// disagree about which ZooKeeper, identity or TLS settings they use.

const os = require('node:os')

/** A usage mistake: the CLI prints it with the command's help and exits 2. */
class UsageError extends Error {}

/** `{ zk, root?, auth?, zkTls?, identity }` from `--zk`, `--root`, `--auth`, `--zk-tls-*`. */
function sessionOptions(flags) {
  const zk = flags.zk || process.env.LEMON_ZK
  if (!zk) throw new UsageError('no ZooKeeper given: pass --zk HOSTS or set LEMON_ZK')
  const options = { zk, identity: `${os.userInfo().username}@${os.hostname()}` }
  if (flags.root) options.root = flags.root
  const auth = flags.auth || process.env.LEMON_ZK_AUTH
  if (auth) options.auth = auth
  const ca = flags.zkTlsCa || process.env.LEMON_ZK_TLS_CA
  const cert = flags.zkTlsCert || process.env.LEMON_ZK_TLS_CERT
  const key = flags.zkTlsKey || process.env.LEMON_ZK_TLS_KEY
  if (ca || cert || key) {
    // The core reads and checks these (paths or PEM, the pair complete, always verified).
    options.zkTls = { ca }
    if (cert) options.zkTls.cert = cert
    if (key) options.zkTls.key = key
  }
  return options
}

/** The global flags that take a value, by spelling. */
const SESSION_FLAGS = {
  '--zk': 'zk',
  '--root': 'root',
  '--auth': 'auth',
  '--zk-tls-ca': 'zkTlsCa',
  '--zk-tls-cert': 'zkTlsCert',
  '--zk-tls-key': 'zkTlsKey',
}

module.exports = { sessionOptions, SESSION_FLAGS, UsageError }
