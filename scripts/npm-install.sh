#!/usr/bin/env bash
# Installs the npm packages from the lockfile. npm 11 can write a lockfile without other
# platforms' optional packages (swc's native builds) and then have `npm ci` reject that same
# lockfile; `npm install --no-save` then installs the locked versions without rewriting it.
set -euo pipefail
cd "$(dirname "$0")/.."
# The native addons must load on the Node.js running this script (scripts/node-runtime.sh's).
native_addons_load() { node -e 'require("zstd-napi"); require("@temporalio/core-bridge")' 2>"$1"; }
check_native_addons() {
  native_addons_load /tmp/tdr-native.log && return 0
  echo "[stack] native addons do not load on Node.js $(node --version); rebuilding them" >&2
  npm rebuild zstd-napi @temporalio/core-bridge --no-audit --no-fund --loglevel=error >&2
  native_addons_load /tmp/tdr-native.log && return 0
  cat /tmp/tdr-native.log >&2
  echo "[stack] ERROR: zstd-napi or @temporalio/core-bridge does not load on Node.js $(node --version) (above); remove node_modules and re-run, with Node.js from scripts/node-runtime.sh first on PATH" >&2
  exit 1
}
if [ -d node_modules ] && [ ! package-lock.json -nt node_modules/.package-lock.json ]; then check_native_addons; exit 0; fi
echo "[stack] installing npm packages" >&2
if ! npm ci --no-audit --no-fund --loglevel=error 2>/tmp/tdr-npm-ci.log; then
  if grep -q 'in sync' /tmp/tdr-npm-ci.log; then
    echo "[stack] npm ci rejected the lockfile (npm 11 and other platforms' optional packages); using npm install --no-save" >&2
    npm install --no-save --no-audit --no-fund --loglevel=error
  else
    cat /tmp/tdr-npm-ci.log >&2
    echo "[stack] ERROR: npm ci failed; see the output above" >&2
    exit 1
  fi
fi
check_native_addons
