#!/usr/bin/env bash
# npm run bench: builds what the suite needs and runs bench/run.ts (see its header for BENCH_* vars).
#   BENCH_SIZE_MIB=2048 (volume default) | BENCH_SMALL_FILES=100000 | BENCH_QUICK=1 (128 MiB, 5,000 files)
#   BENCH_ONLY=pipeline,volume
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

eval "$(bash scripts/node-runtime.sh)"
bash scripts/npm-install.sh

# MinIO (and the Temporal CLI) from the cached build; prints MINIO_BIN=... on stdout.
eval "$(bash scripts/stack/build-binaries.sh)"
export MINIO_BIN TEMPORAL_BIN
# kopia, the second backup baseline (built from its Go module once, then cached); prints KOPIA_BIN=...
eval "$(bash scripts/stack/build-kopia.sh)"
export KOPIA_BIN

# Baselines: restic (Debian package), openssl, GNU time for CPU-seconds and peak RSS.
missing=()
command -v restic >/dev/null 2>&1 || missing+=(restic)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
[ -x /usr/bin/time ] || missing+=(time)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "bench: missing ${missing[*]}; install them (Debian: apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "bench: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

npx tsc -p bench/tsconfig.json
exec node dist/bench/run.js "$@"
