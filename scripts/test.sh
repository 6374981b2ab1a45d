#!/usr/bin/env bash
# The whole test suite, from a fresh clone: provides the pinned Node.js (scripts/node-runtime.sh),
# installs npm packages, builds (or reuses) the local stack's binaries, type-checks, then runs
# unit tests and the tests against the real Temporal dev server, MinIO and the two kwok clusters,
# which jest's global setup starts and stops.
# Extra arguments go to jest (e.g. `npm test -- test/unit`).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/stack/lib.sh
start=$SECONDS

bash scripts/check-prereqs.sh --tests
# Everything below (npm, tsc, jest and the workers and agents it spawns) runs on the pinned Node.
eval "$(bash scripts/node-runtime.sh)"
log "Node.js $(node --version) at $(command -v node)"
bash scripts/npm-install.sh
eval "$(bash scripts/stack/build-binaries.sh)"
export TEMPORAL_BIN MINIO_BIN
eval "$(bash scripts/stack/build-kube.sh)"
eval "$(bash scripts/stack/build-promtool.sh)"
export PROMTOOL_BIN
eval "$(bash scripts/stack/build-helm.sh)"
export HELM_BIN
eval "$(bash scripts/stack/build-vault.sh)"
export VAULT_BIN
log "binaries ready after $((SECONDS - start))s"

log "type-checking and compiling (the end-to-end tests run the compiled worker and node agent)"
npx tsc -p tsconfig.json

results="$(mktemp --suffix=.json)"
set +e
npx jest --json --outputFile="$results" "$@" 2> >(grep -v '^Test results written to' >&2)
status=$?
set -e
# jest's own summary is not a format CI reads; print the plain closing line it does read.
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  if (skipped) console.log(`note: ${skipped} test(s) were skipped; they are not counted as passed`);
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$results" 2>/dev/null || echo "tests: 0 passed, 1 failed (jest wrote no results and exited with status $status$( [ "$status" -gt 128 ] && echo ", signal $((status - 128))"): see the output above)"
rm -f "$results"
[ -d test-artifacts ] && log "screenshots of the Temporal UI and drill reports: $(pwd)/test-artifacts/"
log "test command finished in $((SECONDS - start))s"
exit $status
