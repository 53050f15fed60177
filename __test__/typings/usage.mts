// Type tests, checked by __test__/typings.test.js with `tsc --strict`: what a strict TypeScript
// project writes against lemon-cluster must compile, and each `@ts-expect-error` line must not
// (tsc fails on an expectation that turns out unneeded). Never run.
import http from 'node:http'
import express from 'express'
import Koa from 'koa'
import nconf from 'nconf'
import client from 'prom-client'
import registerNconf from 'lemon-cluster/nconf'
import * as lemon from 'lemon-cluster'
import type { LemonError, LemonErrorCode, MethodContext } from 'lemon-cluster'

const cluster = new lemon.Cluster({ zk: '127.0.0.1:2181' })

// call<T>(): unknown unless the caller says what comes back.
interface Movie {
  id: number
  title: string
}
const movies = cluster.consumer({
  app: 'movie',
  group: 'query',
  // The fallback's parameters are typed from the option (no implicit any under --strict).
  fallback: (method, args, error) => (error.code === 'ERR_TIMEOUT' ? { method, args } : null),
})
const movie = await movies.call<Movie>('getMovieById', { id: 42 })
const title: string = movie.title
const anything = await movies.call('getMovieById', { id: 42 })
// @ts-expect-error: without a type argument the result is unknown
anything.title
movies.call('x', {}, { fallback: 0, timeoutMs: 5 })

// LemonError: the code union and the extra properties.
try {
  await movies.call('getMovieById', { id: 1 })
} catch (e) {
  const error = e as LemonError
  const code: LemonErrorCode = error.code
  const where: string | undefined = error.address
  const status: number | undefined = error.status
  const body: string | undefined = error.body
  const field: string | undefined = error.field
  const cause: unknown = error.cause
  console.log(code, where, status, body, field, cause, title)
  // @ts-expect-error: not a lemon-cluster code
  const wrong: LemonErrorCode = 'ERR_NOPE'
  console.log(wrong)
}

// Handlers: args from the JSON body, a typed context.
const methods = {
  async getMovieById({ id }: { id: number }, context: MethodContext): Promise<Movie> {
    return { id, title: `${context.method} ${context.gray}` }
  },
}
const svc = lemon.service({ cluster, app: 'movie', group: 'query', methods })

// The middleware fits Express, Koa and node:http as they are typed.
const app = express()
app.use(svc.express())
app.use(express.json(), lemon.express({ cluster, app: 'movie', group: 'other', methods }))
const koa = new Koa()
koa.use(svc.koa())
koa.use(lemon.koa({ app: 'movie', group: 'koa', methods }))
const server = http.createServer(svc.handler())
const registration: lemon.Registration = await svc.register(server)
await registration.update({ weight: 200 })
const { drained }: { drained: boolean } = await svc.close({ drainTimeoutMs: 100 })
console.log(drained, lemon.GRAY_HEADER, lemon.isGray(), lemon.runInLane(true, () => 1) + 1)

// Not exported at runtime, so not in the typings either.
// @ts-expect-error: internal to the package's JavaScript
cluster.recordServed('a', 'b', 'c', 200, 1)
// @ts-expect-error: the configuration store is reached through lemon-cluster/nconf
new lemon.ConfigStore({})

// nconf: registering adds nconf.zookeeper(), chainable, and nconf.Zookeeper.
registerNconf(nconf)
nconf.zookeeper({ host: 'zk1,zk2', name: 'myapp', autoUpdate: true })
nconf.argv().env().zookeeper({ host: 'zk1:2181', name: 'myapp' }).file({ file: 'config.json' })
await nconf.stores.zookeeper.close()
const store = new nconf.Zookeeper({ name: 'other' })
store.on('change', (change) => console.log(change.origin, change.changes[0]?.key))
// @ts-expect-error: layout is 'document' or 'tree'
nconf.zookeeper({ layout: 'flat' })
const sealed: string = registerNconf.encrypt('secret', registerNconf.generateKey())
console.log(sealed)
// prometheus(): a prom-client registry in, the same registry (with its own type) out.
const registry: client.Registry = lemon.prometheus(new client.Registry())
console.log(await registry.metrics(), lemon.prometheus())
// @ts-expect-error: not a registry
lemon.prometheus({})
await cluster.close()
