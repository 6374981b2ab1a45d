#!/usr/bin/env bash
# Finds or builds a Vault-compatible KMS server (the transit engine behind `keyFrom.kms`, used by
# test/integration/kms-keys.test.ts), cached outside the checkout. Prints VAULT_BIN=... on stdout;
# progress goes to stderr. TDR_VAULT_BIN may name an existing `vault` or OpenBao `bao` binary
# (both take `server -dev -dev-root-token-id ... -dev-listen-address ...`).
#
# OpenBao would be the first choice, but the Go module proxy serves no version of
# github.com/openbao/openbao, so this builds HashiCorp Vault from its Go module. `go install
# module@version` refuses it (its go.mod has replace directives pointing at ./api and ./sdk, which
# are separate modules and not in the module's zip), so the script copies the module's source,
# drops those local replaces (the published api and sdk versions its go.mod requires are used,
# with three call sites adapted to that sdk) and builds the root package with `go build`. The first
# build takes about 12 minutes on 2 cores (Vault links every cloud SDK).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
if [ -n "${TDR_VAULT_BIN:-}" ]; then echo "VAULT_BIN=$TDR_VAULT_BIN"; exit 0; fi
dest="$TDR_BIN_CACHE/vault-$VAULT_VERSION"
if [ ! -f "$dest/.complete" ]; then
  require_go
  logf="$TDR_LOG_DIR/build-vault-$VAULT_VERSION.log"
  log "building vault $VAULT_VERSION (first time only; log: $logf)"
  start=$SECONDS
  src="$(go mod download -json "github.com/hashicorp/vault@$VAULT_VERSION" 2>>"$logf" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
  [ -n "$src" ] && [ -f "$src/go.mod" ] || { tail -n 20 "$logf" >&2; die "could not download github.com/hashicorp/vault@$VAULT_VERSION from the Go module proxy; log: $logf"; }
  work="$TDR_CACHE_DIR/src/vault-$VAULT_VERSION"
  rm -rf "$work" && mkdir -p "$(dirname "$work")" && cp -r "$src" "$work" && chmod -R u+w "$work"
  (
    cd "$work"
    for m in api api/auth/approle api/auth/kubernetes api/auth/userpass sdk; do
      go mod edit -dropreplace="github.com/hashicorp/vault/$m" || exit 1
    done
    # The release branch's in-tree sdk is none of the published ones: the sdk its go.mod names
    # (v0.21.0) differs in two signatures. Adapt the three call sites (the flag name passed to
    # ActivationFunc is unused there; the restored key's name only labels an observation); the
    # build fails loudly if they moved. (errexit does not apply inside this `( … ) ||`.)
    patch_line() { # FILE OLD NEW (fixed strings)
      grep -qF "$2" "$1" || { echo "build-vault.sh: $1 no longer holds: $2"; exit 1; }
      OLD="$2" NEW="$3" perl -0pi -e 's/\Q$ENV{OLD}\E/$ENV{NEW}/' "$1" || exit 1
    }
    patch_line vault/identity_store.go 'ActivationFunc: iStore.activateDeduplication,' \
      'ActivationFunc: func(ctx context.Context, req *logical.Request, _ string) error { return iStore.activateDeduplication(ctx, req) },'
    patch_line vault/logical_system_activation_flags.go 'b.idStoreBackend.ActivationFunc(ctx, nil)' 'b.idStoreBackend.ActivationFunc(ctx, nil, "")'
    patch_line builtin/logical/transit/path_restore.go 'restoredKeyName, err := b.lm.RestorePolicy(' 'restoredKeyName, err := keyName, b.lm.RestorePolicy('
    mkdir -p "$dest" || exit 1
    GOFLAGS=-buildvcs=false go build -mod=mod -trimpath -ldflags='-s -w' -o "$dest/vault" .
  ) >>"$logf" 2>&1 || { tail -n 20 "$logf" >&2; die "building vault $VAULT_VERSION failed; full log: $logf"; }
  rm -rf "$work"
  touch "$dest/.complete"
  log "built vault $VAULT_VERSION in $((SECONDS - start))s"
fi
[ -x "$dest/vault" ] || die "vault not found at $dest/vault"
echo "VAULT_BIN=$dest/vault"
