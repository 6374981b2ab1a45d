#!/usr/bin/env bash
# The two local Kubernetes clusters, "source" and "target": kwokctl clusters (runtime "binary")
# made of a real etcd + kube-apiserver + kube-controller-manager + kube-scheduler built from
# source by build-kube.sh, plus kwok simulating three nodes (zones <region>a/b/c) and a
# kubelet-sim process per cluster (test/stack/kubelet-sim.ts: local-path volumes, exec targets,
# real PostgreSQL processes for pods annotated stack.temporal-dr.local/run=postgres).
#
# Usage: scripts/stack/clusters.sh COMMAND [--workdir DIR] [options]
#   up [--fresh]        start both clusters (reusing DIR's state when present; --fresh wipes it
#                       first); a cluster already serving is left running, and only what is down
#                       (a cluster, its kubelet-sim) is started. Writes DIR/kubeconfig with
#                       contexts "source" and "target".
#   down [--purge]      stop every process of both clusters (state kept; --purge deletes it)
#   status              state, apiserver URL and processes of both clusters
#   stop-one NAME       stop one cluster (all its processes), keeping its etcd data (fault tests)
#   start-one NAME      start it again (same ports, same data); NAME is source or target
#   env                 print TDR_KUBECONFIG=..., KUBECTL=... for eval
# DIR defaults to $TDR_CLUSTERS_DIR, else <repo>/.stack/clusters. Two workdirs (tests and demo)
# coexist: the kwok cluster names carry a hash of DIR.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

CMD="${1:-}"; [ $# -gt 0 ] && shift
WORKDIR="${TDR_CLUSTERS_DIR:-$REPO_ROOT/.stack/clusters}"
FRESH=0; PURGE=0; ONE=""
while [ $# -gt 0 ]; do
  case "$1" in
    --workdir) WORKDIR="$2"; shift 2 ;;
    --workdir=*) WORKDIR="${1#*=}"; shift ;;
    --fresh) FRESH=1; shift ;;
    --purge) PURGE=1; shift ;;
    source|target) ONE="$1"; shift ;;
    *) die "unknown argument: $1 (see the header of $0)" ;;
  esac
done
mkdir -p "$WORKDIR"
WORKDIR="$(cd "$WORKDIR" && pwd -P)"
PREFIX="tdr-$(printf %s "$WORKDIR" | sha1sum | cut -c1-8)"
CLUSTERS=(source target)
export KWOK_WORKDIR="$WORKDIR/kwok"
KWOK_KUBECONFIG="$WORKDIR/kwok/kwokctl-kubeconfig.yaml" # kwokctl adds its contexts here, not to ~/.kube/config
LOGS="$WORKDIR/logs"; PIDS="$WORKDIR/pids"
mkdir -p "$LOGS" "$PIDS" "$KWOK_WORKDIR"

# free_ports N: N distinct free TCP ports (held open together while choosing, so no repeats);
# the demo's and the tests' clusters (other workdirs) hold theirs while running.
free_ports() {
  node -e '
    const net = require("net"); const n = Number(process.argv[1]); const servers = [];
    const next = () => { if (servers.length === n) { console.log(servers.map((s) => s.address().port).join(" ")); servers.forEach((s) => s.close()); return; }
      const s = net.createServer(); s.listen(0, "0.0.0.0", () => { servers.push(s); next(); }); };
    next();' "$1"
}

kwok_name() { echo "$PREFIX-$1"; }
cluster_dir() { echo "$KWOK_WORKDIR/clusters/$(kwok_name "$1")"; }
region_of() { case "$1" in source) echo local-1 ;; target) echo local-2 ;; esac; }

