'use strict'
// `lemon-cluster console ...`: starts the admin console, or manages its accounts. Called by
// lib/cli.js with the flags it parsed; the accounts live in ZooKeeper (accounts.js).

const { Accounts, ROLES, MIN_PASSWORD } = require('./accounts')
const { sessionOptions } = require('../cli-session')

const USAGE = `console [--port 8780] [--host 127.0.0.1] [--no-auth] [--tls-cert FILE --tls-key FILE]
  console users add NAME --role admin|editor|viewer     (the password is read from stdin, or asked for)
  console users list
  console users remove NAME`

const HELP = [
  USAGE,
  `Starts the admin console, a web page and HTTP API (docs/console.md) over the operations layer, on http://HOST:PORT/ (loopback by default). All its state — accounts, sessions, API tokens, history, audit — is in ZooKeeper, so any number of consoles can run against one ensemble. It refuses to start while no account exists: add one with 'console users add NAME --role admin'. --no-auth serves without accounts (everyone is admin) and is allowed only on a loopback address. --tls-cert/--tls-key serve HTTPS (the session cookie is then Secure).`,
]

/** Reads the password: all of stdin when it is not a terminal, else a prompt without echo. */
async function readPassword(stdin = process.stdin) {
  if (!stdin.isTTY) {
    const chunks = []
    for await (const c of stdin) chunks.push(c)
    return Buffer.concat(chunks)
      .toString('utf8')
      .replace(/\r?\n$/, '')
  }
  const ask = (prompt) =>
    new Promise((resolve, reject) => {
      process.stderr.write(prompt)
      let text = ''
      stdin.setRawMode(true)
      stdin.resume()
      stdin.setEncoding('utf8')
      const onData = (chunk) => {
        for (const ch of chunk) {
          if (ch === '\r' || ch === '\n') {
            done()
            return resolve(text)
          }
          if (ch === '\u0003') {
            done()
            return reject(new Error('cancelled'))
          }
          if (ch === '\u007f') text = text.slice(0, -1)
          else text += ch
        }
      }
      const done = () => {
        stdin.removeListener('data', onData)
        stdin.setRawMode(false)
        stdin.pause()
        process.stderr.write('\n')
      }
      stdin.on('data', onData)
    })
  const first = await ask('password: ')
  const again = await ask('again: ')
  if (first !== again) throw Object.assign(new Error('the two passwords differ; nothing was written'), { code: 'ERR_INVALID_ARG' })
  return first
}

function adminOptions(flags) {
  try {
    return sessionOptions(flags)
  } catch (e) {
    throw Object.assign(e, { usage: true })
  }
}

async function users(flags, args, out) {
  const [sub, name, extra] = args
  const usage = (m) => Object.assign(new Error(m), { usage: true })
  if (extra !== undefined) throw usage(`console users: unexpected argument ${JSON.stringify(extra)}`)
  if (!['add', 'list', 'remove'].includes(sub))
    throw usage(`console users needs add, list or remove${sub ? `, got ${JSON.stringify(sub)}` : ''}`)
  if (sub !== 'list' && !name) throw usage(`console users ${sub} needs NAME`)
  if (sub === 'add' && !ROLES.includes(flags.role)) throw usage(`console users add needs --role ${ROLES.join('|')}`)
  const options = adminOptions(flags)
  const password = sub === 'add' ? await readPassword() : null
  if (sub === 'add' && password.length < MIN_PASSWORD)
    throw Object.assign(new Error(`the password must have at least ${MIN_PASSWORD} characters; nothing was written`), {
      code: 'ERR_INVALID_ARG',
    })
  const { Admin } = require('../index.js')
  const admin = new Admin(options)
  try {
    const accounts = new Accounts(admin)
    const by = options.identity
    if (sub === 'list') {
      const list = await accounts.list()
      out(flags.json ? list : list.map((a) => `${a.name}  ${a.role}`).join('\n') || '(no account)')
    } else if (sub === 'add') {
      const added = await accounts.add(name, flags.role, password, by)
      out(flags.json ? added : `added ${name} (${flags.role})`)
    } else {
      await accounts.remove(name, by)
      out(flags.json ? { removed: name } : `removed ${name}`)
    }
  } finally {
    await admin.close()
  }
}

/** Runs `console ...`; resolves to the exit code (a running console resolves once stopped). */
async function main(flags, args, out) {
  if (args[0] === 'users') return users(flags, args.slice(1), out).then(() => 0)
  if (args.length) throw Object.assign(new Error(`console: unexpected argument ${JSON.stringify(args[0])}`), { usage: true })
  const { startConsole } = require('./server')
  const port = flags.port === undefined ? 8780 : Number(flags.port)
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw Object.assign(new Error(`--port must be a port number, got ${JSON.stringify(flags.port)}`), { usage: true })
  const options = adminOptions(flags)
  const running = await startConsole({
    ...options,
    port,
    host: flags.host || '127.0.0.1',
    noAuth: !!flags.noAuth,
    tlsCert: flags.tlsCert,
    tlsKey: flags.tlsKey,
  })
  process.stdout.write(
    `lemon-cluster console: listening on ${running.url}${flags.noAuth ? ' (--no-auth: no login, everyone is admin)' : ''}\n`,
  )
  await new Promise((resolve) => {
    const stop = () => resolve()
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  })
  await running.close()
  return 0
}

module.exports = { main, HELP, readPassword }
