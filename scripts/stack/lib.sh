# Shared helpers for the local-stack scripts. Source it; it defines no side effects on load
# beyond reading the pinned versions.
set -euo pipefail
STACK_SCRIPTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$STACK_SCRIPTS_DIR/../.." && pwd)"
# shellcheck source=versions.env
source "$STACK_SCRIPTS_DIR/versions.env"
TDR_CACHE_DIR="${TDR_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/temporal-dr}"
TDR_BIN_CACHE="$TDR_CACHE_DIR/bin"
TDR_LOG_DIR="$TDR_CACHE_DIR/logs"
mkdir -p "$TDR_BIN_CACHE" "$TDR_LOG_DIR"

log() { printf '[stack] %s\n' "$*" >&2; }
die() { printf '[stack] ERROR: %s\n' "$*" >&2; exit 1; }

require_go() {
  command -v go >/dev/null 2>&1 || die "Go is not installed, and the local stack is built from source with it. Install Go >= 1.26 (https://go.dev/doc/install, or your distribution's golang package) and re-run."
  local v; v="$(go env GOVERSION | sed 's/^go//')"
  local major minor; major="${v%%.*}"; minor="$(echo "$v" | cut -d. -f2)"
  if [ "$major" -lt 1 ] || { [ "$major" -eq 1 ] && [ "$minor" -lt 26 ]; }; then
    die "Go $v is too old: Kubernetes ${KUBERNETES_VERSION} and kwok ${KWOK_VERSION} need Go >= 1.26. Install a newer Go and re-run."
  fi
}

# go_install_cached NAME VERSION PACKAGE... : builds the packages with `go install` into
# $TDR_BIN_CACHE/NAME-VERSION unless that folder already holds them; prints the folder.
go_install_cached() {
  local name="$1" version="$2"; shift 2
  local dest="$TDR_BIN_CACHE/$name-$version" logf="$TDR_LOG_DIR/build-$name-$version.log"
  if [ -f "$dest/.complete" ]; then echo "$dest"; return 0; fi
  require_go
  log "building $name $version (first time only; log: $logf)"
  mkdir -p "$dest"
  local start=$SECONDS
  if ! GOBIN="$dest" GOFLAGS=-buildvcs=false go install -trimpath -ldflags='-s -w' "$@" >"$logf" 2>&1; then
    tail -n 20 "$logf" >&2
    die "building $name $version failed; full log: $logf"
  fi
  touch "$dest/.complete"
  log "built $name $version in $((SECONDS - start))s"
  echo "$dest"
}

# free_port [PREFERRED]: prints PREFERRED if nothing listens on it, else a free ephemeral port.
free_port() {
  node -e '
    const net = require("net"); const want = Number(process.argv[1] || 0);
    const tryPort = (p) => { const s = net.createServer(); s.once("error", () => tryPort(0));
      s.listen(p, "127.0.0.1", () => { const a = s.address().port; s.close(() => console.log(a)); }); };
    tryPort(want);' "${1:-0}"
}

port_in_use() { node -e 'const s=require("net").createServer();s.once("error",()=>process.exit(0));s.listen(Number(process.argv[1]),"127.0.0.1",()=>s.close(()=>process.exit(1)));' "$1"; }

wait_for_tcp() { # host port seconds what
  local host="$1" port="$2" secs="$3" what="$4" i=0
  until node -e 'const s=require("net").connect(Number(process.argv[2]),process.argv[1]);s.on("connect",()=>process.exit(0));s.on("error",()=>process.exit(1));' "$host" "$port"; do
    i=$((i+1)); [ "$i" -ge $((secs*5)) ] && die "$what did not start listening on $host:$port within ${secs}s"
    sleep 0.2
  done
}

# snapshot_crds_file: prints the path of the CSI snapshot CRDs (snapshot.storage.k8s.io/v1) of the
# pinned external-snapshotter release, taken from its Go module (config/crd) and cached.
snapshot_crds_file() {
  local out="$TDR_CACHE_DIR/snapshot-crds-$EXTERNAL_SNAPSHOTTER_VERSION.yaml"
  if [ ! -s "$out" ]; then
    require_go
    local dir
    dir="$(go mod download -json "github.com/kubernetes-csi/external-snapshotter/client/v8@$EXTERNAL_SNAPSHOTTER_VERSION" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
    [ -n "$dir" ] && ls "$dir"/config/crd/snapshot.storage.k8s.io_*.yaml >/dev/null 2>&1 \
      || die "could not get the CSI snapshot CRDs of external-snapshotter $EXTERNAL_SNAPSHOTTER_VERSION from the Go module proxy"
    for f in "$dir"/config/crd/snapshot.storage.k8s.io_*.yaml; do cat "$f"; echo '---'; done > "$out.tmp" && mv "$out.tmp" "$out"
  fi
  echo "$out"
}