load_binaries() {
  if [ -z "${KWOKCTL:-}" ] || [ ! -x "${KWOKCTL:-}" ]; then
    eval "$(bash "$STACK_SCRIPTS_DIR/build-kube.sh")"
  fi
  export KWOK_KUBE_VERSION="$KUBERNETES_VERSION"
  export KWOK_ETCD_VERSION="${ETCD_VERSION#v}"
  export KWOK_KUBE_APISERVER_BINARY="$KUBE_BIN_DIR/kube-apiserver"
  export KWOK_KUBE_CONTROLLER_MANAGER_BINARY="$KUBE_BIN_DIR/kube-controller-manager"
  export KWOK_KUBE_SCHEDULER_BINARY="$KUBE_BIN_DIR/kube-scheduler"
  export KWOK_KUBECTL_BINARY="$KUBE_BIN_DIR/kubectl"
  export KWOK_ETCD_BINARY="$ETCD_BIN_DIR/etcd"
  export KWOK_CONTROLLER_BINARY="$KWOK_BIN_DIR/kwok"
  export KWOK_RUNTIME=binary
  # kwokctl runs `kubectl` from PATH for its readiness checks: use ours
  export PATH="$KUBE_BIN_DIR:$PATH"
}

# Stopping needs no build: the last build's paths, or none (then processes are stopped by pid).
load_binaries_for_stop() {
  if [ -f "$TDR_CACHE_DIR/kube-binaries.env" ]; then source "$TDR_CACHE_DIR/kube-binaries.env"; fi
  KWOKCTL="${KWOKCTL:-}"
}

kctl() { "$KUBECTL" --kubeconfig "$WORKDIR/kubeconfig" "$@"; }
kwokctl() { "$KWOKCTL" "$@"; }

# A killed process nobody has reaped yet (a container's PID 1 may never reap) is a zombie: dead.
pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
pid_of_file() { cat "$1" 2>/dev/null || true; }

# Processes of one cluster: the kwokctl components (pid files under the cluster dir) + kubelet-sim.
cluster_serving() { # NAME: every component kwokctl started is alive and the API server is ready
  local d f n=0; d="$(cluster_dir "$1")"
  for f in "$d"/pids/*.pid; do
    [ -f "$f" ] || return 1
    pid_alive "$(pid_of_file "$f")" || return 1
    n=$((n + 1))
  done
  [ $n -gt 0 ] && [ -f "$WORKDIR/kubeconfig" ] && [ -n "${KUBECTL:-}" ] && kctl --context "$1" get --raw /readyz --request-timeout=5s >/dev/null 2>&1
}

cluster_pids() {
  local d; d="$(cluster_dir "$1")"
  local f
  for f in "$d"/pids/*.pid "$PIDS/kubelet-sim-$1.pid"; do
    [ -f "$f" ] || continue
    local p; p="$(pid_of_file "$f")"
    pid_alive "$p" && echo "$p"
  done
  return 0
}

preflight() {
  if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    log "PostgreSQL (the sample app's database process) is missing; installing Debian's postgresql"
    if [ "$(id -u)" = 0 ]; then
      (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql) >"$LOGS/apt-postgresql.log" 2>&1 \
        || die "apt-get install postgresql failed; log: $LOGS/apt-postgresql.log"
    else
      die "install PostgreSQL first: sudo apt-get install -y postgresql"
    fi
  fi
  # postgres runs as the postgres user and must reach its data dir under $WORKDIR.
  if id postgres >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    chmod a+x "$WORKDIR"
    if ! runuser -u postgres -- test -x "$WORKDIR"; then
      die "user postgres cannot reach $WORKDIR (a parent folder lacks o+x, e.g. /root). Use a workdir under /tmp or the checkout (--workdir)."
    fi
  fi
  [ -f "$REPO_ROOT/node_modules/@kubernetes/client-node/package.json" ] || die "npm packages are missing: run npm ci in $REPO_ROOT"
}

write_kubeconfig() {
  local tmp="$WORKDIR/kubeconfig.tmp" parts=() c
  for c in "${CLUSTERS[@]}"; do
    local f="$WORKDIR/kubeconfig.$c"
    KUBECONFIG="$(cluster_dir "$c")/kubeconfig.yaml" "$KUBECTL" config view --raw --flatten --minify >"$f"
    "$KUBECTL" --kubeconfig "$f" config rename-context "kwok-$(kwok_name "$c")" "$c" >/dev/null
    parts+=("$f")
  done
  KUBECONFIG="$(IFS=:; echo "${parts[*]}")" "$KUBECTL" config view --raw --flatten >"$tmp"
  "$KUBECTL" --kubeconfig "$tmp" config use-context source >/dev/null
  chmod 600 "$tmp"; mv "$tmp" "$WORKDIR/kubeconfig"
  rm -f "${parts[@]}"
}

apiserver_port() { # from kwokctl's saved config
  sed -n 's/^ *kubeApiserverPort: *//p' "$(cluster_dir "$1")/kwok.yaml" 2>/dev/null | awk 'NR==1'
}

