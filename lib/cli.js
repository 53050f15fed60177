#!/usr/bin/env node
'use strict'
// `lemon-cluster`: see and steer every service from a shell. A thin shell over `lemon.Admin`:
// every validation, diff, dry run and rule evaluation comes from the core, so the CLI, the
// consumers and the console can never disagree about what is valid. This file only parses the
// command line, reads files, runs $EDITOR and prints.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { PRINT: TABLES } = require('./cli-print')
const { gray, PRINT: GRAY_PRINT } = require('./cli-gray')
const { sessionOptions, SESSION_FLAGS, UsageError } = require('./cli-session')
const configCommands = require('./cli-config')

const PRINT = { ...TABLES, ...GRAY_PRINT }

const GLOBAL_USAGE = `usage: lemon-cluster [--zk HOSTS | $LEMON_ZK] [--root /lemonhjuice] [--auth user:pass | $LEMON_ZK_AUTH]
                     [--zk-tls-ca PEM [--zk-tls-cert PEM --zk-tls-key PEM]] [--json] <command>

commands:
  services                                   every app/group with its endpoint and consumer counts, rules in force
  providers <app>/<group>                    endpoints with effective weight, gray, disabled, version, instances
  consumers <app>/<group>                    consumer processes
  health <app>/<group>                       live state the consumers report (breaker, ejection, p99, errors, budget)
  weight <app>/<group> <host:port> <n>       runtime weight override
  disable | enable <app>/<group> <host:port>
  gray <app>/<group> --percent N | --hosts h1,h2 | --off
  degrade <app>/<group> on [--fallback JSON] | off
  rules <app>/<group> get | set FILE | edit | history | diff V1 [V2] | rollback V | simulate FILE
  audit [--limit N]                          the newest entries of the audit log
  config <path> get [KEY] | set KEY JSON | edit | history | diff V1 [V2] | diff [V1] --file F | rollback V
              | instances | compare <other-path> [--copy KEY ...]  [--layout tree] [--reveal] [--key-env VAR]
                                             a configuration document: read, write, versions, diff, rollback, the stores running it
  encrypt VALUE | decrypt VALUE | keygen     seal or open an ENC(...) value with $LEMON_CONFIG_KEY (--key-env VAR); a new key
  rotate-key <path> --new-key-env VAR [--finish]
                                             re-encrypt a document's secrets for a new key, with a window where both keys open them
  config <path> gray start (--hosts h | --instances host:pid,... | --labels l | --percent N) (--set KEY JSON ... | --file F)
                | gray status | gray promote | gray abort [--layout tree]
                                             a pending version for chosen instances first; promote makes it the main one, abort takes it back
  console [--port 8780] [--host 127.0.0.1]   the admin console (web page and HTTP API); 'console users add NAME --role R' first

Global flags may come before or after the command. Writes take -m/--message (recorded in the
history and the audit log) and print the diff they made; --force writes a change that leaves a
method or the service without an eligible provider. Secrets (ENC(...)) are shown masked unless --reveal
(audited). 'lemon-cluster <command> --help' for more.`

