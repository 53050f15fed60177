'use strict'
// The CLI's configuration commands: `config <path> ...`, `encrypt | decrypt | keygen` and
// `rotate-key`. A shell over `lemon.Admin`'s config* methods (crates/core/src/admin/config*.rs):
// the core reads, writes, diffs, masks and reveals; this file parses arguments, reads files and
// the key's environment variable, and runs $EDITOR.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')
const { UsageError } = require('./cli-session')

const CONFIG_USAGE =
  'config <path> get [KEY] | set KEY JSON | edit | history | diff V1 [V2] | diff [V1] --file F | rollback V | instances | compare <other-path> [--copy KEY ...]  [--layout tree] [--reveal] [--key-env VAR]'

const HELP = {
  config: [
    CONFIG_USAGE,
    "A configuration document, named by its znode path (a store's rootPath + name, e.g. /shop/config). Keys are written a:b:c.\n" +
      '  get [KEY]          the document (or one key) and its version\n' +
      "  set KEY JSON       set one key (JSON validated first; JSON '-': read from stdin; a missing document is created); a plain value where a secret was is sealed with the key\n" +
      '  edit               open $EDITOR on the document, write it back (refused if someone else wrote meanwhile); ENC(…) left as it is keeps the secret\n' +
      '  history            every version: who, when, message, the changed keys; versions written outside (zkCli) show as external\n' +
      '  diff V1 [V2]       the keys changed between two versions (V2 defaults to the current one)\n' +
      '  diff [V1] --file F the keys in which a JSON file differs from version V1 (default: the current one)\n' +
      "  rollback V         write version V's content as a new version\n" +
      '  instances          the stores running it (host:pid), the version each applied, from ZooKeeper or its snapshot, their key id\n' +
      '  compare OTHER      only the keys in which the two documents differ, with both values; --copy KEY ... copies those keys into OTHER as one version\n' +
      'Writes take -m MESSAGE and --if-version V (refuse unless the document is at version V) and print the keys they changed.\n' +
      "--layout tree: the document is laid out one znode per key (its stores' layout option). Secrets (ENC(...)) are shown as ENC(…)\n" +
      'unless --reveal, which decrypts them with the key in $LEMON_CONFIG_KEY (or --key-env VAR) and is recorded in the audit log.',
  ],
  encrypt: [
    'encrypt VALUE | -  [--key-env VAR]',
    "Seals VALUE ('-': read it from stdin, so it stays out of the shell's history) as ENC(...) with the key in $LEMON_CONFIG_KEY (or VAR), for config set or a file.",
  ],
  decrypt: [
    'decrypt VALUE | -  [--key-env VAR]',
    'Opens an ENC(...) value with the key in $LEMON_CONFIG_KEY (or VAR) and prints the plaintext.',
  ],
  keygen: ['keygen', 'Prints a fresh random 256-bit key (base64) and its id, for LEMON_CONFIG_KEY or secretKey.'],
  'rotate-key': [
    'rotate-key <path> --new-key-env VAR [--finish] [--force] [--layout tree] [-m MESSAGE]',
    'Re-encrypts every ENC(...) value of the document for a new key, in two versions (docs/configuration.md#key-rotation):\n' +
      '  rotate-key <path> --new-key-env VAR           seal every secret for both the old key ($LEMON_CONFIG_KEY or --key-env) and the new one (in VAR):\n' +
      '                                                 stores on either key read every secret; restart them with the new key in any order\n' +
      "  rotate-key <path> --new-key-env VAR --finish  keep only the new key's part; refused while `config <path> instances` shows another key id (--force: anyway)",
  ],
}

/** The key (base64 or hex) in `--key-env VAR` or `$LEMON_CONFIG_KEY`. */
function keyOf(flags) {
  const name = flags.keyEnv || 'LEMON_CONFIG_KEY'
  const key = process.env[name]
  if (!key) {
    const e = new Error(`no key: set ${name}${flags.keyEnv ? '' : ' (or name another variable with --key-env VAR)'}`)
    e.code = 'ERR_CONFIG_DECRYPT'
    throw e
  }
  return key
}