create_or_start_cluster() { # NAME [PORTS: six free ports, for a new cluster]
  local c="$1" name; name="$(kwok_name "$c")"
  local given_ports="${2:-}"
  local logf="$LOGS/kwokctl-$c.log"
  if [ -f "$(cluster_dir "$c")/kwok.yaml" ]; then
    local port; port="$(apiserver_port "$c")"
    if [ -n "$port" ] && port_in_use "$port"; then
      die "port $port of cluster $c's kube-apiserver is taken by another process ($(ss -ltnp "sport = :$port" 2>/dev/null | tail -n +2 | awk '{print $NF}')); stop it or run: $0 up --fresh --workdir $WORKDIR"
    fi
    # point the cluster at the binaries of this checkout's pins (they may have been rebuilt)
    local bin="$(cluster_dir "$c")/bin"
    ln -sfn "$KWOK_ETCD_BINARY" "$bin/etcd"
    ln -sfn "$KWOK_KUBE_APISERVER_BINARY" "$bin/kube-apiserver"
    ln -sfn "$KWOK_KUBE_CONTROLLER_MANAGER_BINARY" "$bin/kube-controller-manager"
    ln -sfn "$KWOK_KUBE_SCHEDULER_BINARY" "$bin/kube-scheduler"
    ln -sfn "$KWOK_CONTROLLER_BINARY" "$bin/kwok-controller"
    kwokctl start cluster --name "$name" --timeout 5m --wait 3m >>"$logf" 2>&1 \
      || die "starting cluster $c failed; log: $logf (and $(cluster_dir "$c")/logs/)"
  else
    # Every port is chosen here: kwokctl's own choice races when two clusters are created at once.
    local ports cfg="$KWOK_WORKDIR/$c-config.yaml" attempt
    read -r -a ports <<<"${given_ports:-$(free_ports 6)}"
    # Two attempts: on a loaded machine an API server once came up too slowly for kwokctl to install
    # its CRDs ("failed to init crds"), which failed a whole test run for a start-up hiccup.
    for attempt in 1 2; do
      cat >"$cfg" <<CFG
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokctlConfiguration
options:
  etcdPort: ${ports[0]}
  etcdPeerPort: ${ports[1]}
  kubeApiserverPort: ${ports[2]}
  kwokControllerPort: ${ports[3]}
  kubeControllerManagerPort: ${ports[4]}
  kubeSchedulerPort: ${ports[5]}
# The API server's default Service range (10.0.0.0/24) holds 254 Services: too few for the scale
# benchmarks, which must measure the product, not the stack. Inflight limits are raised for the
# same reason (the client side already runs without QPS limits).
componentsPatches:
- name: kube-apiserver
  extraArgs:
  - { key: service-cluster-ip-range, value: 10.96.0.0/16 }
  - { key: max-requests-inflight, value: "1600" }
  - { key: max-mutating-requests-inflight, value: "800" }
---
CFG
      cat "$STACK_SCRIPTS_DIR/kwok/stages.yaml" >>"$cfg"
      if kwokctl create cluster --name "$name" --runtime binary \
        --config "$cfg" \
        --enable-crds ClusterExec \
        --kubeconfig "$KWOK_KUBECONFIG" --disable-qps-limits --node-lease-duration-seconds 0 \
        --timeout 5m --wait 3m >>"$logf" 2>&1; then
        return 0
      fi
      [ "$attempt" = 1 ] || die "creating cluster $c failed twice; log: $logf (and $(cluster_dir "$c")/logs/)"
      log "creating cluster $c failed (log: $logf); deleting it and trying once more on new ports"
      kwokctl delete cluster --name "$name" --kubeconfig "$KWOK_KUBECONFIG" >>"$logf" 2>&1 || true
      read -r -a ports <<<"$(free_ports 6)"
    done
  fi
}

