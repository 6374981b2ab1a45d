// What a kubelet and a storage driver would do for one kwok cluster of the local stack
// (kwok simulates nodes and pod status only). One process per cluster, started and stopped by
// scripts/stack/clusters.sh:
//   node --require ./test/stack/register.js test/stack/kubelet-sim.ts \
//     --cluster source --kubeconfig DIR/kubeconfig --context source --workdir DIR
//
// - runs the local-path provisioner (local-path-provisioner.ts) and the CSI snapshot simulation
//   for its volumes (local-path-snapshotter.ts: VolumeSnapshots become readyToUse, claims restore
//   from them);
// - for every pod bound to a node, prepares DIR/pods/<cluster>/<ns>/<pod>/:
//     volumes/<volumeName>   -> the PV's hostPath directory (PVC volumes), or a directory (emptyDir)
//     containers/<c>/root/<mountPath> -> the volume (subPath honoured), a tiny container "rootfs"
//     run/, logs/            runtime files (postgres port and pid) and process logs
// - and, as a real kubelet does, DIR/kubelet/<cluster>/<node>/pods/<pod uid>/volumes/<plugin>/<dir>
//   for each mounted volume (kubernetes.io~csi/<pv>/mount for CSI PVs, kubernetes.io~local-volume/<pv>
//   for local PVs, kubernetes.io~empty-dir/<name>; hostPath PVs get none, like the kubelet): the
//   directory node agents read through (TDR_KUBELET_ROOT=DIR/kubelet/{cluster}/{node});
//   registers a kwok ClusterExec for that pod, so `kubectl exec` / the exec API runs the
//   command here, in that directory, with these env vars (plus the container's own env):
//     TDR_CLUSTER TDR_NODE_NAME TDR_POD_NAMESPACE TDR_POD_NAME TDR_POD_UID TDR_POD_DIR
//     TDR_CONTAINER TDR_ROOT (the container rootfs above) TDR_VOLUMES_DIR
//     and for postgres pods PGHOST=127.0.0.1 PGPORT PGUSER PGDATABASE PGDATA(host path)
// - runs the real process of pods annotated stack.temporal-dr.local/run=postgres;
// - serves HTTP on the pod IP of pods annotated stack.temporal-dr.local/serve=http (http-pod.ts);
// - marks a pod prepared (annotation stack.temporal-dr.local/prepared=<uid>): only then do the
//   kwok stages of scripts/stack/kwok/stages.yaml make it Running/Ready;
// - when such a pod is deleted, stops its process first, then sets
//   stack.temporal-dr.local/stopped so kwok removes the pod.
import * as k8s from '@kubernetes/client-node';
import fs from 'node:fs';
import path from 'node:path';
import { LocalPathProvisioner, backingDirOf, errText } from './local-path-provisioner';
import { LocalPathSnapshotter } from './local-path-snapshotter';
import { PostgresProcess, freePort, sleep } from './postgres';
import { HttpPod } from './http-pod';

const ANN = 'stack.temporal-dr.local';
const A_RUN = `${ANN}/run`;
const A_PREPARED = `${ANN}/prepared`;
const A_STOPPED = `${ANN}/stopped`;
const A_SERVE = `${ANN}/serve`;
const EXEC_LABEL = `${ANN}/pod-uid`;
const FIELD_MANAGER = 'temporal-dr-kubelet-sim';

interface Args { cluster: string; kubeconfig: string; context: string; workdir: string }

function parseArgs(argv: string[]): Args {
  const a: Record<string, string> = {};
  for (let i = 0; i < argv.length; i += 2) a[argv[i].replace(/^--/, '')] = argv[i + 1];
  for (const k of ['cluster', 'kubeconfig', 'workdir']) if (!a[k]) throw new Error(`missing --${k}`);
  return { cluster: a.cluster, kubeconfig: a.kubeconfig, context: a.context ?? a.cluster, workdir: path.resolve(a.workdir) };
}

interface PodState {
  uid: string;
  dir: string;
  /** DIR/kubelet/<cluster>/<node>/pods/<uid> */
  kubeletDir?: string;
  execApplied: boolean;
  process?: PostgresProcess;
  starting?: Promise<void>;
  failed?: string;
  stopped?: boolean;
  http?: HttpPod | 'failed';
}

