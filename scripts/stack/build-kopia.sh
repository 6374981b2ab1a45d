#!/usr/bin/env bash
# Finds or builds kopia (the second backup baseline of `npm run bench`, next to restic), cached
# outside the checkout. Prints KOPIA_BIN=... on stdout; progress goes to stderr. TDR_KOPIA_BIN may
# name an existing kopia binary.
#
# `go install github.com/kopia/kopia@$KOPIA_VERSION` fails behind a module proxy that serves the
# version but not the module's version list (go install looks up deprecations there), so this
# downloads the module (`go mod download`, checked against the sum database) and builds its root
# package with `go build` from that read-only source. The first build takes several minutes on
# 2 cores; later runs reuse the cache.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
if [ -n "${TDR_KOPIA_BIN:-}" ]; then echo "KOPIA_BIN=$TDR_KOPIA_BIN"; exit 0; fi
dest="$TDR_BIN_CACHE/kopia-$KOPIA_VERSION"
if [ ! -f "$dest/.complete" ]; then
  require_go
  logf="$TDR_LOG_DIR/build-kopia-$KOPIA_VERSION.log"
  log "building kopia $KOPIA_VERSION (first time only; log: $logf)"
  start=$SECONDS
  src="$(go mod download -json "github.com/kopia/kopia@$KOPIA_VERSION" 2>>"$logf" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
  [ -n "$src" ] && [ -f "$src/go.mod" ] || { tail -n 20 "$logf" >&2; die "could not download github.com/kopia/kopia@$KOPIA_VERSION from the Go module proxy; log: $logf"; }
  mkdir -p "$dest"
  ( cd "$src" && GOFLAGS=-buildvcs=false go build -trimpath -ldflags="-s -w -X github.com/kopia/kopia/repo.BuildVersion=${KOPIA_VERSION#v}" -o "$dest/kopia" . ) >>"$logf" 2>&1 \
    || { tail -n 20 "$logf" >&2; die "building kopia $KOPIA_VERSION failed; full log: $logf"; }
  touch "$dest/.complete"
  log "built kopia $KOPIA_VERSION in $((SECONDS - start))s"
fi
[ -x "$dest/kopia" ] || die "kopia not found at $dest/kopia"
echo "KOPIA_BIN=$dest/kopia"
