#!/usr/bin/env bash
# Checks the machine has what the scripts need and says exactly what to install when it does not.
set -euo pipefail
fail() { echo "[prereqs] MISSING: $*" >&2; exit 1; }
command -v node >/dev/null || fail "Node.js (>= 20.19). Install it from https://nodejs.org or your package manager."
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' \
  || fail "Node.js $(node --version) is too old; install Node.js 20.19 or newer."
command -v npm >/dev/null || fail "npm (ships with Node.js)."
command -v go >/dev/null || fail "Go >= 1.26, used to build the Temporal CLI, MinIO, etcd, Kubernetes and kwok from source. Install it from https://go.dev/doc/install."
if ! [ -x /usr/lib/postgresql/15/bin/postgres ] && ! command -v postgres >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[prereqs] installing PostgreSQL (the sample application's database) with apt-get" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) \
      || fail "PostgreSQL server; apt-get install postgresql failed."
  else
    fail "PostgreSQL server binaries (Debian/Ubuntu: apt-get install postgresql)."
  fi
fi
# Headless Chromium renders the drill report's HTML page in a test (a screenshot must show it):
# only the test command (`check-prereqs.sh --tests`) needs it.
if [ "${1:-}" = "--tests" ] && ! command -v chromium >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[prereqs] installing Chromium (headless, to render the drill report page in a test) with apt-get" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || fail "Chromium; apt-get install chromium failed."
  else
    fail "Chromium for the drill report test (Debian/Ubuntu: apt-get install chromium)."
  fi
fi