const HELP = {
  services: [
    'services',
    'Lists every app/group under the root: endpoints (host:port), provider instances, consumer processes, how many consumers report their health and how many endpoints they eject, and the rules in force.',
  ],
  providers: [
    'providers <app>/<group>',
    'Lists the endpoints of a service, one per host:port (pm2 instances merged): version, node weight, effective weight (configurator override and the default 10-minute warmup applied), gray, disabled, methods, instances and their pids. Provider nodes nobody can use are listed with the reason.',
  ],
  consumers: [
    'consumers <app>/<group>',
    'Lists the consumer processes of a service: host, pid, version asked for, balancer, fault-tolerance mode, lemon-cluster version, start time, whether it reports its health.',
  ],
  health: [
    'health <app>/<group>',
    "Shows what each consumer reports (every few seconds, only when something changed): per provider its breaker state and how long it stays ejected, calls in flight, p99, error rate; the consumer's calls per second, retry-budget balance and the rule versions it applied.",
  ],
  weight: [
    'weight <app>/<group> <host:port> <n> [-m MESSAGE] [--force]',
    'Overrides the weight of one endpoint (configurators.providers["host:port"].weight) as a new rules version. --force writes it for an endpoint that is not registered (yet).',
  ],
  disable: [
    'disable <app>/<group> <host:port> [-m MESSAGE] [--force]',
    'Takes one endpoint out of rotation (configurators.providers["host:port"].disabled). Refused when it would leave a method or the service without an enabled provider, unless --force.',
  ],
  enable: ['enable <app>/<group> <host:port> [-m MESSAGE]', 'Puts a disabled endpoint back into rotation.'],
  gray: [
    'gray <app>/<group> --percent N | --hosts h1,h2 | --off [-m MESSAGE]',
    'Sets the gray rule (routers.gray): a share of requests, or every request of some consumer hosts, goes to the gray providers; --off removes the rule.',
  ],
  degrade: [
    'degrade <app>/<group> on [--fallback JSON] | off [-m MESSAGE]',
    'Forced degradation (configurators.service.force): consumers answer with the fallback without calling any provider; off ends it.',
  ],
  rules: [
    'rules <app>/<group> get | set FILE | edit | history | diff V1 [V2] | rollback V | simulate FILE',
    "A service's rules are one document, { routers, configurators }, versioned as a whole.\n  get            the current document and its version\n  set FILE       replace it (FILE '-' = stdin); validated by the consumers' own parser first\n  edit           open $EDITOR on the current document, validate, write (refused if someone else wrote meanwhile)\n  history        every version: who, when, message, what changed; changes made outside (zkCli) show as external\n  diff V1 [V2]   the differences between two versions (V2 defaults to the current one)\n  rollback V     write version V's document as a new version\n  simulate FILE  what FILE would do: each endpoint's share, gray consumers, methods left without a provider\nWrites take -m MESSAGE, --force (see 'lemon-cluster --help') and --if-version V (refuse unless the current version is V).",
  ],
  audit: ['audit [--limit N]', 'The newest N (default 50) entries of the audit log: every write, who, when, with which message.'],
  console: require('./console/command').HELP,
  ...configCommands.HELP,
}
// The gray release's subcommands, beside the other config ones (lib/cli-gray.js).
HELP.config = [
  `${HELP.config[0]}\n       config <path> gray start|status|promote|abort`,
  `${HELP.config[1]}\n  gray start (--hosts h | --instances host:pid,... | --labels l | --percent N) (--set KEY JSON ... | --file F)\n                     a gray release: the changes go to the selected instances only (--percent: a stable share by host:pid); one at a time, --force replaces it\n  gray status        the selector, the changes against the main version, and which instances run it\n  gray promote       make it the main version for everyone (one version in the history)\n  gray abort         take it back: its instances return to the main version`,
]

const WRITES = new Set(['weight', 'disable', 'enable', 'gray', 'degrade'])
const RULE_WRITES = new Set(['set', 'edit', 'rollback'])

/** Splits argv into flags and positionals; flags may stand anywhere. */
function parseArgs(argv) {
  const valued = {
    ...SESSION_FLAGS,
    '-m': 'message',
    '--message': 'message',
    '--percent': 'percent',
    '--hosts': 'hosts',
    '--fallback': 'fallback',
    '--if-version': 'ifVersion',
    '--limit': 'limit',
    '--port': 'port',
    '--host': 'host',
    '--role': 'role',
    '--tls-cert': 'tlsCert',
    '--tls-key': 'tlsKey',
    '--instances': 'instances',
    '--labels': 'labels',
    '--layout': 'layout',
    '--key-env': 'keyEnv',
    '--new-key-env': 'newKeyEnv',
    '--file': 'file',
  }
  const boolean = {
    '--json': 'json',
    '--force': 'force',
    '--off': 'off',
    '--help': 'help',
    '-h': 'help',
    '--no-auth': 'noAuth',
    '--reveal': 'reveal',
    '--finish': 'finish',
    '--copy': 'copy',
  }
  const flags = {}
  const rest = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--') {
      rest.push(...argv.slice(i + 1))
      break
    }
    const eq = a.startsWith('--') ? a.indexOf('=') : -1
    const name = eq > 0 ? a.slice(0, eq) : a
    if (name === '--set' && eq < 0) {
      // --set KEY JSON, repeatable: two values.
      const [key, value] = [argv[i + 1], argv[i + 2]]
      if (key === undefined || value === undefined) throw new UsageError('--set needs KEY and JSON')
      i += 2
      ;(flags.set = flags.set || []).push([key, value])
    } else if (valued[name]) {
      const v = eq > 0 ? a.slice(eq + 1) : argv[++i]
      if (v === undefined) throw new UsageError(`${name} needs a value`)
      flags[valued[name]] = v
    } else if (boolean[name] && eq < 0) {
      flags[boolean[name]] = true
    } else if (a.startsWith('-') && a !== '-' && !/^-\d/.test(a)) {
      throw new UsageError(`unknown flag ${a}`)
    } else {
      rest.push(a)
    }
  }
  return { flags, rest }
}

function number(text, what) {
  const n = Number(text)
  if (text === undefined || text === '' || !Number.isFinite(n))
    throw new UsageError(`${what} must be a number, got ${JSON.stringify(text)}`)
  return n
}

