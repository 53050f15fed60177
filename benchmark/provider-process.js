'use strict'
// One benchmark provider in its own process: answers POST with a small JSON reply, optionally
// late. Prints its port on stdout once listening. argv: delayMs
const http = require('node:http')

const delayMs = Number(process.argv[2] || 0)
const server = http.createServer((req, res) => {
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
})
server.keepAliveTimeout = 65000
server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`))
process.on('disconnect', () => process.exit(0))
