'use strict'
// How the \`lemon-cluster\` CLI prints what \`lemon.Admin\` returns, when --json is not given:
// readable tables and diffs. Printing only; every value comes from the core.

function table(rows, columns) {
  if (rows.length === 0) return '(none)'
  const cells = rows.map((r) => columns.map(([, f]) => String(f(r) ?? '')))
  const widths = columns.map(([h], i) => Math.max(h.length, ...cells.map((c) => c[i].length)))
  const line = (c) =>
    c
      .map((v, i) => v.padEnd(widths[i]))
      .join('  ')
      .trimEnd()
  return [line(columns.map(([h]) => h)), ...cells.map(line)].join('\n')
}

const show = (v) => (v === undefined || v === null ? '-' : typeof v === 'string' ? v : JSON.stringify(v))
const when = (ms) => (ms ? new Date(ms).toISOString().replace('.000Z', 'Z') : '-')
const percent = (x) => `${Math.round(x * 1000) / 10}%`

function formatChanges(changes) {
  if (!changes || changes.length === 0) return '  (no change)'
  return changes
    .map((c) => {
      if (c.type === 'added') return `  + ${c.key}: ${show(c.new)}`
      if (c.type === 'removed') return `  - ${c.key}: ${show(c.old)}`
      return `  ~ ${c.key}: ${show(c.old)} -> ${show(c.new)}`
    })
    .join('\n')
}

function formatConfigChanges(changes) {
  if (changes === null) return '  (changed outside lemon-cluster: changes unknown)'
  if (changes.length === 0) return '  (no change)'
  return changes
    .map((c) => {
      if (c.valuesOmitted) return `  ${c.kind === 'added' ? '+' : c.kind === 'removed' ? '-' : '~'} ${c.key} (values too large to record)`
      // Values come masked from the core (ENC(…)) unless --reveal.
      if (c.kind === 'added') return `  + ${c.key}: ${show(c.new)}`
      if (c.kind === 'removed') return `  - ${c.key}: ${show(c.old)}`
      return `  ~ ${c.key}: ${show(c.old)} -> ${show(c.new)}`
    })
    .join('\n')
}

function formatSimulation(s) {
  const out = []
  if (s.degraded) out.push('forced degradation: consumers answer with the fallback, no provider is called')
  out.push(
    table(s.endpoints, [
      ['ENDPOINT', (e) => e.address],
      ['SHARE', (e) => percent(e.share)],
    ]),
  )
  if (s.grayPercent) out.push(`gray: ${s.grayPercent}% of requests`)
  if (s.grayConsumers.length) out.push(`gray consumers (every request): ${s.grayConsumers.join(', ')}`)
  if (s.disabled.length) out.push(`disabled: ${s.disabled.join(', ')}`)
  if (s.ejected.length) out.push(`ejected by the consumers now (out of rotation until they recover): ${s.ejected.join(', ')}`)
  const empty = s.methods.filter((m) => m.normal.empty)
  for (const m of empty)
    out.push(
      `no provider for ${m.method === '*' ? 'undeclared methods' : `method ${m.method}`}${m.version ? ` (version ${m.version})` : ''}: ${m.normal.empty}`,
    )
  if (s.orphaned && s.orphaned.length) out.push(`left without a provider by this change: ${s.orphaned.join(', ')}`)
  return out.join('\n')
}

function formatWrite(r) {
  const lines = [`${r.service}: ${r.unchanged ? `unchanged, still version ${r.version}` : `version ${r.version}`}`]
  if (r.recordedExternal) lines.push('  (a change made outside lemon-cluster was found and recorded first as its own version)')
  lines.push(formatChanges(r.changes))
  return lines.join('\n')
}