function readJson(file, what) {
  const text = file === '-' ? fs.readFileSync(0, 'utf8') : fs.readFileSync(file, 'utf8')
  try {
    return JSON.parse(text)
  } catch (e) {
    const err = new Error(`${what} ${file === '-' ? '(stdin)' : file} is not JSON: ${e.message}`)
    err.code = 'ERR_INVALID_ARG'
    throw err
  }
}

function needService(rest, i, command) {
  const s = rest[i]
  if (!s) throw new UsageError(`${command} needs <app>/<group>`)
  return s
}

function noMore(rest, n, command) {
  if (rest.length > n) throw new UsageError(`${command}: unexpected argument ${JSON.stringify(rest[n])}`)
}

function writeOptions(flags, extra = {}) {
  const o = { message: flags.message || '', force: !!flags.force, ...extra }
  if (flags.ifVersion !== undefined) o.ifVersion = number(flags.ifVersion, '--if-version')
  return o
}

/** Runs `rules <svc> edit`: $EDITOR on the current document, then a compare-and-set write. */
async function edit(admin, service, flags) {
  const current = await admin.rules(service)
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lemon-rules-'))
  const file = path.join(dir, `${service.replace('/', '.')}.json`)
  fs.writeFileSync(file, JSON.stringify(current.rules, null, 2) + '\n', { mode: 0o600 })
  const editor = process.env.VISUAL || process.env.EDITOR || 'vi'
  const ran = spawnSync(editor, [file], { stdio: 'inherit', shell: /\s/.test(editor) })
  if (ran.error || ran.status !== 0) {
    throw new Error(
      `the editor (${editor}) failed${ran.error ? `: ${ran.error.message}` : ` with exit code ${ran.status}`}; nothing was written`,
    )
  }
  let document
  try {
    document = readJson(file, 'the edited document')
  } catch (e) {
    e.message += ` (your edit is kept in ${file})`
    throw e
  }
  let result
  try {
    result = await admin.setRules(service, document, writeOptions(flags, { ifVersion: current.version }))
  } catch (e) {
    e.message = `${String(e.message).split('\n')[0]} (your edit is kept in ${file})`
    throw e
  }
  fs.rmSync(dir, { recursive: true, force: true })
  return result
}

