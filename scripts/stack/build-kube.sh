#!/usr/bin/env bash
# Builds (or reuses from the cache) the binaries of the local Kubernetes clusters:
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubectl  (k8s.io/kubernetes $KUBERNETES_VERSION)
#   etcd                                                               (go.etcd.io/etcd/server/v3 $ETCD_VERSION)
#   kwok, kwokctl                                                      (sigs.k8s.io/kwok $KWOK_VERSION)
# into ~/.cache/temporal-dr/bin/<name>-<version>/. Prints shell assignments on stdout (progress goes to
# stderr), the same ones it writes to ~/.cache/temporal-dr/kube-binaries.env:
#   KUBE_BIN_DIR ETCD_BIN_DIR KWOK_BIN_DIR KUBECTL KWOKCTL (+ the three versions)
# so `eval "$(scripts/stack/build-kube.sh)"` works.
#
# Usage: scripts/stack/build-kube.sh [--regen-gomod]
#   --regen-gomod  rewrite kube-wrapper/go.mod's replace block from k8s.io/kubernetes's go.mod
#                  (after bumping KUBERNETES_VERSION in versions.env).
# Env: TDR_BUILD_JOBS (default: number of CPUs) - parallel compile jobs (go build -p).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

JOBS="${TDR_BUILD_JOBS:-$(nproc 2>/dev/null || echo 2)}"
KUBE_DEST="$TDR_BIN_CACHE/kubernetes-$KUBERNETES_VERSION"
ETCD_DEST="$TDR_BIN_CACHE/etcd-$ETCD_VERSION"
ENV_FILE="$TDR_CACHE_DIR/kube-binaries.env"
WRAPPER="$STACK_SCRIPTS_DIR/kube-wrapper"
ETCD_WRAPPER="$STACK_SCRIPTS_DIR/etcd-main"
# staging modules are published as v0.X.Y for Kubernetes v1.X.Y
STAGING_VERSION="v0.${KUBERNETES_VERSION#v1.}"

timed() { # LOGFILE CMD... : runs CMD under /usr/bin/time -v when available, output to LOGFILE
  local logf="$1"; shift
  if [ -x /usr/bin/time ]; then /usr/bin/time -v "$@" >"$logf" 2>&1; else "$@" >"$logf" 2>&1; fi
}
report_usage() { # LOGFILE NAME SECONDS
  local peak; peak="$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$1" | tail -1)"
  log "built $2 in ${3}s${peak:+ (peak RSS of one process: $((peak / 1024)) MiB)}"
}

regen_gomod() {
  local modsrc; modsrc="$(GOFLAGS=-mod=mod go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')"
  [ -n "$modsrc" ] || die "could not download k8s.io/kubernetes@$KUBERNETES_VERSION"
  {
    sed '/^require /,$d' "$WRAPPER/go.mod"
    echo "require k8s.io/kubernetes $KUBERNETES_VERSION"
    echo
    echo "replace ("
    grep "=> ./staging" "$modsrc/go.mod" | awk -v v="$STAGING_VERSION" '{print "\t"$1" => "$1" "v}'
    echo ")"
  } >"$WRAPPER/go.mod.new"
  mv "$WRAPPER/go.mod.new" "$WRAPPER/go.mod"
  (cd "$WRAPPER" && GOFLAGS=-mod=mod go get "${KUBE_PKGS[@]/%/@$KUBERNETES_VERSION}")
  log "regenerated $WRAPPER/go.mod"
}

KUBE_CMDS=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
KUBE_PKGS=("${KUBE_CMDS[@]/#/k8s.io/kubernetes/cmd/}")

build_kube() {
  if [ -f "$KUBE_DEST/.complete" ]; then return 0; fi
  require_go
  local logf="$TDR_LOG_DIR/build-kubernetes-$KUBERNETES_VERSION.log" start=$SECONDS
  log "building Kubernetes $KUBERNETES_VERSION (${KUBE_CMDS[*]}) with $JOBS jobs - first time only, takes a while; log: $logf"
  mkdir -p "$KUBE_DEST"
  local pkg=k8s.io/component-base/version cpkg=k8s.io/client-go/pkg/version minor
  minor="$(echo "$KUBERNETES_VERSION" | cut -d. -f2)"
  local ldflags="-s -w"
  for p in $pkg $cpkg; do
    ldflags+=" -X $p.gitVersion=$KUBERNETES_VERSION -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  if ! (cd "$WRAPPER" && timed "$logf" env GOFLAGS=-mod=mod CGO_ENABLED=0 \
        go build -p "$JOBS" -trimpath -tags providerless -ldflags="$ldflags" -o "$KUBE_DEST/" "${KUBE_PKGS[@]}"); then
    tail -n 30 "$logf" >&2
    die "building Kubernetes $KUBERNETES_VERSION failed; full log: $logf"
  fi
  touch "$KUBE_DEST/.complete"
  report_usage "$logf" "Kubernetes $KUBERNETES_VERSION" $((SECONDS - start))
}