const PRINT = {
  services: (v) =>
    table(v, [
      ['SERVICE', (s) => s.service],
      ['ENDPOINTS', (s) => s.endpoints],
      ['INSTANCES', (s) => s.instances],
      ['CONSUMERS', (s) => s.consumers],
      ['EJECTED', (s) => s.ejected],
      ['RULES', (s) => (s.refusedRules ? `REFUSED: ${s.refusedRules}` : s.rules.join('; ') || '-')],
    ]),
  providers: (v) => {
    const t = table(v.endpoints, [
      ['ENDPOINT', (e) => e.address],
      ['VERSION', (e) => e.version || '-'],
      ['WEIGHT', (e) => e.weight],
      ['EFFECTIVE', (e) => `${e.effectiveWeight}${e.warming ? ' (warming)' : ''}${e.override !== null ? ' (override)' : ''}`],
      ['GRAY', (e) => (e.gray ? 'yes' : '-')],
      ['DISABLED', (e) => (e.disabled ? 'yes' : '-')],
      ['INSTANCES', (e) => e.instances],
      ['PIDS', (e) => e.pids.join(',') || '-'],
      ['STARTED', (e) => when(e.startedAt)],
      ['METHODS', (e) => e.methods.join(',') || '*'],
    ])
    const bad = v.rejected.map((r) => `unusable node ${r.name}: ${r.reason}`)
    return [t, ...bad].join('\n')
  },
  consumers: (v) =>
    table(v, [
      ['HOST', (c) => c.host],
      ['PID', (c) => c.pid ?? '-'],
      ['VERSION', (c) => c.version || '-'],
      ['BALANCER', (c) => c.loadBalance || '-'],
      ['MODE', (c) => c.mode || '-'],
      ['LEMON', (c) => c.lemonVersion || '-'],
      ['STARTED', (c) => when(c.startedAt)],
      ['HEALTH', (c) => (c.reporting ? 'reporting' : '-')],
      ['NODE', (c) => c.name],
    ]),
  health: (v) => {
    const out = []
    for (const c of v.consumers) {
      const rv = (r) => (r.hash ? (r.version ? `v${r.version}` : 'unknown') : 'none')
      out.push(
        `consumer ${c.host}:${c.pid}  calls/s ${c.calls}  retry budget ${c.budget}  rules routers ${rv(c.rules.routers)} configurators ${rv(c.rules.configurators)}  reported ${when(c.at)}`,
      )
      out.push(
        table(c.providers, [
          ['  PROVIDER', (p) => `  ${p.address}`],
          ['BREAKER', (p) => p.breaker],
          ['EJECTED FOR', (p) => (p.ejectedUntil ? `${Math.max(0, Math.round((p.ejectedUntil - Date.now()) / 1000))} s` : '-')],
          ['IN FLIGHT', (p) => p.inflight],
          ['P99 MS', (p) => p.p99],
          ['ERRORS', (p) => `${p.errorRate}%`],
          ['CALLS/10S', (p) => p.calls],
        ]),
      )
    }
    if (v.consumers.length === 0) out.push('no consumer reports its health')
    if (v.silent) out.push(`${v.silent} consumer(s) do not report (older versions, or healthReportMs: 0)`)
    const ejected = v.endpoints.filter((e) => e.ejected)
    for (const e of ejected) out.push(`EJECTED ${e.address} by ${e.ejectedBy.join(', ')}`)
    return out.join('\n')
  },
  get: (v) =>
    `${v.service} version ${v.version}${v.external ? ' (changed outside lemon-cluster)' : ''}${v.refused ? `\nREFUSED by the consumers: ${v.refused.message}` : ''}\n${JSON.stringify(v.rules, null, 2)}`,
  history: (v) =>
    v
      .map(
        (e) =>
          `version ${e.version}  ${when(e.at)}  ${e.who}${e.external ? ' (external)' : ''}  ${e.action}${e.message ? `: ${e.message}` : ''}${e.recorded ? '' : '  [not recorded yet]'}\n${formatChanges(e.changes)}`,
      )
      .join('\n') || '(no version)',
  configHistory: (v) =>
    v
      .map(
        (e) =>
          `version ${e.version}  ${when(e.at)}  ${e.who}${e.external ? ' (external)' : ''}  ${e.action}${e.message ? `: ${e.message}` : ''}${e.content ? '' : '  [content not recorded: no rollback to it]'}\n${formatConfigChanges(e.changes)}`,
      )
      .join('\n') || '(no version)',
  configInstances: (v) =>
    v.length === 0
      ? '(no store runs it)'
      : table(v, [
          ['INSTANCE', (i) => i.instance],
          ['VERSION', (i) => (i.version === null ? `unrecorded (zxid ${i.zxid})` : i.version)],
          ['SOURCE', (i) => i.source],
          ['KEY', (i) => i.keyId || '-'],
        ]),
  configGet: (v) => {
    const head = `${v.path} version ${v.version}${v.external ? ' (changed outside lemon-cluster)' : ''}${v.exists ? '' : ' (no document)'}`
    const bad = v.invalid ? `\nUNUSABLE (the stores keep their last good data): ${v.invalid}` : ''
    const body = v.key !== undefined ? `${v.key} = ${JSON.stringify(v.value, null, 2)}` : JSON.stringify(v.document, null, 2)
    return `${head}${bad}\n${body}`
  },
  configWrite: (v) =>
    `${v.path}: ${v.unchanged ? `unchanged, still version ${v.version}` : `version ${v.version}`}\n${formatConfigChanges(v.changes)}`,
  configRotate: (v) =>
    `${v.path}: version ${v.version}, ${v.secrets} secret(s) resealed (new key ${v.keyId})\n${formatConfigChanges(v.changes)}`,
  configDiff: (v) =>
    `${v.path}: version ${v.from} -> ${v.to === 'file' ? 'the file' : `version ${v.to}`}\n${formatConfigChanges(v.changes)}`,
  configCompare: (v) => {
    if (v.differences.length === 0) return `${v.path} (version ${v.version}) and ${v.other} (version ${v.otherVersion}) do not differ`
    return table(v.differences, [
      ['KEY', (d) => d.key],
      [v.path, (d) => (d.kind === 'onlyThere' ? '(absent)' : show(d.value))],
      [v.other, (d) => (d.kind === 'onlyHere' ? '(absent)' : show(d.otherValue))],
    ])
  },
  keygen: (v) => `${v.key}\n(key id ${v.keyId}; keep the key secret: export LEMON_CONFIG_KEY=...)`,
  text: (v) => v,
  diff: (v) => `${v.service}: version ${v.from} -> ${v.to}\n${formatChanges(v.changes)}`,
  simulate: (v) => `${formatSimulation(v)}\nchanges:\n${formatChanges(v.changes)}`,
  write: formatWrite,
  audit: (v) =>
    table(v, [
      ['AT', (a) => when(a.at)],
      ['WHO', (a) => a.who],
      ['ACTION', (a) => a.action],
      ['TARGET', (a) => a.target],
      ['VERSION', (a) => a.version],
      ['MESSAGE', (a) => a.message || '-'],
    ]),
}

module.exports = { PRINT, formatConfigChanges }
