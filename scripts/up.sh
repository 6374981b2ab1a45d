#!/usr/bin/env bash
# The main job on the embedded default, from a fresh clone: provides the pinned Node.js
# (scripts/node-runtime.sh; the worker and node agents run on it), installs npm packages, builds (or
# reuses) the stack's binaries, compiles, then starts a persistent Temporal dev server with its UI,
# MinIO with its bucket, the two local clusters with the sample application, and a worker.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/stack/lib.sh
bash scripts/check-prereqs.sh
eval "$(bash scripts/node-runtime.sh)"
bash scripts/npm-install.sh
eval "$(bash scripts/stack/build-binaries.sh)"
export TEMPORAL_BIN MINIO_BIN
log "compiling TypeScript"
npx tsc -p tsconfig.json
exec node dist/scripts/stack/up.js
