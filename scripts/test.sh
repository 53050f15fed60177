#!/usr/bin/env bash
# The whole test suite: Rust unit tests, then the Node tests (which start real
# ZooKeeper servers through harness/zookeeper/). Both always run;
# the exit status is non-zero if either failed.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { echo "[test] $*"; }

check_status=0
# Style first: formatting and lints, Rust and JavaScript, as STYLE.md asks of CI.
log "cargo fmt --check, cargo clippy -D warnings, prettier --check"
cargo fmt --all -- --check || check_status=$?
cargo clippy --workspace --all-targets --quiet -- -D warnings || check_status=$?
npx --no-install prettier --check --log-level warn "**/*.{js,ts}" || check_status=$?
log "cargo test --workspace --quiet"
cargo test --workspace --quiet || check_status=$?

node_status=0
shopt -s nullglob
test_files=(__test__/*.test.js)
shopt -u nullglob
if [ "${#test_files[@]}" -eq 0 ]; then
  log "no __test__/*.test.js files found"
  node_status=1
else
  # A directory argument is not portable across Node 20 releases; pass files.
  log "node --test --test-concurrency=2 ${test_files[*]}"
  # Marks this run's processes (ZooKeeper JVMs inherit it) for the leak check below.
  export LEMON_TEST_RUN="$$-$(date +%s%N)"
  node --test --test-concurrency=2 --test-timeout=600000 "${test_files[@]}" || node_status=$?
fi

# The harness kills its JVMs when the test process ends; make a leak loud. Only this run's JVMs
# count: other checkouts on the same machine may be running their own tests right now.
leaked=""
for pid in $(pgrep -f 'org\.apache\.zookeeper\.server\..*zk-harness-' || true); do
  if [ -n "${LEMON_TEST_RUN:-}" ] && tr '\0' '\n' <"/proc/$pid/environ" 2>/dev/null | grep -qx "LEMON_TEST_RUN=$LEMON_TEST_RUN"; then
    leaked="$leaked $pid"
  fi
done
if [ -n "$leaked" ]; then
  log "ERROR: ZooKeeper JVMs left running by the tests (pids: $(echo "$leaked" | tr '\n' ' '))"
  if [ "$node_status" -eq 0 ]; then node_status=1; fi
fi

if [ "$check_status" -ne 0 ] || [ "$node_status" -ne 0 ]; then
  log "FAILED (style checks and cargo test: exit $check_status, node --test: exit $node_status)"
  exit 1
fi
log "all tests passed"