setup_cluster() { # NAME: nodes, storage classes, snapshot CRDs (idempotent)
  local c="$1" region; region="$(region_of "$c")"
  local i z nodes="" net
  # Pod IPs unique across both clusters (source 10.81.<node>.x, target 10.82.<node>.x): the kubelet
  # simulator serves HTTP pods on their pod IP, which the API server's Service proxy dials.
  net=$([ "$c" = source ] && echo 81 || echo 82)
  for i in 0 1 2; do
    z="abc"; z="${region}${z:$i:1}"
    nodes+="apiVersion: v1
kind: Node
metadata:
  name: node-$i
  annotations:
    kwok.x-k8s.io/node: fake
    node.alpha.kubernetes.io/ttl: \"0\"
  labels:
    kubernetes.io/hostname: node-$i
    kubernetes.io/os: linux
    kubernetes.io/arch: amd64
    type: kwok
    topology.kubernetes.io/region: $region
    topology.kubernetes.io/zone: $z
spec:
  podCIDR: 10.$net.$i.0/24
---
"
  done
  printf '%s' "$nodes" | kctl --context "$c" apply -f - >/dev/null
  kctl --context "$c" apply --server-side -f "$(snapshot_crds_file)" >/dev/null
  kctl --context "$c" wait --for condition=Established --timeout 60s crd/volumesnapshotclasses.snapshot.storage.k8s.io >/dev/null
  kctl --context "$c" apply -f "$STACK_SCRIPTS_DIR/manifests/storage.yaml" >/dev/null
}

start_sim() { # NAME
  local c="$1" pidf="$PIDS/kubelet-sim-$1.pid"
  if pid_alive "$(pid_of_file "$pidf")"; then return 0; fi
  rm -f "$PIDS/kubelet-sim-$c.synced"
  (cd "$REPO_ROOT"; setsid nohup node --disable-warning=ExperimentalWarning \
      --require "$REPO_ROOT/test/stack/register.js" "$REPO_ROOT/test/stack/kubelet-sim.ts" \
      --cluster "$c" --kubeconfig "$WORKDIR/kubeconfig" --context "$c" --workdir "$WORKDIR" \
      >>"$LOGS/kubelet-sim-$c.log" 2>&1 </dev/null & echo $! >"$pidf")
}

stop_sim() { # NAME
  local c="$1" pidf="$PIDS/kubelet-sim-$1.pid" p
  p="$(pid_of_file "$pidf")"
  if pid_alive "$p"; then
    kill -TERM "$p" 2>/dev/null || true
    local i=0; while pid_alive "$p" && [ $i -lt 200 ]; do sleep 0.2; i=$((i+1)); done
    pid_alive "$p" && kill -KILL -- "-$p" 2>/dev/null || true
  fi
  rm -f "$pidf"
  # postgres servers of this cluster's pods that outlived their supervisor
  local f
  for f in "$WORKDIR"/pods/"$c"/*/*/run/pid; do
    [ -f "$f" ] || continue
    p="$(pid_of_file "$f")"
    if pid_alive "$p" && grep -qa postgres "/proc/$p/cmdline" 2>/dev/null; then
      kill -INT "$p" 2>/dev/null || true
      local i=0; while pid_alive "$p" && [ $i -lt 100 ]; do sleep 0.2; i=$((i+1)); done
      pid_alive "$p" && kill -KILL "$p" 2>/dev/null || true
    fi
    rm -f "$f"
  done
}

stop_cluster() { # NAME
  local c="$1" name; name="$(kwok_name "$c")"
  # Taken before kwokctl removes its pid files: kwokctl stop returns at once while kube-apiserver
  # still drains (exec streams, watches), keeping its port; a start-one right after found it taken.
  local before; before="$(cluster_pids "$c")"
  stop_sim "$c"
  if [ -f "$(cluster_dir "$c")/kwok.yaml" ] && [ -x "$KWOKCTL" ]; then
    kwokctl stop cluster --name "$name" >>"$LOGS/kwokctl-$c.log" 2>&1 || true
  fi
  # anything kwokctl did not stop (crashed kwokctl, stale pid files, a component still draining)
  local p i
  for p in $before $(cluster_pids "$c"); do kill -TERM "$p" 2>/dev/null || true; done
  for i in $(seq 1 50); do
    local alive=0
    for p in $before; do pid_alive "$p" && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.2
  done
  for p in $before $(cluster_pids "$c"); do kill -KILL "$p" 2>/dev/null || true; done
  return 0
}

