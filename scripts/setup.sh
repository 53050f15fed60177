#!/usr/bin/env bash
# Idempotent, non-interactive setup for a fresh Debian machine (or CI):
#   * ZooKeeper (Debian's `zookeeper` package) unless ZOOKEEPER_HOME /
#     ZOOKEEPER_CLASSPATH point at another install,
#   * Java (openjdk-17-jre-headless) if missing,
#   * Chromium (Debian's `chromium`) for the admin console's browser tests, and Firefox
#     (`firefox-esr`) for its Firefox smoke test, if missing,
#   * npm dependencies when node_modules is missing or stale,
#   * the native addon (cargo is incremental: fast when nothing changed), on Linux against the
#     glibc baseline with cargo-zigbuild (installed from PyPI when missing).
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
# The console tests drive this Chromium with puppeteer-core, which never downloads a browser.
if [ -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  log "Chromium: found (${CHROMIUM:-/usr/bin/chromium})"
else
  packages+=(chromium)
fi
# The console's Firefox smoke test (puppeteer-core over WebDriver BiDi); about 10 s to install
# (119 MB) on the test machine.
if [ -x "${FIREFOX:-/usr/bin/firefox-esr}" ]; then
  log "Firefox: found (${FIREFOX:-/usr/bin/firefox-esr})"
else
  packages+=(firefox-esr)
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

# On Linux with glibc the addon is built against the glibc baseline the published binaries have
# (package.json `config`, with the tools' versions; __test__/package.test.js fails above it):
# cargo-zigbuild links against that glibc's symbol versions with zig as the linker. Both come
# from PyPI (ziglang, cargo-zigbuild); unless on PATH already, they are installed once into a
# virtualenv under target/.
config() { node -p "require('./package.json').config.$1"; }
GLIBC_BASELINE="$(config glibcBaseline)"
ZIGLANG_VERSION="$(config ziglang)"
CARGO_ZIGBUILD_VERSION="$(config cargoZigbuild)"
zig_venv=target/tools/zigbuild

have_zigbuild() {
  command -v cargo-zigbuild >/dev/null 2>&1 || return 1
  command -v zig >/dev/null 2>&1 || python3 -m ziglang version >/dev/null 2>&1
}

ensure_zigbuild() {
  if [ -x "$zig_venv/bin/cargo-zigbuild" ]; then export PATH="$PWD/$zig_venv/bin:$PATH"; fi
  if have_zigbuild; then
    log "cargo-zigbuild: found ($(cargo-zigbuild --version 2>/dev/null | head -n 1))"
    return 0
  fi
  command -v python3 >/dev/null 2>&1 || apt_install python3 python3-venv
  python3 -m venv --help >/dev/null 2>&1 || apt_install python3-venv
  log "pip install ziglang==$ZIGLANG_VERSION cargo-zigbuild==$CARGO_ZIGBUILD_VERSION (into $zig_venv)"
  rm -rf "$zig_venv"
  python3 -m venv "$zig_venv" || { apt_install python3-venv && python3 -m venv "$zig_venv"; }
  "$zig_venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "ziglang==$ZIGLANG_VERSION" "cargo-zigbuild==$CARGO_ZIGBUILD_VERSION"
  export PATH="$PWD/$zig_venv/bin:$PATH"
  have_zigbuild || die "cargo-zigbuild or zig still not found after installing them into $zig_venv"
}

is_glibc() {
  [ "$(uname -s)" = Linux ] && node -e 'process.exit(process.report.getReport().header.glibcVersionRuntime ? 0 : 1)'
}

if is_glibc; then
  ensure_zigbuild
  target="$(uname -m | sed 's/^arm64$/aarch64/')-unknown-linux-gnu.$GLIBC_BASELINE"
  log "npm run build -- --target $target --cross-compile (cargo-zigbuild, glibc $GLIBC_BASELINE)"
  npm run build --silent -- --target "$target" --cross-compile
else
  log "npm run build"
  npm run build --silent
fi
log "done"
