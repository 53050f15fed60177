'use strict'
// The package as a user gets it: `npm run pack` writes the tarballs `npm publish` would upload,
// a fresh app installs them with `npm install dist/*.tgz` and no Rust toolchain on PATH, and runs
// require and import of both entry points, a provider + consumer round trip, the design note's
// nconf example and the CLI. The shipped binary needs no glibc above the baseline; every declared
// target has its platform package and a CI job that builds it; a missing platform package gets an
// error that names it.

const { test, before, after } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFile, spawn } = require('node:child_process')
const { promisify } = require('node:util')
const { zooKeeperForFile } = require('./harness/file')
const { zkGet, zkSet } = require('../harness/zookeeper')
const { glibcVersions, compareVersions } = require('./harness/elf')

const root = path.join(__dirname, '..')
const manifest = require('../package.json')
const fixtures = path.join(__dirname, 'fixtures', 'installed')
const run = promisify(execFile)
const suite = zooKeeperForFile()

// PATH without the directories that hold a Rust toolchain: what the installed app sees.
const PATH_WITHOUT_RUST = process.env.PATH.split(path.delimiter)
  .filter((dir) => !['cargo', 'rustc', 'rustup'].some((tool) => fs.existsSync(path.join(dir, tool))))
  .join(path.delimiter)
const appEnv = { ...process.env, PATH: PATH_WITHOUT_RUST, npm_config_update_notifier: 'false' }
for (const key of Object.keys(appEnv)) if (key.startsWith('CARGO') || key.startsWith('RUSTUP')) delete appEnv[key]

let tarballs
let app
let platformDir

/** `npm install` of `specs` into `dir`: from the cache alone when it can, else from the registry. */
async function npmInstall(dir, specs, extra = []) {
  const args = ['install', '--no-audit', '--no-fund', '--no-save', ...extra, ...specs]
  try {
    return await run('npm', [...args, '--offline'], { cwd: dir, env: appEnv, timeout: 120000 })
  } catch {
    // A cold npm cache (a fresh CI machine): what the test does not provide comes from the registry.
    return await run('npm', [...args, '--prefer-offline'], { cwd: dir, env: appEnv, timeout: 300000 })
  }
}

function freshApp(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'fresh-app', private: true, version: '1.0.0' }))
  return dir
}

function runInApp(dir, file, args, limitMs = 60000) {
  return run(process.execPath, [file, ...args], { cwd: dir, env: appEnv, timeout: limitMs })
}

before(async () => {
  const { stdout } = await run('npm', ['run', '--silent', 'pack'], { cwd: root, timeout: 120000 })
  tarballs = stdout.trim().split('\n').filter(Boolean)
  app = freshApp('lemon-app-')
  const nconfVersion = require('nconf/package.json').version
  await npmInstall(app, [...tarballs.map((t) => path.join(root, t)), `nconf@${nconfVersion}`])
  for (const file of fs.readdirSync(fixtures)) fs.copyFileSync(path.join(fixtures, file), path.join(app, file))
  platformDir = fs.readdirSync(path.join(app, 'node_modules')).find((d) => d.startsWith(`${manifest.name}-`))
})

after(() => {
  if (app) fs.rmSync(app, { recursive: true, force: true })
})

