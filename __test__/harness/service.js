'use strict'
// Shared set-up of the cluster-layer tests: one real ZooKeeper per test file, clusters, real
// HTTP providers registered under a service, and clean-up in reverse order.

const { Cluster } = require('../..')
const { zooKeeperForFile } = require('./file')
const { startProvider, waitFor } = require('./providers')

/** The file's ZooKeeper fixture (see ./file) with clusters, providers and consumers of `app`. */
function serviceHarness(app) {
  const h = zooKeeperForFile()
  h.cluster = (extra = {}) => {
    const cluster = new Cluster({ zk: h.zk.connectString, host: '127.0.0.1', ...extra })
    cluster.on('warning', (w) => (h.warnings = h.warnings || []).push(w))
    h.cleanups.push(() => cluster.close())
    return cluster
  }
  /** `n` providers of `group` with `behaviour`, registered (through `cluster`) with `extra`. */
  h.providers = async (cluster, group, n, behaviour = {}, extra = {}) => {
    const list = []
    for (let i = 0; i < n; i++) {
      const p = await startProvider(behaviour)
      h.cleanups.push(() => p.close())
      p.registration = await cluster.provide({ app, group, port: p.port, ...extra })
      p.address = `127.0.0.1:${p.port}`
      list.push(p)
    }
    return list
  }
  /** A consumer of `group` that sees `n` providers. */
  h.consumer = async (cluster, group, n, options = {}) => {
    const consumer = cluster.consumer({ app, group, ...options })
    await waitFor(() => consumer.providers().length === n, { what: `${n} providers of ${group}` })
    return consumer
  }
  h.base = (group) => `/lemonhjuice/${app}/${group}`
  return h
}

async function rejection(promise) {
  try {
    await promise
  } catch (e) {
    return e
  }
  throw new Error('expected a rejection')
}

const { sleep } = require('../../harness/wait')

module.exports = { serviceHarness, rejection, sleep }
