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
const { addAccount, startConsoleProcess, client, launchBrowser, logIn, SCREENSHOTS } = require('./harness/console')
const { zkCreate } = require('../harness/zookeeper')

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

/** A page logged in as `name` on `url`, in its own browser context (its own cookies). */
async function loggedIn(name = 'ann', url = consoleProcess.url) {
  browser = browser || (await launchBrowser())
  const context = await browser.createBrowserContext()
  const page = await context.newPage()
  page.on('close', () => context.close().catch(() => {}))
  await logIn(page, url, name, PASSWORD, 'a.service-link, .empty')
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
  // The tree layout too: one znode per key, listed as such and read with layout=tree.
  const tree = suite.open({ name: 'fleet', layout: 'tree' })
  tree.conf.set('region:primary', 'eu')
  await tree.store.save('tree layout')
  const again = await api.request('GET', '/api/config')
  assert.equal(again.json.documents.find((d) => d.path === '/fleet')?.layout, 'tree', JSON.stringify(again.json))
  const fleet = await api.request('GET', '/api/config/document?path=/fleet&layout=tree')
  assert.equal(fleet.status, 200, fleet.text)
  assert.equal(fleet.json.document.region.primary, 'eu')
  const bad = await api.request('GET', '/api/config/history?path=shop')
  assert.equal(bad.status, 400)
  assert.equal(bad.json.error.code, 'ERR_INVALID_ARG')

  const page = await loggedIn('vic')
  await page.click('nav a[href="#/config"]')
  await page.waitForSelector('a.document-link')
  const paths = await page.$$eval('a.document-link', (as) => as.map((a) => a.textContent))
  assert.ok(paths.includes('/shop') && paths.includes('/fleet'), paths.join(', '))
  assert.equal(await page.$eval('a.document-link[href="#/config/fleet?layout=tree"]', (a) => a.textContent), '/fleet')
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

test("edit a key in the console: the diff first, then a running app's onUpdated; the history diffs and rolls it back", async () => {
  const { running } = await setup()
  const page = await loggedIn('ann')
  await page.goto(`${consoleProcess.url}#/config/shop`)
  await page.waitForSelector('#config-keys input[aria-label="new value of a"]')
  await page.$eval('#config-keys input[aria-label="new value of a"]', (i) => (i.value = ''))
  await page.type('#config-keys input[aria-label="new value of a"]', '5')
  await page.click('#config-keys input[aria-label="new value of a"] + button')
  await page.waitForSelector('dialog[open] #config-message')
  // The diff before the write is the core's: only the key that changes.
  assert.deepEqual(await page.$$eval('dialog ul.diff li', (lis) => lis.map((l) => l.textContent)), ['~ a: 1 → 5'])
  await page.screenshot({ path: path.join(SCREENSHOTS, 'console-config-edit.png') })
  await page.type('#config-message', 'a to 5')
  await page.click('#config-apply')
  await waitFor(() => running.updates.includes(5), { timeoutMs: 15000, what: "the app's onUpdated with a=5" })

  // The whole-document editor checks as you type: not JSON, then valid with one change. The page
  // re-renders after the write: wait for the editor that shows it, not the one it replaces.
  await page.waitForFunction(() => /"a": 5/.test(document.querySelector('#config-text')?.value ?? ''), { timeout: 10000 })
  await page.$eval('#config-text', (t) => (t.value = ''))
  await page.type('#config-text', '{ "a": ')
  await page.waitForFunction(() => document.querySelector('#config-status')?.textContent.includes('Not JSON'))
  await page.type('#config-text', '5, "db": { "pool": 20 }, "b": true }')
  await page.waitForFunction(() => document.querySelector('#config-status')?.textContent.includes('1 change(s)'), { timeout: 10000 })
  assert.equal(await page.$eval('#config-review', (b) => b.disabled), false)

  // History: the newest version is the edit, by ann through the console; roll back to the one before.
  await page.waitForSelector('#config-history tbody tr')
  const top = await page.$eval('#config-history tbody tr', (tr) => tr.textContent)
  assert.match(top, /ann \(via console@/)
  assert.match(top, /a to 5/)
  const before = await page.$eval('#config-history tbody tr:nth-child(2) td:first-child', (td) => Number(td.textContent))
  await page.click('#config-history tbody tr:nth-child(2) button')
  await page.waitForFunction(() => document.querySelector('#config-diff')?.textContent.includes('a: 1 → 5'))
  await page.click('#config-history tbody tr:nth-child(2) button.rollback')
  await page.waitForSelector('dialog[open] #config-message')
  assert.deepEqual(await page.$$eval('dialog ul.diff li', (lis) => lis.map((l) => l.textContent)), ['~ a: 5 → 1'])
  await page.type('#config-message', 'back to 1')
  await page.click('#config-apply')
  await waitFor(() => running.updates.at(-1) === 1, { timeoutMs: 15000, what: "the app's onUpdated with a=1 after the rollback" })
  await page.waitForFunction(() => document.querySelector('#config-history tbody tr')?.textContent.includes('rollback'), { timeout: 10000 })
  const api = client(consoleProcess.url)
  await api.login('vic', PASSWORD)
  const history = (await api.request('GET', '/api/config/history?path=/shop')).json
  assert.match(history.at(-1).message, new RegExp(`version ${before}`))
  await page.$eval('#toast', (t) => t.replaceChildren())
  await page.screenshot({ path: path.join(SCREENSHOTS, 'console-config-document.png'), fullPage: true })
  await page.close()
})

test('compare two documents: only the keys that differ; the selected ones copied into the other', async () => {
  await setup()
  const { conf, store } = suite.open({ name: 'shop-staging' })
  conf.set('a', 1)
  conf.set('db:pool', 99)
  conf.set('feature', 'on')
  await store.save('staging')
  const page = await loggedIn('ann')
  await page.goto(`${consoleProcess.url}#/config/shop`)
  await page.waitForSelector('#compare-other')
  await page.type('#compare-other', '/shop-staging')
  await page.click('#config-compare button[type=submit]')
  await page.waitForSelector('#compare tbody tr')
  const keys = await page.$$eval('#compare tbody tr td:nth-child(2)', (tds) => tds.map((t) => t.textContent).sort())
  assert.deepEqual(keys, ['db:pool', 'feature'], 'a is the same in both, so not shown')
  await page.screenshot({ path: path.join(SCREENSHOTS, 'console-config-compare.png') })
  await page.click('#compare input[aria-label="select feature"]')
  await page.click('#copy-here')
  await page.waitForSelector('dialog[open] #config-message')
  await page.type('#config-message', 'feature from staging')
  await page.click('#config-apply')
  const api = client(consoleProcess.url)
  await api.login('vic', PASSWORD)
  await waitFor(async () => (await api.request('GET', '/api/config/document?path=/shop')).json.document.feature === 'on', {
    timeoutMs: 10000,
    what: 'feature copied into /shop',
  })
  const doc = (await api.request('GET', '/api/config/document?path=/shop')).json.document
  assert.equal(doc.db.pool, 20, 'a key not selected is not copied')
  await page.close()
})

test('secrets: masked for viewers and editors at the API and on the page; revealing is 403 for an editor, allowed for an admin and audited without the value', async () => {
  await setup()
  const cs = suite.zk.connectString
  const { generateKey, encrypt } = require('../lib/nconf')
  const key = generateKey()
  await zkCreate(cs, '/vault', JSON.stringify({ db: { user: 'app', password: encrypt('hunter2-plaintext', key) } }))
  await addAccount(cs, 'eve', 'editor', PASSWORD)
  // A console started with the key, as an operator starts it to allow reveals.
  const keyed = await startConsoleProcess(['--zk', cs], { env: { LEMON_CONFIG_KEY: key } })
  suite.cleanups.push(() => keyed.stop())
  for (const name of ['vic', 'eve']) {
    const c = client(keyed.url)
    await c.login(name, PASSWORD)
    const r = await c.request('GET', '/api/config/document?path=/vault')
    assert.equal(r.status, 200, r.text)
    assert.equal(r.json.document.db.password, 'ENC(…)', name)
    assert.doesNotMatch(r.text, /hunter2/, name)
    const reveal = await c.request('POST', '/api/config/reveal', { body: { path: '/vault', key: 'db:password' } })
    assert.deepEqual([reveal.status, reveal.json.error.code], [403, 'ERR_CONSOLE_FORBIDDEN'], name)
    assert.doesNotMatch(reveal.text, /hunter2/)
  }
  const admin = client(keyed.url)
  await admin.login('ann', PASSWORD)
  const revealed = await admin.request('POST', '/api/config/reveal', { body: { path: '/vault', key: 'db:password' } })
  assert.equal(revealed.status, 200, revealed.text)
  assert.equal(revealed.json.value, 'hunter2-plaintext')
  const audit = await admin.request('GET', '/api/audit?q=reveal')
  const entry = audit.json.find((e) => e.action === 'config.reveal')
  assert.ok(entry, JSON.stringify(audit.json))
  assert.match(JSON.stringify(entry), /db:password/)
  assert.match(entry.who, /^ann \(via console@/)
  assert.doesNotMatch(audit.text, /hunter2/)

  // On the page: a viewer and an editor see ENC(…), no reveal button, and the plaintext is
  // nowhere in the HTML (the editor's edit box for a secret is empty).
  for (const name of ['vic', 'eve']) {
    const page = await loggedIn(name, keyed.url)
    await page.goto(`${keyed.url}#/config/vault`)
    await page.waitForSelector('#config-keys tbody tr')
    assert.match(await page.$eval('#config-keys', (d) => d.textContent), /ENC\(…\)/, name)
    assert.equal(await page.$('button.reveal'), null, name)
    assert.doesNotMatch(await page.content(), /hunter2/, name)
    await page.close()
  }
  // An admin reveals it on the page.
  const adminPage = await loggedIn('ann', keyed.url)
  await adminPage.goto(`${keyed.url}#/config/vault`)
  await adminPage.waitForSelector('button.reveal')
  assert.doesNotMatch(await adminPage.content(), /hunter2/, 'not even for an admin before the reveal')
  await adminPage.click('button.reveal')
  await adminPage.waitForFunction(() => document.querySelector('#config-keys').textContent.includes('hunter2-plaintext'))
  await adminPage.close()
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
  await page.waitForSelector('dialog[open] #config-message')
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
  await page.waitForSelector('dialog[open] #config-message')
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
