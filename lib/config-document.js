'use strict'
// The configuration document of the nconf store (lib/nconf.js) as a plain object: walks that
// read and write own properties only — `__proto__` is an ordinary key and no write ever reaches
// a prototype — and the patch a save sends, as JSON text.

const { invalidArg } = require('./errors')

const own = (obj, key) => obj !== null && typeof obj === 'object' && Object.prototype.hasOwnProperty.call(obj, key)

// Assigns an own property, also for `__proto__`, which a plain assignment would turn into a
// prototype change.
function put(obj, key, value) {
  if (key === '__proto__') {
    Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true })
  } else {
    obj[key] = value
  }
}

function splitKey(key, sep) {
  return key == null ? [] : key.split(sep)
}

// nconf's `common.parseValues`.
function parseValue(value) {
  try {
    return JSON.parse(value)
  } catch {
    return value === 'undefined' ? undefined : value
  }
}

// The patch as JSON text; a value JSON cannot hold (a BigInt, a circular object, a throwing
// toJSON) is refused naming its key, so the app knows which `set()` to undo.
function toJson(ops, sep) {
  try {
    return JSON.stringify(ops)
  } catch (first) {
    for (const op of ops) {
      try {
        JSON.stringify(op.value)
      } catch (err) {
        const key = op.path.length === 0 ? '(the whole document)' : op.path.join(sep)
        const why = /BigInt/.test(err.message)
          ? 'a BigInt cannot be saved as JSON (store it as a string or a number)'
          : /circular/i.test(err.message)
            ? 'the value is circular (it contains itself) and cannot be saved as JSON'
            : `the value cannot be saved as JSON (${err.message})`
        throw invalidArg(key, `${why}; nothing was written, the key stays pending until it is set again or cleared`)
      }
    }
    throw invalidArg('value', `cannot be saved as JSON (${first.message})`)
  }
}

function lookup(obj, path) {
  let target = obj
  for (const key of path) {
    if (!own(target, key)) return { found: false }
    target = target[key]
  }
  return { found: true, value: target }
}

function assign(obj, path, value) {
  let target = obj
  for (let i = 0; i < path.length - 1; i++) {
    if (!own(target, path[i]) || !target[path[i]] || typeof target[path[i]] !== 'object') put(target, path[i], {})
    target = target[path[i]]
  }
  put(target, path[path.length - 1], value)
}

function remove(obj, path) {
  let target = obj
  for (let i = 0; i < path.length - 1; i++) {
    if (!own(target, path[i])) return
    target = target[path[i]]
  }
  if (target && typeof target === 'object') delete target[path[path.length - 1]]
}

module.exports = { own, put, splitKey, parseValue, toJson, lookup, assign, remove }
