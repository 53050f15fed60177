'use strict'
// Real HTTP provider servers for the end-to-end tests, on loopback ports the OS picks.
// Each server counts the calls it receives and can be told to misbehave.

const http = require('node:http')

const { waitFor, rejection } = require('../../harness/wait')

/**
 * Starts one provider server.
 * behaviour: { delayMs?, status?, body? (string sent as-is), contentType? }
 * The default reply is JSON: { port, path, args }.
 */
async function startProvider(behaviour = {}) {
  const state = { behaviour, hits: 0, paths: [] }
  const server = http.createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      state.hits++
      state.paths.push(`${req.method} ${req.url}`)
      const b = state.behaviour
      const reply = () => {
        if (res.destroyed) return
        res.statusCode = b.status || 200
        res.setHeader('content-type', b.contentType || 'application/json')
        if (b.body !== undefined) return res.end(b.body)
        let args = null
        try {
          args = JSON.parse(Buffer.concat(chunks).toString() || 'null')
        } catch (e) {
          args = { unparsable: true }
        }
        res.end(JSON.stringify({ port: server.address().port, method: req.method, path: req.url, args }))
      }
      if (b.delayMs) setTimeout(reply, b.delayMs).unref()
      else reply()
    })
  })
  server.keepAliveTimeout = 5000
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: server.address().port,
    get hits() {
      return state.hits
    },
    get paths() {
      return state.paths
    },
    set(next) {
      state.behaviour = next
    },
    close() {
      server.closeAllConnections()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}

/** A loopback port with nothing listening on it (bound, then released). */
async function deadPort() {
  const s = http.createServer()
  await new Promise((resolve) => s.listen(0, '127.0.0.1', resolve))
  const port = s.address().port
  await new Promise((resolve) => s.close(resolve))
  return port
}

/** Polls `check()` every 10 ms until it returns truthy; fails after `timeoutMs`. */
/**
 * A request handler serving `options` (lemon.service()'s) with `kind`: 'express' (after
 * express.json() when `json`), 'koa', or 'http' (plain node:http). Returns { service, handler }.
 */
function serviceHandler(kind, options, { json = false } = {}) {
  const lemon = require('../..')
  if (kind === 'express') {
    const express = require('express')
    const app = express()
    if (json) app.use(express.json())
    const middleware = lemon.express(options)
    app.use(middleware)
    return { service: middleware.service, handler: app }
  }
  if (kind === 'koa') {
    const Koa = require('koa')
    const app = new Koa()
    const middleware = lemon.koa(options)
    app.use(middleware)
    return { service: middleware.service, handler: app.callback() }
  }
  const service = lemon.service(options)
  return { service, handler: service.handler() }
}

module.exports = { startProvider, serviceHandler, deadPort, waitFor, rejection }