class KubeletSim {
  private readonly core: k8s.CoreV1Api;
  private readonly objects: k8s.KubernetesObjectApi;
  private readonly provisioner: LocalPathProvisioner;
  private readonly snapshotter: LocalPathSnapshotter;
  private readonly pods = new Map<string, PodState>(); // by uid
  private readonly podsDir: string;
  private readonly volumesDir: string;
  private wake?: () => void;
  private changed = false; // an event arrived while a pass was running: run another one at once
  private shuttingDown = false;
  private synced = false;

  constructor(private readonly args: Args, kc: k8s.KubeConfig) {
    this.core = kc.makeApiClient(k8s.CoreV1Api);
    this.objects = k8s.KubernetesObjectApi.makeApiClient(kc);
    this.podsDir = path.join(args.workdir, 'pods', args.cluster);
    this.volumesDir = path.join(args.workdir, 'volumes', args.cluster);
    this.snapshotter = new LocalPathSnapshotter({
      core: this.core,
      custom: kc.makeApiClient(k8s.CustomObjectsApi),
      volumesDir: path.join(args.workdir, 'volumes', args.cluster),
      snapshotsDir: path.join(args.workdir, 'snapshots', args.cluster),
      log,
    });
    this.provisioner = new LocalPathProvisioner({
      core: this.core,
      storage: kc.makeApiClient(k8s.StorageV1Api),
      volumesDir: path.join(args.workdir, 'volumes', args.cluster),
      log,
      snapshotDir: (ns, name) => this.snapshotter.snapshotDirFor(ns, name),
    });
    this.watchForChanges(kc, '/api/v1/pods');
    this.watchForChanges(kc, '/api/v1/persistentvolumeclaims');
    this.watchForChanges(kc, '/api/v1/persistentvolumes');
    this.watchForChanges(kc, '/apis/snapshot.storage.k8s.io/v1/volumesnapshots');
    this.watchForChanges(kc, '/apis/snapshot.storage.k8s.io/v1/volumesnapshotcontents');
  }

  /** Watches only to wake the reconcile loop early; the loop itself lists (robust to lost events). */
  private watchForChanges(kc: k8s.KubeConfig, p: string) {
    const start = () => {
      if (this.shuttingDown) return;
      new k8s.Watch(kc)
        .watch(p, { allowWatchBookmarks: false }, () => { this.changed = true; this.wake?.(); }, () => setTimeout(start, 1000))
        .catch(() => setTimeout(start, 1000));
    };
    start();
  }

  async run(): Promise<void> {
    while (!this.shuttingDown) {
      this.changed = false;
      try {
        await this.snapshotter.reconcile();
      } catch (e) {
        log(`snapshots: ${errText(e)}`);
      }
      try {
        await this.provisioner.reconcile();
        await this.reconcilePods();
      } catch (e) {
        log(`reconcile: ${errText(e)}`);
      }
      await new Promise<void>((resolve) => {
        if (this.changed) { resolve(); return; }
        const t = setTimeout(resolve, 1000);
        this.wake = () => { clearTimeout(t); resolve(); };
      });
      this.wake = undefined;
      await sleep(50); // coalesce bursts of events
    }
  }

  async shutdown(): Promise<void> {
    this.shuttingDown = true;
    this.wake?.();
    await Promise.all([...this.pods.values()].map((s) => Promise.all([s.process?.stop().catch(() => undefined), this.stopHttp(s)])));
  }

  private async stopHttp(st: PodState) {
    const h = st.http;
    if (h && h !== 'failed') await h.stop().catch(() => undefined);
    if (h) st.http = undefined;
  }