function valueArg(v, command) {
  if (v === undefined) throw new UsageError(`${command} needs VALUE (or - to read it from stdin)`)
  return v === '-' ? fs.readFileSync(0, 'utf8').replace(/\r?\n$/, '') : v
}

/** `encrypt`, `decrypt`, `keygen`: local, no ZooKeeper. Returns [printer, value]. */
function secrets(command, flags, args, native) {
  if (args.length > 1) throw new UsageError(`${command}: unexpected argument ${JSON.stringify(args[1])}`)
  if (command === 'keygen') {
    if (args.length) throw new UsageError(`keygen: unexpected argument ${JSON.stringify(args[0])}`)
    const key = native.generateConfigKey()
    return ['keygen', { key, keyId: native.configKeyId(key) }]
  }
  const key = keyOf(flags)
  const value = valueArg(args[0], command)
  if (command === 'encrypt') return ['text', native.encryptConfigValue(value, key)]
  return ['text', native.decryptConfigValue(value, key)]
}

function callOptions(flags, { write = false } = {}) {
  const o = {}
  if (flags.layout !== undefined) o.layout = flags.layout
  if (flags.reveal) o.reveal = true
  if (flags.keyEnv) o.keyEnv = flags.keyEnv
  if (write) {
    if (flags.message) o.message = flags.message
    if (flags.force) o.force = true
    if (flags.ifVersion !== undefined) {
      const n = Number(flags.ifVersion)
      if (!Number.isInteger(n) || n < 0)
        throw new UsageError(`--if-version must be a version number, got ${JSON.stringify(flags.ifVersion)}`)
      o.ifVersion = n
    }
  }
  return o
}

function versionArg(text, what) {
  const n = Number(text)
  if (text === undefined || text === '' || !Number.isInteger(n) || n < 0)
    throw new UsageError(`${what} must be a version number, got ${JSON.stringify(text)}`)
  return n
}

function parseJson(text, what) {
  try {
    return JSON.parse(text)
  } catch (e) {
    const err = new Error(`${what} is not JSON: ${e.message} (a string is written with its quotes: '"text"')`)
    err.code = 'ERR_INVALID_ARG'
    throw err
  }
}

function fileJson(file) {
  const text = file === '-' ? fs.readFileSync(0, 'utf8') : fs.readFileSync(file, 'utf8')
  return parseJson(text, file === '-' ? 'stdin' : file)
}

function noMore(args, n, command) {
  if (args.length > n) throw new UsageError(`${command}: unexpected argument ${JSON.stringify(args[n])}`)
}

/** `config <path> edit`: $EDITOR on the document as `get` shows it, then a compare-and-set write. */
async function edit(admin, target, flags) {
  const current = await admin.configGet(target, null, callOptions(flags))
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lemon-config-'))
  const file = path.join(dir, `${target.slice(1).replace(/\//g, '.')}.json`)
  fs.writeFileSync(file, JSON.stringify(current.document, null, 2) + '\n', { mode: 0o600 })
  const editor = process.env.VISUAL || process.env.EDITOR || 'vi'
  const ran = spawnSync(editor, [file], { stdio: 'inherit', shell: /\s/.test(editor) })
  const keep = (e) => {
    e.message = `${String(e.message).split('\n')[0]} (your edit is kept in ${file})`
    return e
  }
  if (ran.error || ran.status !== 0) {
    fs.rmSync(dir, { recursive: true, force: true })
    throw new Error(
      `the editor (${editor}) failed${ran.error ? `: ${ran.error.message}` : ` with exit code ${ran.status}`}; nothing was written`,
    )
  }
  let result
  try {
    const document = fileJson(file)
    result = await admin.configReplace(target, document, { ...callOptions(flags, { write: true }), ifVersion: current.version })
  } catch (e) {
    throw keep(e)
  }
  fs.rmSync(dir, { recursive: true, force: true })
  return result
}

