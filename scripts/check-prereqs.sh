#!/usr/bin/env bash
# Checks the machine has what the scripts need and says exactly what to install when it does not.
set -euo pipefail
fail() { echo "[prereqs] MISSING: $*" >&2; exit 1; }
command -v node >/dev/null || fail "Node.js (>= 20.19). Install it from https://nodejs.org or your package manager."
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' \
  || fail "Node.js $(node --version) is too old; install Node.js 20.19 or newer."
command -v npm >/dev/null || fail "npm (ships with Node.js)."
command -v go >/dev/null || fail "Go >= 1.26, used to build the Temporal CLI, MinIO, etcd, Kubernetes and kwok from source. Install it from https://go.dev/doc/install."
# Debian packages the stack needs: installed when missing and root, else named with the command.
apt_install() { # PACKAGE WHAT
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[prereqs] installing $2 with apt-get" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null) || fail "$2; apt-get install $1 failed."
  else
    fail "$2 (Debian/Ubuntu: apt-get install $1)."
  fi
}
if ! [ -x /usr/lib/postgresql/15/bin/postgres ] && ! command -v postgres >/dev/null; then
  apt_install postgresql "PostgreSQL (the sample application's database)"
fi
# Headless Chromium renders the drill report's HTML page in a test (a screenshot must show it):
# only the test command (`check-prereqs.sh --tests`) needs it.
if [ "${1:-}" = "--tests" ] && ! command -v chromium >/dev/null; then
  apt_install chromium "Chromium (headless, renders the drill report page in a test)"
fi
# The stack's HTTP pods answer on their pod IP, added to the loopback interface (needs root).
command -v ip >/dev/null || apt_install iproute2 "iproute2 (ip: the stack's web pods listen on their pod IP)"
[ "$(id -u)" = 0 ] || echo "[prereqs] not root: the stack's web pods cannot take their pod IPs, so HTTP checks through the API server will fail (run as root)" >&2