  private async reconcilePods() {
    const list = await this.core.listPodForAllNamespaces();
    const seen = new Set<string>();
    let allPrepared = true;
    for (const pod of list.items) {
      const uid = pod.metadata!.uid!;
      if (!pod.spec?.nodeName) continue;
      seen.add(uid);
      if (pod.metadata?.deletionTimestamp || pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') {
        await this.terminate(pod).catch((e) => log(`terminate ${podRef(pod)}: ${errText(e)}`));
        continue;
      }
      const done = await this.prepare(pod).catch((e) => { log(`prepare ${podRef(pod)}: ${errText(e)}`); return false; });
      // pods that were running before a restart must be back; new ones do not hold up start-up
      if (pod.metadata?.annotations?.[A_PREPARED] === uid) allPrepared &&= done;
    }
    for (const [uid, st] of this.pods) {
      if (seen.has(uid)) continue;
      await st.process?.stop();
      await this.stopHttp(st);
      this.pods.delete(uid);
      this.removePodDir(st);
      await this.deleteExec(uid);
    }
    await this.collectOrphanExecs(seen);
    // After a (re)start, clusters.sh waits for this file: every pod prepared, processes running.
    if (allPrepared && !this.synced) {
      this.synced = true;
      fs.writeFileSync(path.join(this.args.workdir, 'pids', `kubelet-sim-${this.args.cluster}.synced`), new Date().toISOString());
      log('all pods prepared');
    }
  }

  private podDir(pod: k8s.V1Pod) {
    return path.join(this.podsDir, pod.metadata!.namespace!, pod.metadata!.name!);
  }

  /** Returns true when the pod is fully prepared (or cannot be: failed). */
  private async prepare(pod: k8s.V1Pod): Promise<boolean> {
    const uid = pod.metadata!.uid!;
    let st = this.pods.get(uid);
    if (!st) {
      st = { uid, dir: this.podDir(pod), execApplied: false };
      this.pods.set(uid, st);
    }
    if (st.failed) return true;
    if (st.starting) return false; // process start in flight
    const kubelet = new Map<string, string>();
    const volumes = await this.resolveVolumes(pod, kubelet);
    if (!volumes) return false; // a claim is not bound yet
    this.layoutPodDir(pod, st, volumes);
    this.layoutKubeletDir(pod, st, kubelet);

    const runKind = pod.metadata?.annotations?.[A_RUN];
    let extraEnv: Record<string, string> = {};
    if (runKind === 'postgres') {
      const r = await this.ensurePostgres(pod, st, volumes);
      if (!r) return !!st.failed;
      extraEnv = r;
    } else if (runKind) {
      st.failed = `unknown ${A_RUN}=${runKind}`;
      log(`${podRef(pod)}: ${st.failed}`);
      return true;
    }
    if (!st.execApplied) {
      await this.applyExec(pod, st, volumes, extraEnv);
      st.execApplied = true;
    }
    if (pod.metadata?.annotations?.[A_PREPARED] !== uid) {
      await this.annotate(pod, { [A_PREPARED]: uid });
      log(`prepared ${podRef(pod)} on ${pod.spec!.nodeName}`);
    }
    // kwok gives the pod its IP once prepared: serve from the next pass on.
    if (pod.metadata?.annotations?.[A_SERVE] === 'http' && !st.http && !st.stopped) {
      st.http = await HttpPod.start(this.core, pod, log).catch((e) => {
        log(`${podRef(pod)}: ${errText(e)}`);
        return 'failed' as const;
      });
    }
    return true;
  }

  /** volume name -> host directory; undefined while a claim is unbound. `kubelet` collects each volume's kubelet directory. */
  private async resolveVolumes(pod: k8s.V1Pod, kubelet = new Map<string, string>()): Promise<Map<string, string> | undefined> {
    const out = new Map<string, string>();
    const ns = pod.metadata!.namespace!;
    for (const v of pod.spec?.volumes ?? []) {
      if (v.persistentVolumeClaim) {
        let pvc: k8s.V1PersistentVolumeClaim;
        try {
          pvc = await this.core.readNamespacedPersistentVolumeClaim({ namespace: ns, name: v.persistentVolumeClaim.claimName });
        } catch { return undefined; }
        if (pvc.status?.phase !== 'Bound' || !pvc.spec?.volumeName) return undefined;
        const pv = await this.core.readPersistentVolume({ name: pvc.spec.volumeName });
        const host = backingDirOf(pv, this.volumesDir) ?? pv.spec?.hostPath?.path ?? pv.spec?.local?.path;
        if (!host) continue; // not a volume this machine can serve: nothing to link
        fs.mkdirSync(host, { recursive: true });
        out.set(v.name, host);
        const pvName = pv.metadata!.name!;
        if (pv.spec?.csi) kubelet.set(`kubernetes.io~csi/${pvName}/mount`, host);
        else if (pv.spec?.local) kubelet.set(`kubernetes.io~local-volume/${pvName}`, host);
        // hostPath PVs: the kubelet uses the host path itself, there is no pod directory for them
      } else if (v.emptyDir) {
        const dir = path.join(this.podDir(pod), 'empty-dirs', v.name);
        out.set(v.name, dir);
        kubelet.set(`kubernetes.io~empty-dir/${v.name}`, dir);
      } else if (v.hostPath) {
        out.set(v.name, v.hostPath.path);
      }
    }
    return out;
  }

