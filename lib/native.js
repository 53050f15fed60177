'use strict'
// Loads the native addon through the loader napi generates (../binding.js) and, when that fails,
// replaces its generic message with one that names this package's platform package and says what
// to do. The loader itself is generated and never edited; this file only wraps its error.

const fs = require('node:fs')
const path = require('node:path')
const { name, version, optionalDependencies = {} } = require('../package.json')
const { codedError } = require('./errors')

const BUILD_FROM_SOURCE = 'npm run build (in a checkout, with a Rust toolchain; see docs/development.md)'

/** `linux-x64-gnu`, `darwin-arm64`, ...: the suffix napi gives this machine's platform package. */
function platformArchAbi() {
  const { platform, arch } = process
  if (platform !== 'linux') return `${platform}-${arch}`
  const report = typeof process.report?.getReport === 'function' ? process.report.getReport() : null
  const glibc = report && report.header && report.header.glibcVersionRuntime
  return `${platform}-${arch}-${glibc ? 'gnu' : 'musl'}`
}

/** The error thrown when no native addon for this machine could be loaded. */
function bindingError(cause) {
  const suffix = platformArchAbi()
  const pkg = `${name}-${suffix}`
  const local = path.join(__dirname, '..', `${name}.${suffix}.node`)
  const supported = Object.keys(optionalDependencies)
    .filter((dep) => dep.startsWith(`${name}-`))
    .map((dep) => dep.slice(name.length + 1))
  let message
  if (supported.length === 0) {
    // A source checkout: platform packages are declared only in the published package.json.
    const reason = fs.existsSync(local) ? firstReason(cause) : ''
    message = reason
      ? `the native addon ${path.basename(local)} of this checkout did not load: ${reason}. Rebuild it: ${BUILD_FROM_SOURCE}.`
      : `the native addon ${path.basename(local)} is not built in this checkout. Build it: ${BUILD_FROM_SOURCE}.`
  } else if (!supported.includes(suffix)) {
    message =
      `${name} ${version} has no prebuilt binary for ${suffix} (prebuilt: ${supported.join(', ')}). ` +
      `Build it from source: ${BUILD_FROM_SOURCE}.`
  } else if (installed(pkg) || fs.existsSync(local)) {
    const reason = firstReason(cause)
    message =
      `${pkg} is installed but its binary did not load${reason ? `: ${reason}` : ''}. ` +
      `Reinstall it with \`npm install ${pkg}@${version}\` (the same version as ${name}), or build from source: ${BUILD_FROM_SOURCE}.`
  } else {
    message =
      `the platform package ${pkg} is not installed (npm skips optional dependencies with --omit=optional or ` +
      `--no-optional, and a lockfile written on another platform may lack it). ` +
      `Install it with \`npm install ${pkg}@${version}\`, or build from source: ${BUILD_FROM_SOURCE}.`
  }
  // The loader's own wrapper blames npm for whatever happened; its chain of real errors is the cause.
  const reasons = cause && /^Cannot find native binding/.test(cause.message) && cause.cause ? cause.cause : cause
  return codedError('ERR_NATIVE_BINDING', `lemon-cluster: ${message}`, { package: pkg, cause: reasons })
}

function installed(pkg) {
  try {
    require.resolve(`${pkg}/package.json`)
    return true
  } catch {
    return false
  }
}

// The loader chains one error per candidate through `cause` (copies: their codes are lost); the
// first that is not "Cannot find module" says why an installed binary did not load (an old glibc,
// a wrong architecture, a damaged file).
function firstReason(error) {
  const seen = new Set()
  const queue = [error]
  while (queue.length > 0 && seen.size < 64) {
    const e = queue.shift()
    if (!e || seen.has(e)) continue
    seen.add(e)
    const message = typeof e.message === 'string' ? e.message : ''
    if (e !== error && e.code !== 'MODULE_NOT_FOUND' && message && !message.startsWith('Cannot find module')) {
      return message.split('\n')[0]
    }
    if (Array.isArray(e.cause)) queue.push(...e.cause)
    else if (e.cause) queue.push(e.cause)
    if (Array.isArray(e.errors)) queue.push(...e.errors)
  }
  return ''
}

let binding
try {
  binding = require('../binding.js')
} catch (cause) {
  throw bindingError(cause)
}

// The main thread's process.exit() (and the end of its event loop) skips the cleanup hooks that
// close what a worker leaves open: close what this thread left open here, so a process that
// exits without close() does not leave its provider nodes in the registry until the session
// times out. Synchronous, at most about a second.
process.once('exit', () => binding.closeLeftOpen())

module.exports = { binding, bindingError }
