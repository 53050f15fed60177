'use strict'
// One benchmark provider in its own process: answers POST with a small JSON reply, optionally
// late, over HTTPS when given a folder with server.key and server.pem. Prints its port on stdout
// once listening. argv: delayMs [tlsDir]
const fs = require('node:fs')
const path = require('node:path')
const http = require('node:http')
const https = require('node:https')

const delayMs = Number(process.argv[2] || 0)
const tlsDir = process.argv[3]
const handler = (req, res) => {
  const chunks = []
  req.on('data', (c) => chunks.push(c))
  req.on('end', () => {
    const reply = () => {
      res.setHeader('content-type', 'application/json')
      res.end(`{"port":${server.address().port},"ok":true}`)
    }
    if (delayMs > 0) setTimeout(reply, delayMs)
    else reply()
  })
}
const server = tlsDir
  ? https.createServer(
      { key: fs.readFileSync(path.join(tlsDir, 'server.key')), cert: fs.readFileSync(path.join(tlsDir, 'server.pem')) },
      handler,
    )
  : http.createServer(handler)
server.keepAliveTimeout = 65000
server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`))
process.on('disconnect', () => process.exit(0))