  /** The kubelet's own layout: <kubelet root>/pods/<uid>/volumes/<plugin>/<dir>, each a mount of the volume. */
  private layoutKubeletDir(pod: k8s.V1Pod, st: PodState, kubelet: Map<string, string>) {
    st.kubeletDir = path.join(this.args.workdir, 'kubelet', this.args.cluster, pod.spec!.nodeName!, 'pods', st.uid);
    fs.mkdirSync(path.join(st.kubeletDir, 'volumes'), { recursive: true });
    for (const [sub, host] of kubelet) {
      fs.mkdirSync(host, { recursive: true });
      symlink(host, path.join(st.kubeletDir, 'volumes', sub));
    }
  }

  private layoutPodDir(pod: k8s.V1Pod, st: PodState, volumes: Map<string, string>) {
    const dir = st.dir;
    // A pod of the same name but another uid (StatefulSet pod recreated) may still own the folder.
    const uidFile = path.join(dir, 'uid');
    if (fs.existsSync(uidFile) && fs.readFileSync(uidFile, 'utf8') !== st.uid) {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    for (const sub of ['volumes', 'containers', 'run', 'logs']) fs.mkdirSync(path.join(dir, sub), { recursive: true });
    fs.writeFileSync(uidFile, st.uid);
    for (const [name, host] of volumes) {
      if (host.startsWith(path.join(dir, 'empty-dirs'))) fs.mkdirSync(host, { recursive: true });
      symlink(host, path.join(dir, 'volumes', name));
    }
    for (const c of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]) {
      const root = path.join(dir, 'containers', c.name, 'root');
      fs.mkdirSync(root, { recursive: true });
      for (const m of c.volumeMounts ?? []) {
        const host = volumes.get(m.name);
        if (!host) continue;
        const target = m.subPath ? path.join(host, m.subPath) : host;
        if (m.subPath) fs.mkdirSync(target, { recursive: true });
        symlink(target, path.join(root, m.mountPath));
      }
    }
  }

  /** Maps a path inside container c to the host, through its volume mounts. */
  private hostPathFor(c: k8s.V1Container, volumes: Map<string, string>, p: string): { host: string; volumeRoot: string } | undefined {
    let best: k8s.V1VolumeMount | undefined;
    for (const m of c.volumeMounts ?? []) {
      const mp = m.mountPath.replace(/\/+$/, '');
      if ((p === mp || p.startsWith(mp + '/')) && (!best || mp.length > best.mountPath.length)) best = m;
    }
    if (!best || !volumes.get(best.name)) return undefined;
    const volumeRoot = best.subPath ? path.join(volumes.get(best.name)!, best.subPath) : volumes.get(best.name)!;
    return { host: path.join(volumeRoot, p.slice(best.mountPath.replace(/\/+$/, '').length)), volumeRoot };
  }