test('npm run pack writes the main package and this platform package into dist/, as publish would', async () => {
  assert.equal(tarballs.length, 2, tarballs.join(', '))
  for (const t of tarballs) assert.ok(t.startsWith('dist/') && fs.existsSync(path.join(root, t)), t)
  const listed = (t) => run('tar', ['tzf', path.join(root, t)]).then((r) => r.stdout.trim().split('\n'))
  const main = await listed(`dist/${manifest.name}-${manifest.version}.tgz`)
  for (const f of ['package/binding.js', 'package/binding.d.ts', 'package/lib/index.js', 'package/lib/index.d.ts', 'package/LICENSE']) {
    assert.ok(main.includes(f), `${f} in the main tarball`)
  }
  assert.ok(!main.some((f) => f.endsWith('.node')), 'no binary in the main package')
  // The console's page: index.html and every asset it loads (the server serves console/ only).
  const page = fs.readFileSync(path.join(root, 'console', 'index.html'), 'utf8')
  const assets = [...page.matchAll(/(?:src|href)="\/assets\/([^"]+)"/g)].map((m) => m[1])
  assert.ok(assets.includes('app.js') && assets.includes('style.css'), assets.join(', '))
  for (const f of ['index.html', ...assets]) assert.ok(main.includes(`package/console/${f}`), `console/${f} in the main tarball`)
  const published = JSON.parse(fs.readFileSync(path.join(app, 'node_modules', manifest.name, 'package.json'), 'utf8'))
  const expected = Object.fromEntries(fs.readdirSync(path.join(root, 'npm')).map((d) => [`${manifest.name}-${d}`, manifest.version]))
  assert.deepEqual(published.optionalDependencies, expected, 'one optional dependency per platform package, pinned to the version')
  const platform = await listed(tarballs.find((t) => t !== `dist/${manifest.name}-${manifest.version}.tgz`))
  assert.deepEqual(platform.filter((f) => f.endsWith('.node')).length, 1, platform.join(', '))
})

test('the installed app has no Rust toolchain on PATH and requires, imports both entry points', async () => {
  assert.ok(!PATH_WITHOUT_RUST.split(path.delimiter).some((d) => fs.existsSync(path.join(d, 'cargo'))))
  assert.ok(platformDir, 'the platform package is installed')
  const { stdout } = await runInApp(app, '-e', [
    "const l = require('lemon-cluster'); const n = require('lemon-cluster/nconf');" +
      "console.log(require.resolve('lemon-cluster'), typeof l.Cluster, typeof l.service, typeof n)",
  ])
  assert.match(
    stdout,
    new RegExp(`^${app.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*node_modules/lemon-cluster/lib/index.js function function function`),
  )
  const esm = await runInApp(app, 'imports.mjs', [])
  assert.equal(esm.stdout.trim(), 'esm function function function function')
})

test('the installed app: a provider and a consumer, one round trip through a real ZooKeeper', async () => {
  const { stdout } = await runInApp(app, 'round-trip.cjs', [suite.zk.connectString])
  assert.equal(stdout.trim(), 'reply {"id":42,"title":"movie 42"}')
})

test("the installed app runs the design note's nconf example: saved 3, zkCli set 4, onUpdated: 4, exits", async () => {
  const [host, port] = suite.zk.connectString.split(':')
  const child = spawn(process.execPath, ['nconf-example.cjs', host, port, 'nconf-zookeeper'], { cwd: app, env: appEnv })
  let out = ''
  let err = ''
  child.stdout.on('data', (d) => (out += d))
  child.stderr.on('data', (d) => (err += d))
  const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })))
  const killer = setTimeout(() => child.kill('SIGKILL'), 60000)
  try {
    for (let i = 0; i < 400 && !out.includes('saved') && child.exitCode === null; i++) await new Promise((r) => setTimeout(r, 50))
    assert.ok(out.includes('saved'), `the app saved (stdout: ${out}, stderr: ${err})`)
    assert.equal(await zkGet(suite.zk.connectString, '/nconf-zookeeper'), '{"example":{"test":3}}')
    await zkSet(suite.zk.connectString, '/nconf-zookeeper', '{"example":{"test":4}}')
    const { code, signal } = await exited
    assert.equal(signal, null, `the app did not exit on its own: ${out}\n${err}`)
    assert.equal(code, 0, err)
    assert.deepEqual(out.trim().split('\n'), ['example {"test":3}', 'onUpdated: 3', 'saved', 'onUpdated: 4', 'closed'])
  } finally {
    clearTimeout(killer)
    child.kill('SIGKILL')
  }
})

test('npx lemon-cluster --help in the installed app', async () => {
  assert.equal(manifest.bin?.['lemon-cluster'], 'lib/cli.js', 'package.json declares the lemon-cluster CLI')
  const { stdout } = await run('npx', ['--no-install', 'lemon-cluster', '--help'], { cwd: app, env: appEnv, timeout: 60000 })
  // Exit status 0 (execFile rejects otherwise) and a help text that names the command.
  assert.match(stdout, /lemon-cluster/)
})

