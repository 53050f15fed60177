'use strict'
// The admin console's test parts: accounts added with the CLI the way an operator adds them
// (password on stdin), the console started as `lemon-cluster console` in its own process, an
// HTTP client that keeps the session cookie, and Debian's Chromium and Firefox ESR driven by
// puppeteer-core (never a downloaded browser) with a fresh profile.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')
const { CLI, cli } = require('./ops')

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium'
const FIREFOX = process.env.FIREFOX || '/usr/bin/firefox-esr'

/** Runs the CLI with `input` on stdin; resolves to `{ code, out, err }`. */
const cliWithInput = (args, input, { timeoutMs = 30000 } = {}) => cli(args, { input, timeoutMs })

/** `lemon-cluster console users add NAME --role ROLE`, the password on stdin. */
async function addAccount(zk, name, role, password, extra = []) {
  const r = await cliWithInput(['--zk', zk, ...extra, 'console', 'users', 'add', name, '--role', role], `${password}\n`)
  if (r.code !== 0) throw new Error(`users add ${name}: ${r.err}`)
  return r
}

/**
 * Starts `lemon-cluster console --port 0 ...args` (with `env` added to this process's
 * environment); resolves once it prints its URL to `{ url, child, exited, stderr, stop() }`, or
 * rejects with what it printed when it exits first.
 */
function startConsoleProcess(args, { limitMs = 120000, env = {} } = {}) {
  const child = spawn(process.execPath, [CLI, 'console', '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  })
  let out = ''
  let err = ''
  child.stderr.on('data', (d) => (err += d))
  const killer = setTimeout(() => child.kill('SIGKILL'), limitMs)
  const exited = new Promise((resolve) =>
    child.on('exit', (code, signal) => {
      clearTimeout(killer)
      resolve({ code, signal, out, err })
    }),
  )
  return new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d
      const m = /listening on (\S+)/.exec(out)
      if (m)
        resolve({
          url: m[1],
          child,
          exited,
          get stderr() {
            return err
          },
          async stop() {
            child.kill('SIGTERM')
            return exited
          },
        })
    })
    exited.then((r) => reject(Object.assign(new Error(`the console exited (${r.code}): ${r.err}`), r)))
  })
}

/** An HTTP client of one console that keeps its session cookie and CSRF token. */
function client(base) {
  const c = {
    cookie: null,
    csrf: null,
    setCookie: null,
    async request(method, path, { body, headers = {}, csrf = true } = {}) {
      const h = { ...headers }
      if (body !== undefined) h['content-type'] = 'application/json'
      if (c.cookie) h.cookie = c.cookie
      if (csrf && c.csrf && method !== 'GET') h['x-csrf-token'] = c.csrf
      const res = await fetch(new URL(path, base), { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) })
      const text = await res.text()
      let json
      try {
        json = JSON.parse(text)
      } catch {}
      return { status: res.status, headers: res.headers, json, text }
    },
    async login(name, password) {
      const r = await c.request('POST', '/api/login', { body: { name, password } })
      if (r.status === 200) {
        c.setCookie = r.headers.get('set-cookie')
        c.cookie = c.setCookie.split(';')[0]
        c.csrf = r.json.csrf
      }
      return r
    },
  }
  return c
}

/** Debian's Chromium, headless, with a fresh profile removed at `close()`. */
async function launchBrowser() {
  const puppeteer = require('puppeteer-core')
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'lemon-console-chromium-'))
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    userDataDir: profile,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
    defaultViewport: { width: 1280, height: 800 },
    timeout: 60000,
  })
  const close = browser.close.bind(browser)
  browser.close = async () => {
    await close().catch(() => {})
    fs.rmSync(profile, { recursive: true, force: true })
  }
  return browser
}

/**
 * Debian's Firefox ESR, headless, driven over WebDriver BiDi (puppeteer-core makes and removes
 * a fresh profile); null when it is not installed (`scripts/setup.sh` installs it).
 */
async function launchFirefox() {
  if (!fs.existsSync(FIREFOX)) return null
  const puppeteer = require('puppeteer-core')
  const browser = await puppeteer.launch({
    browser: 'firefox',
    executablePath: FIREFOX,
    headless: true,
    defaultViewport: { width: 1280, height: 800 },
    timeout: 60000,
  })
  const close = browser.close.bind(browser)
  browser.close = () => close().catch(() => {})
  return browser
}

/**
 * Where the test run writes its screenshots: `target/screenshots/`, so a test run leaves the
 * checkout clean. `LEMON_SCREENSHOTS=docs` writes them over the ones docs/console.md shows
 * (then commit them by hand).
 */
const SCREENSHOTS =
  process.env.LEMON_SCREENSHOTS === 'docs'
    ? path.join(__dirname, '..', '..', 'docs', 'img')
    : path.join(__dirname, '..', '..', 'target', 'screenshots')
fs.mkdirSync(SCREENSHOTS, { recursive: true })

/** Opens the console at `url` in `page` and logs in as `name`; resolves once `ready` is shown. */
async function logIn(page, url, name, password, ready = 'a.service-link') {
  await page.goto(url)
  await page.waitForSelector('#login-name')
  await page.type('#login-name', name)
  await page.type('#login-password', password)
  await page.keyboard.press('Enter')
  await page.waitForSelector(ready)
}

module.exports = {
  addAccount,
  cliWithInput,
  startConsoleProcess,
  client,
  launchBrowser,
  launchFirefox,
  logIn,
  SCREENSHOTS,
  CHROMIUM,
  FIREFOX,
}