  private async ensurePostgres(pod: k8s.V1Pod, st: PodState, volumes: Map<string, string>): Promise<Record<string, string> | undefined> {
    const c = pod.spec!.containers.find((x) => x.name === (pod.metadata?.annotations?.[`${ANN}/container`] ?? x.name))!;
    const env = await this.containerEnv(pod, c);
    const pgdata = env.PGDATA ?? '/var/lib/postgresql/data';
    const mapped = this.hostPathFor(c, volumes, pgdata);
    if (!mapped) {
      st.failed = `PGDATA ${pgdata} is not on a volume of container ${c.name}`;
      log(`${podRef(pod)}: ${st.failed}`);
      return undefined;
    }
    const portFile = path.join(st.dir, 'run', 'port');
    let port = Number(fs.existsSync(portFile) ? fs.readFileSync(portFile, 'utf8') : 0);
    if (!port) { port = await freePort(); fs.writeFileSync(portFile, String(port)); }
    const user = env.POSTGRES_USER || 'postgres';
    const database = env.POSTGRES_DB || user;
    if (!st.process || !st.process.running) {
      const proc = new PostgresProcess({
        dataDir: mapped.host, volumeRoot: mapped.volumeRoot, port, user, database,
        logFile: path.join(st.dir, 'logs', `${c.name}.log`), pidFile: path.join(st.dir, 'run', 'pid'),
      }, (m) => log(`${podRef(pod)}: ${m}`));
      st.process = proc;
      st.starting = proc.start(() => {
        // Crashed or killed from outside: restart it (restartPolicy Always), unless the pod is going.
        if (!this.shuttingDown && this.pods.get(st.uid) === st && !st.stopped) {
          log(`${podRef(pod)}: restarting postgres`);
          this.wake?.();
        }
      }).catch((e) => {
        log(`${podRef(pod)}: postgres failed to start: ${errText(e)}`);
      }).finally(() => { st.starting = undefined; this.wake?.(); });
      return undefined; // finish preparing on the next pass, once it is up
    }
    return { PGHOST: '127.0.0.1', PGPORT: String(port), PGUSER: user, PGDATABASE: database, PGDATA: mapped.host };
  }

