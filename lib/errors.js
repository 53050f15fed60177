'use strict'
// The errors the hand-written JavaScript throws, shaped like the binding's: an `Error` with a
// stable `code` and the facts a program needs (`field` for ERR_INVALID_ARG).

/** An `Error` with `code` and the extra properties. */
function codedError(code, message, extra) {
  const err = new Error(message)
  err.code = code
  return Object.assign(err, extra)
}

/** `ERR_INVALID_ARG` for `field`, worded as the core words it. */
function invalidArg(field, reason) {
  return codedError('ERR_INVALID_ARG', `invalid argument \`${field}\`: ${reason}`, { field })
}

module.exports = { codedError, invalidArg }
