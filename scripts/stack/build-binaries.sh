#!/usr/bin/env bash
# Finds or builds the Temporal CLI (dev server + UI) and MinIO, caching them outside the checkout.
# Prints shell assignments (TEMPORAL_BIN=..., MINIO_BIN=...) on stdout; progress goes to stderr.
# A binary already on PATH is used when its version matches the pin (set TDR_PREFER_PATH=0 to skip).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

find_temporal() {
  if [ "${TDR_PREFER_PATH:-1}" = 1 ] && command -v temporal >/dev/null 2>&1 \
     && temporal --version 2>/dev/null | grep -q "${TEMPORAL_CLI_VERSION#v}"; then
    command -v temporal; return
  fi
  echo "$(go_install_cached temporal "$TEMPORAL_CLI_VERSION" "github.com/temporalio/cli/cmd/temporal@$TEMPORAL_CLI_VERSION")/temporal"
}

find_minio() {
  # MinIO's version string is its release date, which the pin does not carry; only a cached
  # build is trusted unless the user opts in with TDR_MINIO_BIN.
  if [ -n "${TDR_MINIO_BIN:-}" ]; then echo "$TDR_MINIO_BIN"; return; fi
  echo "$(go_install_cached minio "$MINIO_VERSION" "github.com/minio/minio@$MINIO_VERSION")/minio"
}

TEMPORAL_BIN="$(find_temporal)"
MINIO_BIN="$(find_minio)"
[ -x "$TEMPORAL_BIN" ] || die "Temporal CLI not found at $TEMPORAL_BIN"
[ -x "$MINIO_BIN" ] || die "MinIO not found at $MINIO_BIN"
echo "TEMPORAL_BIN=$TEMPORAL_BIN"
echo "MINIO_BIN=$MINIO_BIN"