  /** The container's environment as a kubelet would build it (literal values, Secret/ConfigMap refs). */
  private async containerEnv(pod: k8s.V1Pod, c: k8s.V1Container): Promise<Record<string, string>> {
    const ns = pod.metadata!.namespace!;
    const out: Record<string, string> = {};
    for (const ef of c.envFrom ?? []) {
      try {
        if (ef.configMapRef) {
          const cm = await this.core.readNamespacedConfigMap({ namespace: ns, name: ef.configMapRef.name! });
          for (const [k, v] of Object.entries(cm.data ?? {})) out[(ef.prefix ?? '') + k] = v;
        } else if (ef.secretRef) {
          const s = await this.core.readNamespacedSecret({ namespace: ns, name: ef.secretRef.name! });
          for (const [k, v] of Object.entries(s.data ?? {})) out[(ef.prefix ?? '') + k] = Buffer.from(v, 'base64').toString();
        }
      } catch { /* optional or missing: skip */ }
    }
    for (const e of c.env ?? []) {
      try {
        if (e.value !== undefined) out[e.name] = e.value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (m, n) => out[n] ?? m);
        else if (e.valueFrom?.secretKeyRef) {
          const s = await this.core.readNamespacedSecret({ namespace: ns, name: e.valueFrom.secretKeyRef.name! });
          const v = s.data?.[e.valueFrom.secretKeyRef.key];
          if (v !== undefined) out[e.name] = Buffer.from(v, 'base64').toString();
        } else if (e.valueFrom?.configMapKeyRef) {
          const cm = await this.core.readNamespacedConfigMap({ namespace: ns, name: e.valueFrom.configMapKeyRef.name! });
          const v = cm.data?.[e.valueFrom.configMapKeyRef.key];
          if (v !== undefined) out[e.name] = v;
        } else if (e.valueFrom?.fieldRef) {
          const fp = e.valueFrom.fieldRef.fieldPath;
          const v = fp === 'metadata.name' ? pod.metadata!.name : fp === 'metadata.namespace' ? ns : fp === 'spec.nodeName' ? pod.spec!.nodeName : undefined;
          if (v) out[e.name] = v;
        }
      } catch { /* optional or missing: skip */ }
    }
    return out;
  }

  private async applyExec(pod: k8s.V1Pod, st: PodState, volumes: Map<string, string>, extraEnv: Record<string, string>) {
    const execs = [];
    for (const c of [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])]) {
      const env: Record<string, string> = {
        ...(await this.containerEnv(pod, c)),
        TDR_CLUSTER: this.args.cluster,
        TDR_NODE_NAME: pod.spec!.nodeName!,
        TDR_POD_NAMESPACE: pod.metadata!.namespace!,
        TDR_POD_NAME: pod.metadata!.name!,
        TDR_POD_UID: st.uid,
        TDR_POD_DIR: st.dir,
        TDR_CONTAINER: c.name,
        TDR_ROOT: path.join(st.dir, 'containers', c.name, 'root'),
        TDR_VOLUMES_DIR: path.join(st.dir, 'volumes'),
        ...extraEnv,
      };
      // Without an explicit PATH the container's env would replace the machine's.
      delete env.PATH;
      execs.push({
        containers: [c.name],
        local: { workDir: st.dir, envs: Object.entries(env).map(([name, value]) => ({ name, value })) },
      });
    }
    const body = {
      apiVersion: 'kwok.x-k8s.io/v1alpha1',
      kind: 'ClusterExec',
      metadata: { name: execName(st.uid), labels: { [EXEC_LABEL]: st.uid, 'app.kubernetes.io/managed-by': FIELD_MANAGER } },
      spec: { selector: { matchNamespaces: [pod.metadata!.namespace!], matchNames: [pod.metadata!.name!] }, execs },
    };
    await this.objects.patch(body as k8s.KubernetesObject, undefined, undefined, FIELD_MANAGER, true, k8s.PatchStrategy.ServerSideApply);
  }

  private async deleteExec(uid: string) {
    try {
      await this.objects.delete({ apiVersion: 'kwok.x-k8s.io/v1alpha1', kind: 'ClusterExec', metadata: { name: execName(uid) } });
    } catch { /* already gone */ }
  }

  private async collectOrphanExecs(live: Set<string>) {
    const list = await this.objects.list('kwok.x-k8s.io/v1alpha1', 'ClusterExec', undefined, undefined, undefined, undefined, undefined, EXEC_LABEL);
    for (const ce of list.items) {
      const uid = ce.metadata?.labels?.[EXEC_LABEL];
      if (uid && !live.has(uid)) await this.deleteExec(uid);
    }
  }

  private async terminate(pod: k8s.V1Pod) {
    const uid = pod.metadata!.uid!;
    const st = this.pods.get(uid);
    if (st) {
      st.stopped = true;
      await this.stopHttp(st);
      if (st.starting) await st.starting;
      if (st.process) {
        const wasRunning = st.process.running;
        await st.process.stop();
        if (wasRunning) log(`${podRef(pod)}: process stopped`);
      }
    }
    if (pod.metadata?.annotations?.[A_RUN] && pod.metadata?.deletionTimestamp && !pod.metadata.annotations[A_STOPPED]) {
      await this.annotate(pod, { [A_STOPPED]: 'true' });
    }
  }

  private removePodDir(st: PodState) {
    // Symlinks only ("mounts"): removing them never touches the volumes' data.
    if (st.kubeletDir) fs.rmSync(st.kubeletDir, { recursive: true, force: true });
    const uidFile = path.join(st.dir, 'uid');
    try {
      if (fs.readFileSync(uidFile, 'utf8') === st.uid) fs.rmSync(st.dir, { recursive: true, force: true }); // symlinks are not followed
    } catch { /* gone */ }
  }

  private async annotate(pod: k8s.V1Pod, annotations: Record<string, string>) {
    try {
      await this.core.patchNamespacedPod(
        { namespace: pod.metadata!.namespace!, name: pod.metadata!.name!, body: { metadata: { uid: pod.metadata!.uid, annotations } } },
        k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
      );
    } catch (e) {
      if ((e as { code?: number }).code === 404 || (e as { code?: number }).code === 409) return; // gone or replaced
      throw e;
    }
  }
}

function execName(uid: string) { return `pod-${uid}`; }
function podRef(p: k8s.V1Pod) { return `${p.metadata?.namespace}/${p.metadata?.name}`; }
function log(msg: string) { process.stderr.write(`${new Date().toISOString()} ${msg}\n`); }

function symlink(target: string, link: string) {
  fs.mkdirSync(path.dirname(link), { recursive: true });
  try {
    if (fs.readlinkSync(link) === target) return;
    fs.rmSync(link, { force: true });
  } catch { /* absent, or a directory */ }
  try { fs.symlinkSync(target, link); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(args.kubeconfig);
  kc.setCurrentContext(args.context);
  const sim = new KubeletSim(args, kc);
  let stopping = false;
  const stop = async (sig: string) => {
    if (stopping) return;
    stopping = true;
    log(`${sig}: stopping pod processes`);
    await sim.shutdown();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
  log(`kubelet-sim for cluster ${args.cluster} (context ${args.context}) in ${args.workdir}`);
  await sim.run();
}

main().catch((e) => {
  log(`fatal: ${errText(e)}`);
  process.exit(1);
});
