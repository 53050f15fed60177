'use strict'
// `npm run pack`: writes into dist/ the tarballs `npm publish` would upload from this machine —
// the main package and this machine's platform package (npm/<platform>/ plus the built binary).
// Both are packed from staging copies, so the tree never holds a binary under npm/ and
// package.json keeps no optionalDependencies: at publish time `napi prepublish` (prepublishOnly)
// adds one per npm/<platform> package, pinned to the version, and so does this script.
// Prints the tarballs' paths, one a line.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFileSync } = require('node:child_process')

const root = path.join(__dirname, '..')
const dist = path.join(root, 'dist')
const manifest = require('../package.json')
const { name, version } = manifest

function fail(message) {
  console.error(`[pack] ERROR: ${message}`)
  process.exit(1)
}

function libc() {
  if (process.platform !== 'linux') return undefined
  const report = process.report.getReport()
  return report.header.glibcVersionRuntime ? 'glibc' : 'musl'
}

/** Every platform package under npm/: `{ dir, meta }` with meta its package.json. */
function platformPackages() {
  return fs
    .readdirSync(path.join(root, 'npm'))
    .sort()
    .map((dir) => ({ dir, meta: JSON.parse(fs.readFileSync(path.join(root, 'npm', dir, 'package.json'), 'utf8')) }))
}

/** The platform package whose os, cpu and libc fields describe this machine. */
function platformPackage(packages) {
  const here = libc()
  const found = packages.find(
    ({ meta }) => meta.os.includes(process.platform) && meta.cpu.includes(process.arch) && (!meta.libc || meta.libc.includes(here)),
  )
  if (found) return found
  fail(`no package under npm/ is for ${process.platform} ${process.arch}${here ? ` ${here}` : ''}: nothing to pack for this machine`)
}

function npmPack(cwd) {
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', dist], { cwd, encoding: 'utf8' })
  return JSON.parse(out).map((entry) => path.join(dist, entry.filename))
}

const packages = platformPackages()
for (const { dir, meta } of packages) {
  if (meta.version !== version)
    fail(`npm/${dir}/package.json has version ${meta.version}, ${name} has ${version}: run \`npx napi version\``)
}
const { dir, meta } = platformPackage(packages)
const binary = path.join(root, meta.main)
if (!fs.existsSync(binary)) fail(`${meta.main} is not built: run \`npm run build\` (or \`bash scripts/setup.sh\`) first`)

fs.rmSync(dist, { recursive: true, force: true })
fs.mkdirSync(dist)
const stage = fs.mkdtempSync(path.join(os.tmpdir(), 'lemon-pack-'))
try {
  const main = path.join(stage, 'main')
  fs.mkdirSync(main)
  for (const entry of [...manifest.files, 'package.json']) {
    fs.cpSync(path.join(root, entry), path.join(main, entry), { recursive: true })
  }
  const optionalDependencies = Object.fromEntries(packages.map((p) => [p.meta.name, version]))
  fs.writeFileSync(path.join(main, 'package.json'), JSON.stringify({ ...manifest, optionalDependencies }, null, 2) + '\n')

  const platform = path.join(stage, dir)
  fs.cpSync(path.join(root, 'npm', dir), platform, { recursive: true })
  fs.copyFileSync(binary, path.join(platform, meta.main))

  for (const tarball of [...npmPack(main), ...npmPack(platform)]) console.log(path.relative(root, tarball))
} finally {
  fs.rmSync(stage, { recursive: true, force: true })
}
