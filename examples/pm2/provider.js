'use strict'
// A provider app for pm2 cluster mode: every worker serves the same port and registers its own
// node; a reload or stop drains a worker without losing a call.
//
//   ZK=127.0.0.1:2181 PORT=20080 pm2 start examples/pm2/ecosystem.config.js
//
// With AUTH=user:password and TOKEN=1 every worker requires its own provider token (a new one
// on every start; consumers with the same credentials send it): see docs/security.md.

const http = require('node:http')
const lemon = require('../../lib')

const cluster = new lemon.Cluster({
  zk: process.env.ZK || '127.0.0.1:2181',
  host: process.env.HOST || '127.0.0.1',
  ...(process.env.AUTH ? { auth: process.env.AUTH } : {}),
})
const service = lemon.service({
  cluster,
  ...(process.env.TOKEN === '1' ? { token: true } : {}),
  app: process.env.APP || 'movie',
  group: process.env.GROUP || 'query',
  version: process.env.VERSION || 'V1',
  methods: {
    async getMovieById({ id }) {
      return { id, title: `Movie #${id}`, pid: process.pid }
    },
  },
})

const server = http.createServer(service.handler())
server.listen(Number(process.env.PORT || 20080), async () => {
  await service.register(server)
  // Tell pm2 this worker is registered, so a reload stops the old one only now (wait_ready).
  if (process.send) process.send('ready')
})

// pm2 sends SIGINT on reload/stop: node removed first, then in-flight requests and open
// connections drain, then the session closes and the process exits by itself.
service.closeOnSignals()