build_etcd() {
  if [ -f "$ETCD_DEST/.complete" ]; then return 0; fi
  require_go
  local logf="$TDR_LOG_DIR/build-etcd-$ETCD_VERSION.log" start=$SECONDS
  log "building etcd $ETCD_VERSION (first time only; log: $logf)"
  mkdir -p "$ETCD_DEST"
  if ! (cd "$ETCD_WRAPPER" && timed "$logf" env GOFLAGS=-mod=mod CGO_ENABLED=0 \
        go build -p "$JOBS" -trimpath -ldflags="-s -w" -o "$ETCD_DEST/etcd" .); then
    tail -n 30 "$logf" >&2
    die "building etcd $ETCD_VERSION failed; full log: $logf"
  fi
  touch "$ETCD_DEST/.complete"
  report_usage "$logf" "etcd $ETCD_VERSION" $((SECONDS - start))
}

# kwok and kwokctl, from the module source with kwok/kwok-exec.patch applied: kwok v0.8.0 never
# closes an exec'd command's stdin (so `cat`, `psql -f -` wait forever) and reports a non-zero
# exit as an internal error without its code. The patch makes both behave like a kubelet.
KWOK_PATCH="$STACK_SCRIPTS_DIR/kwok/kwok-exec.patch"
KWOK_DEST="$TDR_BIN_CACHE/kwok-$KWOK_VERSION-$(sha256sum "$KWOK_PATCH" | cut -c1-8)"
build_kwok() {
  if [ -f "$KWOK_DEST/.complete" ]; then return 0; fi
  require_go
  local logf="$TDR_LOG_DIR/build-kwok-$KWOK_VERSION.log" start=$SECONDS src work
  log "building kwok $KWOK_VERSION (patched; first time only; log: $logf)"
  src="$(cd "$ETCD_WRAPPER" && GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" 2>>"$logf" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')"
  [ -d "$src" ] || die "could not download sigs.k8s.io/kwok@$KWOK_VERSION; log: $logf"
  work="$TDR_CACHE_DIR/src/kwok-$KWOK_VERSION"
  rm -rf "$work"; mkdir -p "$(dirname "$work")"; cp -r "$src" "$work"; chmod -R u+w "$work"
  (cd "$work" && patch -p1 --forward --quiet <"$KWOK_PATCH") >>"$logf" 2>&1 || die "applying $KWOK_PATCH to kwok $KWOK_VERSION failed; log: $logf"
  mkdir -p "$KWOK_DEST"
  if ! (cd "$work" && timed "$logf.time" env GOFLAGS=-mod=mod CGO_ENABLED=0 \
        go build -p "$JOBS" -trimpath -ldflags="-s -w" -o "$KWOK_DEST/" ./cmd/kwok ./cmd/kwokctl); then
    cat "$logf.time" >>"$logf"; tail -n 30 "$logf" >&2
    die "building kwok $KWOK_VERSION failed; full log: $logf"
  fi
  cat "$logf.time" >>"$logf"; rm -f "$logf.time"
  touch "$KWOK_DEST/.complete"
  report_usage "$logf" "kwok $KWOK_VERSION" $((SECONDS - start))
}

if [ "${1:-}" = "--regen-gomod" ]; then require_go; regen_gomod; exit 0; fi

build_kube
build_etcd
build_kwok

{
  echo "# written by scripts/stack/build-kube.sh"
  for kv in KUBERNETES_VERSION="$KUBERNETES_VERSION" ETCD_VERSION="$ETCD_VERSION" KWOK_VERSION="$KWOK_VERSION" \
            KUBE_BIN_DIR="$KUBE_DEST" ETCD_BIN_DIR="$ETCD_DEST" KWOK_BIN_DIR="$KWOK_DEST" \
            KUBECTL="$KUBE_DEST/kubectl" KWOKCTL="$KWOK_DEST/kwokctl"; do
    printf '%s=%q\n' "${kv%%=*}" "${kv#*=}"
  done
} >"$ENV_FILE.tmp"
mv "$ENV_FILE.tmp" "$ENV_FILE"
grep -v "^#" "$ENV_FILE"
