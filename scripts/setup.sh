#!/usr/bin/env bash
# Idempotent, non-interactive setup for a fresh Debian machine (or CI):
#   * ZooKeeper (Debian's `zookeeper` package) unless ZOOKEEPER_HOME /
#     ZOOKEEPER_CLASSPATH point at another install,
#   * Java (openjdk-17-jre-headless) if missing,
#   * npm dependencies when node_modules is missing or stale,
#   * the native addon (cargo is incremental: fast when nothing changed).
# Expects Node >= 20 and a Rust toolchain (rustup) to be present already.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { echo "[setup] $*"; }
die() { echo "[setup] ERROR: $*" >&2; exit 1; }

# Run a command as root: directly when root, else through sudo.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    if [ -t 0 ]; then sudo "$@"; else sudo -n "$@"; fi
  else
    die "need root to run '$*' (not root and sudo is not available); run this script as root or install the packages yourself"
  fi
}

apt_updated=0
apt_install() {
  command -v apt-get >/dev/null 2>&1 ||
    die "apt-get not found: install $* with your package manager (or set ZOOKEEPER_HOME to a ZooKeeper install)"
  if [ "$apt_updated" -eq 0 ]; then
    log "apt-get update"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
    apt_updated=1
  fi
  log "apt-get install -y $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

# --- ZooKeeper and Java -------------------------------------------------------
have_zookeeper() {
  if [ -n "${ZOOKEEPER_HOME:-}" ]; then
    [ -d "$ZOOKEEPER_HOME" ] || die "ZOOKEEPER_HOME=$ZOOKEEPER_HOME is not a directory"
    return 0
  fi
  [ -n "${ZOOKEEPER_CLASSPATH:-}" ] && [ -x /usr/share/zookeeper/bin/zkCli.sh ] && return 0
  [ -f /usr/share/java/zookeeper.jar ] && [ -x /usr/share/zookeeper/bin/zkCli.sh ]
}

have_java() {
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then return 0; fi
  command -v java >/dev/null 2>&1
}

packages=()
if have_zookeeper; then
  log "ZooKeeper: found (${ZOOKEEPER_HOME:-/usr/share/java/zookeeper.jar})"
else
  packages+=(zookeeper)
fi
if have_java; then
  log "Java: found"
else
  packages+=(openjdk-17-jre-headless)
fi
# The TLS tests make their certificates with openssl; Netty's TLS pieces come with zookeeper.
if command -v openssl >/dev/null 2>&1; then
  log "openssl: found"
else
  packages+=(openssl)
fi
if [ "${#packages[@]}" -gt 0 ]; then
  apt_install "${packages[@]}"
  have_zookeeper || die "ZooKeeper still not found after installing: expected /usr/share/java/zookeeper.jar"
  have_java || die "java still not found after installing openjdk-17-jre-headless"
fi

# --- npm dependencies ---------------------------------------------------------
command -v node >/dev/null 2>&1 || die "node not found: install Node.js >= 20"
command -v npm >/dev/null 2>&1 || die "npm not found: install Node.js >= 20 (with npm)"

stamp=node_modules/.package-lock.json
if [ ! -d node_modules ]; then
  if [ -f package-lock.json ]; then
    log "npm ci"
    npm ci --no-audit --no-fund
  else
    log "npm install"
    npm install --no-audit --no-fund
  fi
  touch "$stamp"
elif [ package.json -nt "$stamp" ] || { [ -f package-lock.json ] && [ package-lock.json -nt "$stamp" ]; }; then
  log "npm install (package.json or package-lock.json changed)"
  npm install --no-audit --no-fund
  touch "$stamp"
else
  log "npm dependencies: up to date"
fi

# --- native addon ---------------------------------------------------------------
command -v cargo >/dev/null 2>&1 || die "cargo not found: install a Rust toolchain (https://rustup.rs) and make sure ~/.cargo/bin is on PATH"
log "napi build --platform --release"
npx napi build --platform --release
log "done"