wait_ready() { # NAME STARTED(0|1)
  local c="$1" started="${2:-1}" i=0
  kctl --context "$c" wait --for condition=Ready --timeout 120s node --all >/dev/null \
    || die "the nodes of cluster $c did not become Ready; logs: $(cluster_dir "$c")/logs/"
  until kctl --context "$c" get serviceaccount default -n default >/dev/null 2>&1; do
    i=$((i+1)); [ $i -gt 300 ] && die "cluster $c: kube-controller-manager did not create the default ServiceAccount in 60s; logs: $(cluster_dir "$c")/logs/"
    sleep 0.2
  done
  # kubelet-sim has prepared every pod (after a restart: exec targets back, postgres running)
  i=0
  until [ -f "$PIDS/kubelet-sim-$c.synced" ]; do
    i=$((i+1)); [ $i -gt 600 ] && die "cluster $c: kubelet-sim did not prepare the pods within 120s; log: $LOGS/kubelet-sim-$c.log"
    pid_alive "$(pid_of_file "$PIDS/kubelet-sim-$c.pid")" || die "cluster $c: kubelet-sim exited; log: $LOGS/kubelet-sim-$c.log"
    sleep 0.2
  done
  # and a freshly (re)started kwok-controller has loaded the exec targets: exec into a running pod.
  # A reused cluster skips this (its kwok-controller was not restarted), and the candidates are
  # listed again on every try: tests delete namespaces and scale pods away while this runs.
  [ "$started" = 1 ] || return 0
  i=0
  until exec_probe "$c"; do
    i=$((i+1)); [ $i -gt 150 ] && die "cluster $c: exec into a running pod still fails after 30s; logs: $(cluster_dir "$c")/logs/kwok-controller.log"
    sleep 0.2
  done
}

# Succeeds when exec works in one of the first running pods, or when no pod runs at all.
exec_probe() { # NAME
  local c="$1" pods ns name
  pods="$(kctl --context "$c" get pods -A --field-selector status.phase=Running \
    -o jsonpath='{range .items[*]}{.metadata.namespace}{" "}{.metadata.name}{" "}{.metadata.deletionTimestamp}{"\n"}{end}' 2>/dev/null \
    | awk 'NF == 2' | head -3)"
  [ -n "$pods" ] || return 0
  while read -r ns name; do
    kctl --context "$c" exec -n "$ns" "$name" -- true >/dev/null 2>&1 && return 0
  done <<<"$pods"
  return 1
}

