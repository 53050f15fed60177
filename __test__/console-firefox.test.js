'use strict'
// The console works in Firefox too: a smoke test in Debian's Firefox ESR, driven by
// puppeteer-core over WebDriver BiDi, against `lemon-cluster console` and a real ZooKeeper — log
// in, find a service and its endpoints, open the configuration pages. Skipped, saying why, when
// Firefox is not installed (scripts/setup.sh installs it; FIREFOX names another binary).

const { test, after } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const { zooKeeperForFile } = require('./harness/file')
const { addAccount, startConsoleProcess, launchFirefox, logIn, FIREFOX } = require('./harness/console')
const { Cluster } = require('..')

const suite = zooKeeperForFile()
const PASSWORD = 'correct horse battery'
let browser

after(async () => {
  if (browser) await browser.close()
})

const missing = fs.existsSync(FIREFOX) ? false : `Firefox is not installed at ${FIREFOX} (apt-get install firefox-esr, or set FIREFOX)`

test('Firefox: log in, find a service with its endpoints, open the configuration pages', { skip: missing }, async () => {
  const cs = suite.zk.connectString
  const cluster = new Cluster({ zk: cs, host: '127.0.0.1', cacheDir: false })
  cluster.on('warning', () => {})
  suite.cleanups.push(() => cluster.close())
  for (let i = 0; i < 3; i++) await cluster.provide({ app: 'fox', group: 'query', port: 31000 + i })
  await addAccount(cs, 'ann', 'admin', PASSWORD)
  const running = await startConsoleProcess(['--zk', cs])
  suite.cleanups.push(() => running.stop())

  browser = await launchFirefox()
  assert.ok(browser, 'Firefox did not start')
  const page = await browser.newPage()
  await logIn(page, running.url, 'ann', PASSWORD)
  await page.type('#service-search', 'fox')
  await page.click('a.service-link[href="#/service/fox/query"]')
  await page.waitForFunction(() => document.querySelectorAll('#endpoints tbody tr').length === 3, { timeout: 20000 })
  const addresses = await page.$$eval('#endpoints tbody tr td:first-child', (tds) => tds.map((t) => t.textContent))
  assert.deepEqual(addresses.sort(), ['127.0.0.1:31000', '127.0.0.1:31001', '127.0.0.1:31002'])
  await page.click('nav a[href="#/config"]')
  await page.waitForSelector('#config-documents .empty')
  await page.close()
})
