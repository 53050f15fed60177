'use strict'
// The operations tests' parts: the `lemon-cluster` CLI run as a child process the way a user
// types it, and provider and consumer processes steered over IPC.

const path = require('node:path')
const { spawn, fork } = require('node:child_process')

const CLI = path.join(__dirname, '..', '..', 'lib', 'cli.js')

/**
 * Runs `lemon-cluster ...args` (`node lib/cli.js`), killed after `timeoutMs`, with `input` (if
 * given) on its stdin. Resolves to `{ code, signal, out, err, json }` (`json`: stdout parsed, when
 * it is JSON).
 */
function cli(args, { env = {}, timeoutMs = 30000, input } = {}) {
  return new Promise((resolve, reject) => {
    const stdin = input === undefined ? 'ignore' : 'pipe'
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: [stdin, 'pipe', 'pipe'] })
    if (input !== undefined) child.stdin.end(input)
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => (out += d))
    child.stderr.on('data', (d) => (err += d))
    const killer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
    child.on('error', reject)
    // 'close', not 'exit': at 'exit' the pipes may still hold the end of the output (seen
    // under load as a `--json` answer that did not parse).
    child.on('close', (code, signal) => {
      clearTimeout(killer)
      let json
      try {
        json = JSON.parse(out)
      } catch {}
      resolve({ code, signal, out, err, json })
    })
  })
}

/**
 * Starts `__test__/fixtures/{fixture}` with IPC; resolves once it sent its first message
 * (`hello`). `request(message)` sends `{ id, ...message }` and resolves to the reply with that
 * id; `exited` resolves to `{ code, signal, at }`; `kill()` ends it.
 */
function steered(fixture, args, { limitMs = 60000 } = {}) {
  const child = fork(path.join(__dirname, '..', 'fixtures', fixture), args, { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] })
  let err = ''
  child.stderr.on('data', (d) => (err += d))
  child.stdout.resume()
  const killer = setTimeout(() => child.kill('SIGKILL'), limitMs)
  const exited = new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      clearTimeout(killer)
      resolve({ code, signal, at: Date.now() })
    }),
  )
  const waiting = new Map()
  let next = 1
  const hello = new Promise((resolve, reject) => {
    child.once('message', resolve)
    exited.then(({ code }) => reject(new Error(`${fixture} exited (${code}) before it was ready: ${err}`)))
  })
  child.on('message', (m) => {
    if (m.id && waiting.has(m.id)) {
      waiting.get(m.id)(m)
      waiting.delete(m.id)
    }
  })
  const handle = {
    child,
    exited,
    get stderr() {
      return err
    },
    request(message) {
      const id = next++
      return new Promise((resolve) => {
        waiting.set(id, resolve)
        child.send({ id, ...message })
      })
    },
    kill() {
      child.kill('SIGKILL')
      return exited
    },
  }
  return hello.then((h) => Object.assign(handle, { hello: h }))
}

module.exports = { cli, steered, CLI }