cmd_up() {
  load_binaries
  preflight
  local start=$SECONDS c
  if [ "$FRESH" = 1 ]; then cmd_down_purge_quiet; fi
  # A cluster whose components all run and whose API server answers is reused as it is (runs in
  # flight keep going); one with some processes down (a crash, kill -9) is stopped and started.
  local down=()
  for c in "${CLUSTERS[@]}"; do
    if cluster_serving "$c"; then
      log "cluster $c already running: reused"
    else
      if [ -n "$(cluster_pids "$c")" ]; then log "stopping the remaining processes of cluster $c"; stop_cluster "$c"; fi
      down+=("$c")
    fi
  done
  [ ${#down[@]} = 0 ] || log "starting cluster(s) ${down[*]} in $WORKDIR (kwok names $PREFIX-*)"
  local pids=() ports k=0
  [ ${#down[@]} = 0 ] || read -r -a ports <<<"$(free_ports $((6 * ${#down[@]})))"
  for c in "${down[@]}"; do
    ( create_or_start_cluster "$c" "${ports[*]:$k:6}" ) & pids+=($!)
    k=$((k + 6))
  done
  local failed=0 p; for p in "${pids[@]}"; do wait "$p" || failed=1; done
  [ $failed = 0 ] || { cmd_down; die "cluster start-up failed (see above)"; }
  write_kubeconfig
  for c in "${CLUSTERS[@]}"; do setup_cluster "$c"; start_sim "$c"; done
  for c in "${CLUSTERS[@]}"; do
    if [[ " ${down[*]} " == *" $c "* ]]; then wait_ready "$c" 1; else wait_ready "$c" 0; fi
  done
  log "clusters up in $((SECONDS - start))s; kubeconfig: $WORKDIR/kubeconfig (contexts source, target)"
  echo "TDR_KUBECONFIG=$WORKDIR/kubeconfig"
}

cmd_down() {
  load_binaries_for_stop
  local c
  for c in "${CLUSTERS[@]}"; do stop_cluster "$c"; done
  if [ "$PURGE" = 1 ]; then cmd_down_purge_quiet; fi
  # nothing of this workdir may survive: components, simulators, postgres servers
  local left
  left="$(pgrep -f -- "^$WORKDIR/kwok/clusters/|kubelet-sim\.ts .*--workdir $WORKDIR( |\$)|postgres -D $WORKDIR/" 2>/dev/null | tr '\n' ' ' || true)"
  if [ -n "$left" ]; then
    log "killing processes still using $WORKDIR: $left"
    kill -KILL $left 2>/dev/null || true
  fi
  log "clusters stopped ($WORKDIR)"
}

cmd_down_purge_quiet() {
  local c
  for c in "${CLUSTERS[@]}"; do
    stop_cluster "$c"
    if [ -d "$(cluster_dir "$c")" ] && [ -x "$KWOKCTL" ]; then
      kwokctl delete cluster --name "$(kwok_name "$c")" --kubeconfig "$KWOK_KUBECONFIG" >>"$LOGS/kwokctl-$c.log" 2>&1 || true
    fi
    rm -rf "$(cluster_dir "$c")" "$WORKDIR/pods/$c" "$WORKDIR/kubelet/$c" "$WORKDIR/volumes/$c" "$WORKDIR/snapshots/$c"
  done
  rm -f "$WORKDIR/kubeconfig"
}

cmd_status() { # exits 0 only when both clusters serve and both kubelet-sims run
  local c ok=1
  for c in "${CLUSTERS[@]}"; do
    local pids; pids="$(cluster_pids "$c" | tr '\n' ' ')"
    local port; port="$(apiserver_port "$c")"
    local state=stopped sim=DOWN
    [ -n "$pids" ] && state=DEGRADED
    cluster_serving "$c" && state=running
    [ -f "$(cluster_dir "$c")/kwok.yaml" ] || state=absent
    pid_alive "$(pid_of_file "$PIDS/kubelet-sim-$c.pid")" && sim=running
    [ "$state" = running ] && [ "$sim" = running ] || ok=0
    local rss=0 p simpid; simpid="$(pid_of_file "$PIDS/kubelet-sim-$c.pid")"
    # the cluster's components + kubelet-sim and the pod processes it runs (its process group)
    for p in $(printf '%s\n' $pids $( [ -n "$simpid" ] && pgrep -g "$simpid" ) | sort -u); do
      rss=$((rss + $(awk '/VmRSS/{r=$2} END{print r+0}' "/proc/$p/status" 2>/dev/null || echo 0)))
    done
    printf 'cluster %-7s %-8s apiserver=https://127.0.0.1:%s kubelet-sim=%s kwok-name=%s pids=[%s] rss=%sMiB\n' \
      "$c" "$state" "${port:-?}" "$sim" "$(kwok_name "$c")" "${pids% }" "$((rss / 1024))"
  done
  echo "kubeconfig: $WORKDIR/kubeconfig"
  [ $ok = 1 ]
}

case "$CMD" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) load_binaries_for_stop; cmd_status ;;
  stop-one)
    [ -n "$ONE" ] || die "usage: $0 stop-one source|target [--workdir DIR]"
    load_binaries_for_stop; stop_cluster "$ONE"; log "cluster $ONE stopped (data kept)" ;;
  start-one)
    [ -n "$ONE" ] || die "usage: $0 start-one source|target [--workdir DIR]"
    load_binaries; preflight; s=$SECONDS
    create_or_start_cluster "$ONE"; start_sim "$ONE"; wait_ready "$ONE"
    log "cluster $ONE started in $((SECONDS - s))s" ;;
  env)
    load_binaries
    echo "TDR_KUBECONFIG=$WORKDIR/kubeconfig"; echo "KUBECTL=$KUBECTL" ;;
  *) sed -n '2,20p' "$0" >&2; exit 2 ;;
esac