test('the shipped linux gnu binary needs no glibc above the baseline', (t) => {
  if (process.platform !== 'linux' || !process.report.getReport().header.glibcVersionRuntime) {
    t.skip('not a glibc Linux')
    return
  }
  const baseline = manifest.config.glibcBaseline
  const binary = path.join(app, 'node_modules', platformDir, require(path.join(app, 'node_modules', platformDir, 'package.json')).main)
  const versions = glibcVersions(binary)
  assert.ok(versions.length > 0, 'the binary names the glibc versions it needs')
  const above = versions.filter((v) => compareVersions(v, baseline) > 0)
  assert.deepEqual(above, [], `${binary} needs GLIBC ${above.join(', ')}, above the ${baseline} baseline: build it with scripts/setup.sh`)
  // The reader itself finds what is above: node needs newer symbol versions than 2.2.5.
  assert.ok(glibcVersions(process.execPath).some((v) => compareVersions(v, '2.2.5') > 0))
})

test('without its platform package, require names the package and what to do', async () => {
  const bare = freshApp('lemon-bare-')
  try {
    const main = tarballs.find((t) => t === `dist/${manifest.name}-${manifest.version}.tgz`)
    await npmInstall(bare, [path.join(root, main)], ['--omit=optional'])
    const script =
      "try { require('lemon-cluster') } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message + ' ' + e.cause.message })) }"
    const { stdout } = await runInApp(bare, '-e', [script])
    const { code, message } = JSON.parse(stdout)
    assert.equal(code, 'ERR_NATIVE_BINDING')
    assert.ok(message.includes(`${manifest.name}-${platformDir.slice(manifest.name.length + 1)}`), message)
    assert.ok(message.includes(`npm install ${platformDir}@${manifest.version}`), message)
    assert.ok(message.includes('build from source'), message)
    assert.ok(!message.includes('npm has a bug'), `neither the message nor its cause blames npm: ${message}`)
  } finally {
    fs.rmSync(bare, { recursive: true, force: true })
  }
})

test('an installed platform package whose binary does not load: require says why and what to do', async () => {
  const broken = freshApp('lemon-broken-')
  try {
    await npmInstall(
      broken,
      tarballs.map((t) => path.join(root, t)),
    )
    const meta = require(path.join(broken, 'node_modules', platformDir, 'package.json'))
    fs.writeFileSync(path.join(broken, 'node_modules', platformDir, meta.main), 'not a shared object')
    const script = "try { require('lemon-cluster') } catch (e) { console.log(JSON.stringify({ code: e.code, message: e.message })) }"
    const { code, message } = JSON.parse((await runInApp(broken, '-e', [script])).stdout)
    assert.equal(code, 'ERR_NATIVE_BINDING')
    assert.match(
      message,
      new RegExp(`${platformDir} is installed but its binary did not load: .*(invalid ELF header|not a valid|file too short)`),
    )
    assert.ok(message.includes(`npm install ${platformDir}@${manifest.version}`), message)
  } finally {
    fs.rmSync(broken, { recursive: true, force: true })
  }
})

test('every declared target has a platform package under npm/ and a CI job that builds it', () => {
  const { parseTriple } = require('@napi-rs/cli')
  const declared = manifest.napi.targets.map((t) => parseTriple(t).platformArchABI).sort()
  assert.deepEqual(fs.readdirSync(path.join(root, 'npm')).sort(), declared)
  const workflow = fs.readFileSync(path.join(root, '.github', 'workflows', 'ci.yml'), 'utf8')
  const built = [...workflow.matchAll(/^\s+target: ([\w.-]+)\s*$/gm)].map((m) => m[1].replace(/\.[\d.]+$/, ''))
  for (const target of manifest.napi.targets) assert.ok(built.includes(target), `the CI workflow builds ${target}`)
  for (const dir of declared) {
    const meta = JSON.parse(fs.readFileSync(path.join(root, 'npm', dir, 'package.json'), 'utf8'))
    assert.equal(meta.version, manifest.version, `npm/${dir} has the package's version`)
    assert.equal(meta.name, `${manifest.name}-${dir}`)
  }
})
