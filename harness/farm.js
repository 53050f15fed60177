'use strict'
// Thousands of real providers for the scale test and benchmark: a child process listening on
// `count` loopback ports and registering each as a provider (see fixtures/farm-child.js).

const path = require('node:path')
const { fork } = require('node:child_process')

/**
 * Starts the farm; resolves once every endpoint listens (not yet registered).
 * Returns { ports, pid, command(cmd, args), stop() }; commands: 'register' → { registerMs },
 * 'update' { patch } → { updateMs }, 'unregister' → { unregisterMs }, 'hits' → { hits, ports }.
 */
async function startFarm({ connectString, app, group, count, timeoutMs = 120000 }) {
  const child = fork(path.join(__dirname, 'farm-child.js'), [connectString, app, group, String(count)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  let next = 0
  const pending = new Map()
  child.on('message', ({ id, ok, error }) => {
    const p = pending.get(id)
    if (!p) return
    pending.delete(id)
    clearTimeout(p.timer)
    if (error) p.reject(new Error(`farm: ${error}`))
    else p.resolve(ok)
  })
  child.on('exit', (code, signal) => {
    for (const p of pending.values()) {
      clearTimeout(p.timer)
      p.reject(new Error(`farm exited (${code ?? signal})`))
    }
    pending.clear()
  })
  const command = (cmd, args) =>
    new Promise((resolve, reject) => {
      const id = next++
      const timer = setTimeout(() => {
        pending.delete(id)
        reject(new Error(`farm: ${cmd} took over ${timeoutMs} ms`))
      }, timeoutMs)
      pending.set(id, { resolve, reject, timer })
      child.send({ id, cmd, args })
    })
  const exited = new Promise((resolve) => child.once('exit', resolve))
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    try {
      await command('stop')
    } catch {}
    child.disconnect()
    const killer = setTimeout(() => child.kill('SIGKILL'), 5000)
    await exited
    clearTimeout(killer)
  }
  try {
    const { ports } = await command('start')
    return { ports, pid: child.pid, command, stop }
  } catch (e) {
    child.kill('SIGKILL')
    throw e
  }
}

module.exports = { startFarm }
