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

test('a gray release from the console: labels chosen, only the labelled app gets it, then promoted to both (each onUpdated in its own process)', async () => {
  await setup()
  const { conf, store } = suite.open({ name: 'cart' })
  conf.set('a', 1)
  await store.save('cart v1')
  const canary = app('cart', ['canary'])
  const plain = app('cart')
  assert.deepEqual([(await canary.ready).value, (await plain.ready).value], [1, 1])
  // Both instances registered before the page reads them.
  const api = client(consoleProcess.url)
  await api.login('ann', PASSWORD)
  await waitFor(async () => (await api.request('GET', '/api/config/instances?path=/cart')).json.length === 3, {
    timeoutMs: 10000,
    what: 'three instances of /cart',
  })

  const page = await loggedIn('ann')
  await page.goto(`${consoleProcess.url}#/config/cart`)
  await page.waitForSelector('#gray-start')
  await page.select('#gray-kind', 'labels')
  await page.type('#gray-whom', 'canary')
  await page.type('#gray-set', '{ "a": 2 }')
  await page.click('#gray-start')
  await page.waitForSelector('#config-message')
  await page.type('#config-message', 'try a=2 on the canary')
  await page.click('#config-apply')
  await waitFor(() => canary.updates.includes(2), { timeoutMs: 15000, what: "the canary app's onUpdated with a=2" })
  await page.waitForFunction(() => document.querySelector('#gray-state')?.textContent.includes('in progress'), { timeout: 15000 })
  assert.ok(!plain.updates.includes(2), `the app without the label stays on the main version: ${plain.updates}`)
  // The status names the release and which selected instance runs it (once it reported so).
  await waitFor(async () => (await api.request('GET', '/api/config/gray?path=/cart')).json.instances.some((i) => i.gray), {
    timeoutMs: 10000,
    what: 'the canary instance reporting the release',
  })
  await page.reload()
  await page.waitForFunction(() => document.querySelector('#gray-state')?.textContent.includes('1 of 1 selected instances run it'), {
    timeout: 15000,
  })
  await page.screenshot({ path: path.join(SCREENSHOTS, 'console-config-gray.png'), fullPage: true })

  await page.click('#gray-promote')
  await page.waitForSelector('#config-message')
  await page.type('#config-message', 'a=2 for everyone')
  await page.click('#config-apply')
  await waitFor(() => plain.updates.includes(2), { timeoutMs: 15000, what: "the other app's onUpdated with a=2 after the promote" })
  await page.waitForFunction(() => document.querySelector('#gray-state')?.textContent.includes('No gray release'), { timeout: 15000 })
  const audit = await api.request('GET', '/api/audit?q=gray')
  assert.ok(
    audit.json.some((e) => /ann \(via console@/.test(e.who) && /gray/.test(e.action)),
    JSON.stringify(audit.json.map((e) => [e.who, e.action])),
  )
  await page.close()
})

test('an editor without the CSRF token, and a viewer, cannot start a gray release (refused by the server)', async () => {
  await setup()
  const viewer = client(consoleProcess.url)
  await viewer.login('vic', PASSWORD)
  const body = { path: '/shop', selector: { percent: 50 }, set: { a: 3 }, message: 'no' }
  const r = await viewer.request('POST', '/api/config/gray/start', { body })
  assert.deepEqual([r.status, r.json.error.code], [403, 'ERR_CONSOLE_FORBIDDEN'])
  const admin = client(consoleProcess.url)
  await admin.login('ann', PASSWORD)
  const noCsrf = await admin.request('POST', '/api/config/gray/start', { body, csrf: false })
  assert.deepEqual([noCsrf.status, noCsrf.json.error.code], [403, 'ERR_CONSOLE_CSRF'])
  const status = await admin.request('GET', '/api/config/gray?path=/shop')
  assert.equal(status.json.active, false)
})
