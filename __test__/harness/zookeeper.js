'use strict'
// Moved to harness/zookeeper/ (the tests, the demo and the benchmarks all use it); this name is
// kept for test files written before the move.
module.exports = require('../../harness/zookeeper')
