'use strict'
// The console's configuration pages end to end: `lemon-cluster console` in its own process
// against a real ZooKeeper, configuration documents saved by real stores, app processes running
// them (each its own process with its own store), and the pages driven in Debian's headless
// Chromium.

const { test, after } = require('node:test')
const assert = require('node:assert/strict')
const path = require('node:path')
const { fork } = require('node:child_process')
const { configFile } = require('./harness/config')
const { waitFor } = require('./harness/providers')
const { addAccount, startConsoleProcess, client, launchBrowser, SCREENSHOTS } = require('./harness/console')

const suite = configFile({ historyLimit: 50 })
const PASSWORD = 'correct horse battery'
let made
let consoleProcess
let browser

/** An app process running the document `name` (see fixtures/console-config-app.js). */
function app(name, labels) {
  const args = [suite.zk.connectString, name]
  if (labels) args.push(JSON.stringify(labels))
  const child = fork(path.join(__dirname, 'fixtures', 'console-config-app.js'), args, {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  })
  const killer = setTimeout(() => child.kill('SIGKILL'), 180000)
  child.on('exit', () => clearTimeout(killer))
  suite.cleanups.push(() => child.kill('SIGKILL'))
  const updates = []
  child.on('message', (m) => 'updated' in m && updates.push(m.updated))
  const ready = new Promise((resolve, reject) => {
    child.once('message', resolve)
    child.once('error', reject)
  })
  return { child, ready, updates }
}

const setup = () => (made = made || makeAll())

async function makeAll() {
  const cs = suite.zk.connectString
  // Two versions of /shop, saved by a store (so recorded), and one app process running it.
  const { conf, store } = suite.open({ name: 'shop' })
  conf.set('a', 1)
  conf.set('db:pool', 10)
  await store.save('first')
  conf.set('db:pool', 20)
  await store.save('raise the pool')
  const running = app('shop')
  assert.equal((await running.ready).value, 1)
  await addAccount(cs, 'ann', 'admin', PASSWORD)
  await addAccount(cs, 'vic', 'viewer', PASSWORD)
  consoleProcess = await startConsoleProcess(['--zk', cs])
  suite.cleanups.push(() => consoleProcess.stop())
  return { running }
}

after(async () => {
  if (browser) await browser.close()
})

async function loggedIn(name = 'ann') {
  browser = browser || (await launchBrowser())
  const page = await browser.newPage()
  await page.goto(consoleProcess.url)
  await page.waitForSelector('#login-name')
  await page.type('#login-name', name)
  await page.type('#login-password', PASSWORD)
  await page.keyboard.press('Enter')
  await page.waitForSelector('a.service-link, .empty')
  return page
}

test('the documents the stores save and run are listed; one opens with its instances and its history', async () => {
  await setup()
  const api = client(consoleProcess.url)
  assert.equal((await api.login('vic', PASSWORD)).status, 200)
  const listed = await api.request('GET', '/api/config')
  assert.equal(listed.status, 200, listed.text)
  const shop = listed.json.documents.find((d) => d.path === '/shop')
  assert.ok(shop, JSON.stringify(listed.json))
  assert.equal(shop.layout, 'document')
  const history = await api.request('GET', '/api/config/history?path=/shop')
  assert.equal(history.status, 200, history.text)
  assert.deepEqual(
    history.json.slice(-2).map((v) => v.message),
    ['first', 'raise the pool'],
  )
  assert.equal(shop.version, history.json.at(-1).version)
  await waitFor(async () => (await api.request('GET', '/api/config')).json.documents.find((d) => d.path === '/shop').instances === 2, {
    timeoutMs: 10000,
    what: "the test's store and the app process as its instances",
  })
  const bad = await api.request('GET', '/api/config/history?path=shop')
  assert.equal(bad.status, 400)
  assert.equal(bad.json.error.code, 'ERR_INVALID_ARG')

  const page = await loggedIn('vic')
  await page.click('nav a[href="#/config"]')
  await page.waitForSelector('a.document-link')
  const paths = await page.$$eval('a.document-link', (as) => as.map((a) => a.textContent))
  assert.ok(paths.includes('/shop'), paths.join(', '))
  await page.screenshot({ path: path.join(SCREENSHOTS, 'console-config.png') })
  await page.click('a.document-link[href="#/config/shop"]')
  await page.waitForSelector('#config-history tbody tr')
  const versions = await page.$$eval('#config-history tbody tr td:first-child', (tds) => tds.map((t) => Number(t.textContent)))
  assert.deepEqual(versions, history.json.map((v) => v.version).reverse())
  const change = await page.$eval('#config-history tbody tr:first-child ul.diff', (u) => u.textContent)
  assert.match(change, /db:pool: 10 → 20/)
  await page.waitForFunction(() => document.querySelector('#config-instances tbody tr')?.textContent.includes('current'))
  await page.close()
})