/** `config <path> ...`. Returns [printer, value]. */
async function config(admin, flags, args) {
  const [target, sub, a, b, ...more] = args
  if (!target || !target.startsWith('/')) throw new UsageError("config needs the document's znode path, e.g. /shop/config")
  const read = callOptions(flags)
  const write = () => callOptions(flags, { write: true })
  if (flags.file !== undefined && sub !== 'diff') throw new UsageError('--file goes with config <path> diff')
  if (flags.copy && sub !== 'compare') throw new UsageError('--copy goes with config <path> compare')
  switch (sub) {
    case 'get':
      noMore(args, 3, 'config get')
      return ['configGet', await admin.configGet(target, a ?? null, read)]
    case 'set':
      noMore(args, 4, 'config set')
      if (a === undefined || b === undefined)
        throw new UsageError('config set needs KEY JSON, e.g. config /shop/config set db:pool 20 (a string: \'"text"\')')
      // '-' is not JSON: the value comes from stdin (a large one, or one kept out of `ps`).
      return ['configWrite', await admin.configSet(target, a, b === '-' ? fileJson('-') : parseJson(b, 'the value'), write())]
    case 'edit':
      noMore(args, 2, 'config edit')
      return ['configWrite', await edit(admin, target, flags)]
    case 'history':
      noMore(args, 2, 'config history')
      return ['configHistory', await admin.configHistory(target, read)]
    case 'diff': {
      const between = {}
      if (flags.file !== undefined) {
        noMore(args, 3, 'config diff --file')
        if (a !== undefined) between.from = versionArg(a, 'V1')
        between.document = fileJson(flags.file)
      } else {
        noMore(args, 4, 'config diff')
        between.from = versionArg(a, 'V1')
        if (b !== undefined) between.to = versionArg(b, 'V2')
      }
      return ['configDiff', await admin.configDiff(target, between, read)]
    }
    case 'rollback':
      noMore(args, 3, 'config rollback')
      return ['configWrite', await admin.configRollback(target, versionArg(a, 'V'), write())]
    case 'instances':
      noMore(args, 2, 'config instances')
      return ['configInstances', await admin.configInstances(target)]
    case 'compare': {
      if (!a || !a.startsWith('/')) throw new UsageError("config compare needs the other document's znode path, e.g. /shop-staging/config")
      const keys = [b, ...more].filter((k) => k !== undefined)
      if (flags.copy) {
        if (keys.length === 0) throw new UsageError('--copy needs the keys to copy: compare OTHER --copy KEY ...')
        return ['configWrite', await admin.configCopy(target, a, keys, write())]
      }
      noMore(args, 3, 'config compare')
      return ['configCompare', await admin.configCompare(target, a, read)]
    }
    default:
      throw new UsageError(
        `config needs one of get, set, edit, history, diff, rollback, instances, compare${sub ? `, got ${JSON.stringify(sub)}` : ''}`,
      )
  }
}

/** `rotate-key <path> --new-key-env VAR [--finish]`. */
async function rotateKey(admin, flags, args) {
  const [target] = args
  noMore(args, 1, 'rotate-key')
  if (!target || !target.startsWith('/')) throw new UsageError("rotate-key needs the document's znode path, e.g. /shop/config")
  if (!flags.newKeyEnv) throw new UsageError('rotate-key needs --new-key-env VAR (the variable holding the new key)')
  const rotation = { newKeyEnv: flags.newKeyEnv }
  if (flags.finish) rotation.finish = true
  return ['configRotate', await admin.configRotateKey(target, rotation, callOptions(flags, { write: true }))]
}

/** Whether a command line's --force goes with a write of these commands. */
function forceAllowed(command, args) {
  return (command === 'config' && args[1] === 'rollback') || command === 'rotate-key'
}

module.exports = { HELP, CONFIG_USAGE, config, rotateKey, secrets, forceAllowed }
