'use strict'
// `lemon.prometheus(register?)`: the figures lemon-cluster sends to statsd, as Prometheus metrics
// in a prom-client registry (the default registry unless one is given). The core keeps the
// totals (crates/core/src/metrics/tally.rs); each scrape reads one snapshot of them through the
// metrics' `get()`, so no call crosses into JavaScript per request. prom-client is an optional
// peer dependency, loaded only here.
//
// The metrics are collector objects of the shape prom-client's own metrics have (`name`, `help`,
// `type`, `aggregator`, `get()` resolving to `{ name, help, type, values, aggregator }`), because
// prom-client's Histogram can only be fed observation by observation.

const { binding: native } = require('./native')
const { invalidArg } = require('./errors')

let on = false

/** Whether the totals are kept (lemon.prometheus() was called): the provider middleware asks. */
function scraping() {
  return on
}

// One snapshot per scrape: a registry calls every metric's get() in the same tick.
let cached = null
function snapshot() {
  if (cached === null) {
    cached = native.prometheusSnapshot()
    queueMicrotask(() => (cached = null))
  }
  return cached
}

function seconds(bounds, h, labels, name) {
  const values = bounds.map((le, i) => ({ metricName: `${name}_bucket`, labels: { ...labels, le }, value: h.buckets[i] }))
  values.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: h.count })
  values.push({ metricName: `${name}_sum`, labels, value: h.sum })
  values.push({ metricName: `${name}_count`, labels, value: h.count })
  return values
}

const method = (m) => ({ app: m.app, group: m.group, method: m.method })
const service = (s) => ({ app: s.app, group: s.group })

// name, type, help, and the values of one snapshot.
const METRICS = [
  [
    'lemon_calls_total',
    'counter',
    'Calls made by consumers.',
    (s) => s.methods.filter((m) => m.calls > 0).map((m) => ({ labels: method(m), value: m.calls })),
  ],
  [
    'lemon_call_errors_total',
    'counter',
    'Failed calls by error code (a call answered by its fallback counts its error).',
    (s) => s.methods.flatMap((m) => m.errors.map(([code, n]) => ({ labels: { ...method(m), code }, value: n }))),
  ],
  [
    'lemon_call_timeouts_total',
    'counter',
    'Calls that timed out.',
    (s) => s.methods.filter((m) => m.timeouts > 0).map((m) => ({ labels: method(m), value: m.timeouts })),
  ],
  [
    'lemon_call_fallbacks_total',
    'counter',
    'Calls answered by the fallback (degradation).',
    (s) => s.methods.filter((m) => m.fallbacks > 0).map((m) => ({ labels: method(m), value: m.fallbacks })),
  ],
  [
    'lemon_call_retries_total',
    'counter',
    'Retries granted by the retry budget.',
    (s) => s.methods.filter((m) => m.retries > 0).map((m) => ({ labels: method(m), value: m.retries })),
  ],
  [
    'lemon_call_duration_seconds',
    'histogram',
    'Call latency, successful and failed calls.',
    (s) => s.methods.filter((m) => m.calls > 0).flatMap((m) => seconds(s.buckets, m.latency, method(m), 'lemon_call_duration_seconds')),
  ],
  [
    'lemon_breaker_transitions_total',
    'counter',
    "Changes of a provider's circuit breaker, by the state it changed to.",
    (s) => s.services.flatMap((v) => v.breaker.map(([provider, state, n]) => ({ labels: { ...service(v), provider, state }, value: n }))),
  ],
  [
    'lemon_provider_ejections_total',
    'counter',
    'Providers ejected by their circuit breaker.',
    (s) => s.services.flatMap((v) => v.ejections.map(([provider, n]) => ({ labels: { ...service(v), provider }, value: n }))),
  ],
  [
    'lemon_providers',
    'gauge',
    'Live providers of a consumed service.',
    (s) => s.services.filter((v) => v.providers !== null).map((v) => ({ labels: service(v), value: v.providers })),
  ],
  [
    'lemon_served_total',
    'counter',
    "Requests served by this process's lemon.service() middleware.",
    (s) => s.methods.filter((m) => m.served > 0).map((m) => ({ labels: method(m), value: m.served })),
  ],
  [
    'lemon_served_errors_total',
    'counter',
    'Served requests answered with a status >= 400, by status.',
    (s) => s.methods.flatMap((m) => m.servedErrors.map(([status, n]) => ({ labels: { ...method(m), status: String(status) }, value: n }))),
  ],
  [
    'lemon_served_duration_seconds',
    'histogram',
    'Response time of served requests: from entering the middleware to the headers written.',
    (s) =>
      s.methods.filter((m) => m.served > 0).flatMap((m) => seconds(s.buckets, m.responseTime, method(m), 'lemon_served_duration_seconds')),
  ],
]

const fed = new WeakSet()

/**
 * Feeds `register` (prom-client's default registry when omitted) with lemon-cluster's metrics,
 * from now on, for every cluster of the process. Calling it again with the same registry does
 * nothing. Returns the registry.
 */
function prometheus(register) {
  let client
  try {
    client = require('prom-client')
  } catch (cause) {
    throw Object.assign(invalidArg('register', 'lemon.prometheus() needs prom-client: npm install prom-client'), { cause })
  }
  const registry = register === undefined ? client.register : register
  if (!registry || typeof registry.registerMetric !== 'function') {
    throw invalidArg('register', 'must be a prom-client Registry')
  }
  if (fed.has(registry)) return registry
  native.enablePrometheus()
  on = true
  for (const [name, type, help, values] of METRICS) {
    registry.registerMetric({
      name,
      help,
      type,
      aggregator: 'sum',
      get: async () => ({ name, help, type, values: values(snapshot()), aggregator: 'sum' }),
      reset() {},
    })
  }
  fed.add(registry)
  return registry
}

module.exports = { prometheus, scraping }
