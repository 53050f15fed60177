'use strict'
// `lemon-cluster config <path> gray start | status | promote | abort`: the command line of a
// configuration document's gray release, read into `lemon.Admin`'s options, and how its answers
// print. The release itself — selectors, sealing, the one-multi promote — is the core's
// (crates/core/src/admin/gray/).

const fs = require('node:fs')
const { UsageError } = require('./cli-session')
const { formatConfigChanges } = require('./cli-print')

const SELECTORS = ['hosts', 'instances', 'labels', 'percent']

function list(text) {
  return String(text)
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
}

function json(text, what) {
  try {
    return JSON.parse(text)
  } catch (e) {
    throw new UsageError(`${what} must be JSON (a string is '"text"'): ${e.message}`)
  }
}

function selector(flags) {
  const given = SELECTORS.filter((k) => flags[k] !== undefined)
  if (given.length !== 1) {
    throw new UsageError('gray start takes exactly one of --hosts h1,h2, --instances host:pid,..., --labels l1,l2, --percent N')
  }
  const [k] = given
  if (k === 'percent') {
    const n = Number(flags.percent)
    if (flags.percent === '' || !Number.isFinite(n))
      throw new UsageError(`--percent must be a number, got ${JSON.stringify(flags.percent)}`)
    return { percent: n }
  }
  return { [k]: list(flags[k]) }
}

function content(flags) {
  if ((flags.set === undefined) === (flags.file === undefined)) {
    throw new UsageError('gray start takes --set KEY JSON (repeatable) or --file F (a whole document; only its differences are kept)')
  }
  if (flags.set) {
    const set = {}
    for (const [key, value] of flags.set) set[key] = json(value, `--set ${key}`)
    return { set }
  }
  const text = flags.file === '-' ? fs.readFileSync(0, 'utf8') : fs.readFileSync(flags.file, 'utf8')
  const document = json(text, `the file ${flags.file}`)
  if (!document || typeof document !== 'object' || Array.isArray(document))
    throw new UsageError(`the file ${flags.file} must hold a JSON object`)
  return { document }
}

/** Runs `config <path> gray <sub>`; `args` are the words after `gray`. */
async function gray(admin, path, args, flags) {
  const [sub, extra] = args
  if (extra !== undefined) throw new UsageError(`config gray ${sub}: unexpected argument ${JSON.stringify(extra)}`)
  const common = { message: flags.message || '' }
  if (flags.layout !== undefined) common.layout = flags.layout
  if (sub !== 'start') {
    for (const k of [...SELECTORS, 'set', 'file']) {
      if (flags[k] !== undefined) throw new UsageError(`--${k} goes with gray start`)
    }
    if (flags.force) throw new UsageError('--force goes with gray start')
  }
  switch (sub) {
    case 'start':
      return [
        'grayStarted',
        await admin.configGrayStart(path, { ...common, selector: selector(flags), ...content(flags), force: !!flags.force }),
      ]
    case 'status':
      return ['grayStatus', await admin.configGrayStatus(path, common.layout ? { layout: common.layout } : {})]
    case 'promote':
      return ['grayPromoted', await admin.configGrayPromote(path, common)]
    case 'abort':
      return ['grayAborted', await admin.configGrayAbort(path, common)]
    default:
      throw new UsageError(`config gray needs one of start, status, promote, abort${sub ? `, got ${JSON.stringify(sub)}` : ''}`)
  }
}

const who = (s) => JSON.stringify(s)

const PRINT = {
  grayStarted: (v) =>
    `${v.path}: gray release ${v.replaced ? 'replaced' : 'started'} for ${who(v.selector)} on version ${v.base.version ?? `unrecorded (zxid ${v.base.zxid})`}\n${formatConfigChanges(v.changes)}`,
  grayStatus: (v) => {
    const rows = v.instances.map(
      (i) =>
        `  ${i.instance.padEnd(24)} ${i.gray ? 'gray' : 'main'}${i.selected !== i.gray ? (i.selected ? ' (selected, not applied yet)' : ' (not selected, still gray)') : ''}  ${i.source}`,
    )
    const instances = rows.length ? rows.join('\n') : '  (no store runs it)'
    if (!v.active) return `${v.path}: no gray release\ninstances:\n${instances}`
    return `${v.path}: gray release for ${who(v.selector)} by ${v.who}${v.message ? `: ${v.message}` : ''}\nchanges:\n${formatConfigChanges(v.changes)}\ninstances:\n${instances}`
  },
  grayPromoted: (v) =>
    `${v.path}: gray release promoted${v.version === null ? ' (the main version held it already)' : ` as version ${v.version}`}\n${formatConfigChanges(v.changes)}`,
  grayAborted: (v) => `${v.path}: gray release aborted; its instances go back by\n${formatConfigChanges(v.changes)}`,
}

module.exports = { gray, PRINT }