async function run(flags, rest, Admin) {
  const [command, ...args] = rest
  const options = sessionOptions(flags)
  const grayStart = command === 'config' && args[1] === 'gray' && args[2] === 'start'
  const forced =
    WRITES.has(command) || (command === 'rules' && RULE_WRITES.has(args[1])) || configCommands.forceAllowed(command, args) || grayStart
  if (flags.force && !forced) {
    throw new UsageError(
      '--force is only for changes (weight, disable, enable, gray, degrade, rules set/edit/rollback, config rollback, config gray start, rotate-key)',
    )
  }
  if (flags.reveal && command !== 'config') throw new UsageError('--reveal goes with config <path> get | history | diff | compare')
  const admin = new Admin(options)
  try {
    switch (command) {
      case 'services':
        noMore(args, 0, command)
        return ['services', await admin.services()]
      case 'providers':
      case 'consumers':
      case 'health':
        noMore(args, 1, command)
        return [command, await admin[command](needService(args, 0, command))]
      case 'weight': {
        noMore(args, 3, command)
        const [service, address, n] = [needService(args, 0, command), args[1], args[2]]
        if (!address) throw new UsageError('weight needs <host:port> <n>')
        const weight = number(n, 'the weight')
        return ['write', await admin.change(service, { op: 'weight', address, weight }, writeOptions(flags))]
      }
      case 'disable':
      case 'enable': {
        noMore(args, 2, command)
        const service = needService(args, 0, command)
        if (!args[1]) throw new UsageError(`${command} needs <host:port>`)
        return ['write', await admin.change(service, { op: command, address: args[1] }, writeOptions(flags))]
      }
      case 'gray': {
        noMore(args, 1, command)
        const service = needService(args, 0, command)
        const given = ['percent', 'hosts', 'off'].filter((k) => flags[k] !== undefined)
        if (given.length !== 1) throw new UsageError('gray takes exactly one of --percent N, --hosts h1,h2, --off')
        const change = { op: 'gray' }
        if (flags.percent !== undefined) change.percent = number(flags.percent, '--percent')
        if (flags.hosts !== undefined) change.hosts = flags.hosts.split(',').filter(Boolean)
        if (flags.off) change.off = true
        return ['write', await admin.change(service, change, writeOptions(flags))]
      }
      case 'degrade': {
        noMore(args, 2, command)
        const service = needService(args, 0, command)
        if (args[1] !== 'on' && args[1] !== 'off') throw new UsageError('degrade needs on or off')
        const change = { op: 'degrade', on: args[1] === 'on' }
        if (flags.fallback !== undefined) {
          if (args[1] === 'off') throw new UsageError('--fallback goes with degrade on')
          try {
            change.fallback = JSON.parse(flags.fallback)
          } catch (e) {
            throw new UsageError(`--fallback must be JSON: ${e.message}`)
          }
        }
        return ['write', await admin.change(service, change, writeOptions(flags))]
      }
      case 'rules': {
        const service = needService(args, 0, command)
        const [sub, a, b] = args.slice(1)
        switch (sub) {
          case 'get':
            noMore(args, 2, 'rules get')
            return ['get', await admin.rules(service)]
          case 'set':
            noMore(args, 3, 'rules set')
            if (!a) throw new UsageError('rules set needs FILE')
            return ['write', await admin.setRules(service, readJson(a, 'the rules file'), writeOptions(flags))]
          case 'edit':
            noMore(args, 2, 'rules edit')
            return ['write', await edit(admin, service, flags)]
          case 'history':
            noMore(args, 2, 'rules history')
            return ['history', await admin.history(service)]
          case 'diff':
            noMore(args, 4, 'rules diff')
            return ['diff', await admin.diff(service, number(a, 'V1'), b === undefined ? undefined : number(b, 'V2'))]
          case 'rollback':
            noMore(args, 3, 'rules rollback')
            return ['write', await admin.rollback(service, number(a, 'V'), writeOptions(flags))]
          case 'simulate':
            noMore(args, 3, 'rules simulate')
            if (!a) throw new UsageError('rules simulate needs FILE')
            return ['simulate', await admin.simulate(service, readJson(a, 'the rules file'))]
          default:
            throw new UsageError(
              `rules needs one of get, set, edit, history, diff, rollback, simulate${sub ? `, got ${JSON.stringify(sub)}` : ''}`,
            )
        }
      }
      case 'config':
        if (args[1] === 'gray') {
          if (!args[0] || !args[0].startsWith('/')) throw new UsageError("config needs the document's znode path, e.g. /shop/config")
          return await gray(admin, args[0], args.slice(2), flags)
        }
        return await configCommands.config(admin, flags, args)
      case 'rotate-key':
        return await configCommands.rotateKey(admin, flags, args)
      case 'audit':
        noMore(args, 0, command)
        return ['audit', await admin.audit(flags.limit === undefined ? 50 : number(flags.limit, '--limit'))]
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`)
    }
  } finally {
    await admin.close()
  }
}

async function main(argv) {
  let parsed
  try {
    parsed = parseArgs(argv)
  } catch (e) {
    process.stderr.write(`lemon-cluster: ${e.message}\n${GLOBAL_USAGE.split('\n')[0]}\n`)
    return 2
  }
  const { flags, rest } = parsed
  const command = rest[0] === 'help' ? rest[1] : rest[0]
  if (flags.help || rest[0] === 'help' || rest.length === 0) {
    const h = HELP[command]
    process.stdout.write(h ? `usage: lemon-cluster [global flags] ${h[0]}\n\n${h[1]}\n` : `${GLOBAL_USAGE}\n`)
    return rest.length === 0 && !flags.help ? 2 : 0
  }
  try {
    if (rest[0] === 'console') {
      const out = (v) => process.stdout.write(`${typeof v === 'string' ? v : JSON.stringify(v, null, 2)}\n`)
      return await require('./console/command').main(flags, rest.slice(1), out)
    }
    // The session's own warnings (reconnecting, ...) would be a second line on stderr: every
    // failure is already the command's one-line reason. LEMON_LOG=warn shows them.
    if (process.env.LEMON_LOG === undefined) process.env.LEMON_LOG = 'off'
    if (['encrypt', 'decrypt', 'keygen'].includes(rest[0])) {
      const [kind, value] = configCommands.secrets(rest[0], flags, rest.slice(1), require('./native').binding)
      process.stdout.write(flags.json ? `${JSON.stringify(value, null, 2)}\n` : `${PRINT[kind](value)}\n`)
      return 0
    }
    const { Admin } = require('./index.js')
    const [kind, value] = await run(flags, rest, Admin)
    process.stdout.write(flags.json ? `${JSON.stringify(value, null, 2)}\n` : `${PRINT[kind](value)}\n`)
    return 0
  } catch (e) {
    const usage = e instanceof UsageError || e.usage === true
    const code = usage ? 'ERR_USAGE' : e.code || 'ERR_INTERNAL'
    const message = String(e.message).split('\n')[0]
    if (flags.json) process.stdout.write(`${JSON.stringify({ error: { code, message } })}\n`)
    process.stderr.write(`lemon-cluster: [${code}] ${message}${usage ? ` (lemon-cluster ${rest[0] || ''} --help)` : ''}\n`)
    return usage ? 2 : 1
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code
  })
}

module.exports = { main, parseArgs }
