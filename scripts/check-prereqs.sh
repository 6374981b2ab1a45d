#!/usr/bin/env bash
# Checks the machine has what the scripts need and says exactly what to install when it does not.
set -euo pipefail
fail() { echo "[prereqs] MISSING: $*" >&2; exit 1; }
# Node.js: the scripts do not run on the machine's. scripts/node-runtime.sh fetches the pinned one
# (NODE_VERSION in scripts/stack/versions.env) from the npm registry with the machine's npm.
source "$(dirname "${BASH_SOURCE[0]}")/stack/versions.env"
command -v npm >/dev/null \
  || fail "npm (any version): it fetches Node.js $NODE_VERSION from the npm registry and installs the packages on it. Debian: apt-get install npm; or any Node.js from https://nodejs.org."
echo "[prereqs] Node.js: the scripts run on $NODE_VERSION from the npm registry (scripts/node-runtime.sh), whichever Node.js is first on PATH now ($(node --version 2>/dev/null || echo none))" >&2
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
