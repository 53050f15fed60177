'use strict'
// Free loopback ports, and ZooKeeper's four-letter words (ruok, srvr, ...) to ask a server how it is.

const net = require('node:net')

const HOST = '127.0.0.1'

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

module.exports = { HOST, freePort, freePorts, fourLetterWord, parseMode }
