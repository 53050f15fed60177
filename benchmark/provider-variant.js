'use strict'
// One provider of the provider-side benchmark in its own process: the same method served by one
// of the variants below, each doing the same work (read the body, parse the JSON, call the method,
// answer JSON). Prints its port on stdout once listening, and answers the message 'cpu' over IPC
// with its process.cpuUsage() (µs), which the benchmark reads right before and after a measured
// window. argv: variant [module]
//   bare           a minimal hand-written node:http JSON handler — the limit;
//   lemon-http     lemon.service().handler() on node:http;
//   express-json   Express with express.json() and a route;
//   express-lemon  lemon.express() on Express;
//   koa-body       Koa with @koa/bodyparser and a route;
//   koa-lemon      lemon.koa() on Koa.
// `module` (lemon-http only) serves with the `service()` of another copy of lib/provider.js, e.g.
// the last commit's put beside it (`git show HEAD:lib/provider.js > lib/provider.old.js`), for an
// A/B run of two versions in the same benchmark.
const http = require('node:http')
const path = require('node:path')
const lemon = require('../lib')

const PATH = '/bench/g/echo'
const echo = (args) => ({ id: args.id, name: args.name, ok: true })
const service = { app: 'bench', group: 'g', methods: { echo } }

const variants = {
  bare: () =>
    http.createServer((req, res) => {
      const chunks = []
      req.on('data', (c) => chunks.push(c))
      req.on('end', () => {
        let status = 200
        let body
        try {
          if (req.method !== 'POST' || req.url !== PATH) throw Object.assign(new Error('not found'), { status: 404 })
          body = JSON.stringify(echo(JSON.parse(Buffer.concat(chunks).toString('utf8'))))
        } catch (e) {
          status = e.status || 400
          body = JSON.stringify({ error: { message: e.message } })
        }
        res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) })
        res.end(body)
      })
    }),
  'lemon-http': (module) => http.createServer((module ? require(path.resolve(module)) : lemon).service(service).handler()),
  'express-json': () => {
    const express = require('express')
    const app = express()
    app.use(express.json())
    app.post(PATH, (req, res) => res.json(echo(req.body)))
    return http.createServer(app)
  },
  'express-lemon': () => {
    const app = require('express')()
    app.use(lemon.express(service))
    return http.createServer(app)
  },
  'koa-body': () => {
    const Koa = require('koa')
    const { bodyParser } = require('@koa/bodyparser')
    const app = new Koa()
    app.use(bodyParser())
    app.use(async (ctx, next) => {
      if (ctx.method !== 'POST' || ctx.path !== PATH) return next()
      ctx.body = echo(ctx.request.body)
    })
    return http.createServer(app.callback())
  },
  'koa-lemon': () => {
    const Koa = require('koa')
    const app = new Koa()
    app.use(lemon.koa(service))
    return http.createServer(app.callback())
  },
}

const make = variants[process.argv[2]]
if (!make) {
  console.error(`unknown variant ${process.argv[2]}; one of ${Object.keys(variants).join(', ')}`)
  process.exit(2)
}
const server = make(process.argv[3])
server.keepAliveTimeout = 65000
server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`))
process.on('message', (m) => {
  if (m === 'cpu') process.send(process.cpuUsage())
})
process.on('disconnect', () => process.exit(0))
