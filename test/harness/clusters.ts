// Test helpers for the two local kwok clusters ("source" and "target") started by
// scripts/stack/clusters.sh. The global test setup starts them (startClusters) and sets
// TDR_KUBECONFIG to <workdir>/kubeconfig, whose contexts are named "source" and "target".
import * as k8s from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';
import YAML from 'yaml';

export type ClusterName = 'source' | 'target';
export const CLUSTERS: readonly ClusterName[] = ['source', 'target'];

const REPO_ROOT = path.resolve(__dirname, '..', '..');
const CLUSTERS_SH = path.join(REPO_ROOT, 'scripts', 'stack', 'clusters.sh');
const SAMPLE_APP_DIR = path.join(REPO_ROOT, 'test', 'fixtures', 'sample-app');
const FIELD_MANAGER = 'temporal-dr-tests';

/** Path of the kubeconfig of both clusters (TDR_KUBECONFIG). */
export function kubeconfigPath(): string {
  const p = process.env.TDR_KUBECONFIG;
  if (!p) throw new Error('TDR_KUBECONFIG is not set: the jest global setup starts the clusters (or run `scripts/stack/clusters.sh up` and export TDR_KUBECONFIG=<workdir>/kubeconfig)');
  if (!fs.existsSync(p)) throw new Error(`TDR_KUBECONFIG=${p} does not exist: are the clusters up? (scripts/stack/clusters.sh status)`);
  return p;
}

/** The clusters' work folder (kwok state, volumes, pod folders): the kubeconfig's folder. */
export function stackWorkdir(): string {
  return path.dirname(kubeconfigPath());
}

/**
 * The directory behind a PV of the local stack, for tests to write and compare data: a hostPath
 * PV's own path, or the simulated CSI driver's disk (never visible to product code).
 */
export function volumeDataDir(cluster: ClusterName, pv: k8s.V1PersistentVolume): string {
  if (pv.spec?.hostPath?.path) return pv.spec.hostPath.path;
  if (pv.spec?.csi?.volumeHandle) return path.join(stackWorkdir(), 'volumes', cluster, pv.spec.csi.volumeHandle);
  throw new Error(`PV ${pv.metadata?.name} is neither a hostPath nor a local-stack CSI volume`);
}

/** Host folder the kubelet simulator prepares for a pod (volumes/, containers/, run/, logs/). */
export function podDir(cluster: ClusterName, namespace: string, pod: string): string {
  return path.join(stackWorkdir(), 'pods', cluster, namespace, pod);
}

const kubeConfigs = new Map<ClusterName, k8s.KubeConfig>();
export function kubeConfigFor(cluster: ClusterName): k8s.KubeConfig {
  let kc = kubeConfigs.get(cluster);
  if (!kc) {
    kc = new k8s.KubeConfig();
    kc.loadFromFile(kubeconfigPath());
    kc.setCurrentContext(cluster);
    kubeConfigs.set(cluster, kc);
  }
  return kc;
}

export function coreApi(cluster: ClusterName): k8s.CoreV1Api { return kubeConfigFor(cluster).makeApiClient(k8s.CoreV1Api); }
export function appsApi(cluster: ClusterName): k8s.AppsV1Api { return kubeConfigFor(cluster).makeApiClient(k8s.AppsV1Api); }
export function objectApi(cluster: ClusterName): k8s.KubernetesObjectApi { return k8s.KubernetesObjectApi.makeApiClient(kubeConfigFor(cluster)); }

export interface TestNamespace {
  cluster: ClusterName;
  name: string;
  /** Deletes the namespace (and waits until it is gone when wait is true). */
  cleanup(opts?: { wait?: boolean; timeoutMs?: number }): Promise<void>;
}

/** Creates a namespace with a unique name (prefix-xxxxxx) and waits for its default ServiceAccount. */
export async function freshNamespace(cluster: ClusterName, prefix: string): Promise<TestNamespace> {
  const core = coreApi(cluster);
  const name = `${prefix.toLowerCase().replace(/[^a-z0-9-]/g, '-').slice(0, 50)}-${randomBytes(3).toString('hex')}`;
  await core.createNamespace({ body: { metadata: { name, labels: { 'temporal-dr.local/test': 'true' } } } });
  await waitFor(`default ServiceAccount in ${cluster}/${name}`, 30_000, async () => {
    try { await core.readNamespacedServiceAccount({ namespace: name, name: 'default' }); return true; } catch { return false; }
  });
  return {
    cluster,
    name,
    async cleanup(opts = {}) {
      try { await core.deleteNamespace({ name }); } catch (e) { if (httpCode(e) !== 404) throw e; }
      if (opts.wait) {
        await waitFor(`namespace ${cluster}/${name} deleted`, opts.timeoutMs ?? 60_000, async () => {
          try { await core.readNamespace({ name }); return false; } catch (e) { return httpCode(e) === 404; }
        });
      }
    },
  };
}

/** The sample application's objects: [cluster-scoped CRDs, namespaced objects]. */
export function sampleAppManifests(): { crds: k8s.KubernetesObject[]; objects: k8s.KubernetesObject[] } {
  const read = (f: string) => YAML.parseAllDocuments(fs.readFileSync(path.join(SAMPLE_APP_DIR, f), 'utf8'))
    .map((d) => d.toJSON() as k8s.KubernetesObject).filter(Boolean);
  return { crds: read('crd.yaml'), objects: read('app.yaml') };
}

/** Server-side applies objects (namespaced ones into `namespace`). */
export async function applyObjects(cluster: ClusterName, objects: k8s.KubernetesObject[], namespace?: string): Promise<void> {
  const api = objectApi(cluster);
  for (const o of objects) {
    const obj = structuredClone(o);
    if (namespace) obj.metadata = { ...obj.metadata, namespace };
    await api.patch(obj, undefined, undefined, FIELD_MANAGER, true, k8s.PatchStrategy.ServerSideApply);
  }
}

/** Applies the sample app (PostgreSQL StatefulSet, web Deployment, services, ingress, ...) into ns. */
export async function applySampleApp(cluster: ClusterName, namespace: string, opts: { storageClass?: string } = {}): Promise<void> {
  const { crds, objects } = sampleAppManifests();
  if (opts.storageClass) {
    for (const o of objects as { kind?: string; spec?: { volumeClaimTemplates?: { spec?: { storageClassName?: string } }[] } }[]) {
      for (const t of o.kind === 'StatefulSet' ? o.spec?.volumeClaimTemplates ?? [] : []) if (t.spec) t.spec.storageClassName = opts.storageClass;
    }
  }
  await applyObjects(cluster, crds);
  const ext = kubeConfigFor(cluster).makeApiClient(k8s.ApiextensionsV1Api);
  for (const crd of crds) {
    await waitFor(`CRD ${crd.metadata!.name} established`, 30_000, async () => {
      const c = await ext.readCustomResourceDefinition({ name: crd.metadata!.name! });
      return !!c.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True');
    });
  }
  await applyObjects(cluster, objects, namespace);
}

/** Waits until every Deployment and StatefulSet in ns has all replicas ready and up to date,
 *  and every pod of the namespace is Ready. Returns the ready pods' names. */
export async function waitForWorkloadsReady(cluster: ClusterName, namespace: string, timeoutMs = 90_000): Promise<string[]> {
  const apps = appsApi(cluster);
  const core = coreApi(cluster);
  let last = '';
  let pods: string[] = [];
  await waitFor(`workloads of ${cluster}/${namespace} ready`, timeoutMs, async () => {
    const notReady: string[] = [];
    for (const d of (await apps.listNamespacedDeployment({ namespace })).items) {
      const want = d.spec?.replicas ?? 1;
      const s = d.status ?? {};
      if ((s.readyReplicas ?? 0) < want || (s.updatedReplicas ?? 0) < want || (s.observedGeneration ?? 0) < (d.metadata?.generation ?? 0)) {
        notReady.push(`deployment/${d.metadata!.name} ${s.readyReplicas ?? 0}/${want}`);
      }
    }
    for (const st of (await apps.listNamespacedStatefulSet({ namespace })).items) {
      const want = st.spec?.replicas ?? 1;
      const s = st.status;
      if ((s?.readyReplicas ?? 0) < want || (s?.observedGeneration ?? 0) < (st.metadata?.generation ?? 0)) {
        notReady.push(`statefulset/${st.metadata!.name} ${s?.readyReplicas ?? 0}/${want}`);
      }
    }
    const list = (await core.listNamespacedPod({ namespace })).items.filter((p) => !p.metadata?.deletionTimestamp);
    for (const p of list) {
      if (!p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) notReady.push(`pod/${p.metadata!.name} ${p.status?.phase}`);
    }
    pods = list.map((p) => p.metadata!.name!);
    last = notReady.join(', ');
    return notReady.length === 0;
  }, () => `not ready: ${last}`);
  return pods;
}

export interface ExecResult {
  stdout: string;
  stderr: string;
  /** The command's exit code; -1 when the exec itself failed (see `error`). */
  exitCode: number;
  /** The failure message of the exec API when the command did not exit 0. */
  error?: string;
}

/**
 * Runs a command in a pod's container through the Kubernetes exec API (what hooks do), feeding
 * `stdin` when given (closed at its end). kwok reports a non-zero exit as a Failure status whose
 * message ends in "exit status N" rather than a NonZeroExitCode cause; both forms are read here.
 */
export async function execInPod(
  cluster: ClusterName, namespace: string, pod: string, container: string,
  command: string[], stdin?: string | Buffer, timeoutMs = 60_000,
): Promise<ExecResult> {
  const exec = new k8s.Exec(kubeConfigFor(cluster));
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const stdout = new PassThrough(); stdout.on('data', (b: Buffer) => out.push(b));
  const stderr = new PassThrough(); stderr.on('data', (b: Buffer) => err.push(b));
  const input = stdin === undefined ? null : Readable.from([Buffer.from(stdin)]);
  let status: k8s.V1Status | undefined;
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`exec ${command.join(' ')} in ${cluster}/${namespace}/${pod} timed out after ${timeoutMs}ms`)), timeoutMs);
    exec.exec(namespace, pod, container, command, stdout, stderr, input, false, (s) => { status = s; })
      .then((ws) => {
        ws.on('close', () => { clearTimeout(timer); resolve(); });
        ws.on('error', (e: Error) => { clearTimeout(timer); reject(e); });
      })
      .catch((e) => { clearTimeout(timer); reject(e); });
  });
  const result: ExecResult = { stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), exitCode: 0 };
  if (!status) return { ...result, exitCode: -1, error: 'the exec stream closed without a status' };
  if (status.status === 'Success') return result;
  const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
  const m = /exit status (\d+)/.exec(status.message ?? '');
  const code = cause ? Number(cause.message) : m ? Number(m[1]) : -1;
  return { ...result, exitCode: code, error: status.message };
}

/** Starts both clusters (scripts/stack/clusters.sh up) and sets process.env.TDR_KUBECONFIG. */
export async function startClusters(workdir: string, opts: { fresh?: boolean } = {}): Promise<{ kubeconfig: string }> {
  const stdout = await runClustersSh(['up', '--workdir', workdir, ...(opts.fresh ? ['--fresh'] : [])]);
  const m = /^TDR_KUBECONFIG=(.*)$/m.exec(stdout);
  const kubeconfig = m ? m[1] : path.join(workdir, 'kubeconfig');
  process.env.TDR_KUBECONFIG = kubeconfig;
  kubeConfigs.clear();
  return { kubeconfig };
}

/** Stops every process of both clusters; purge also deletes their state. */
export async function stopClusters(workdir: string, opts: { purge?: boolean } = {}): Promise<void> {
  await runClustersSh(['down', '--workdir', workdir, ...(opts.purge ? ['--purge'] : [])]);
}

/** Stops / starts one cluster keeping its data (fault tests). */
export async function stopCluster(workdir: string, cluster: ClusterName): Promise<void> { await runClustersSh(['stop-one', cluster, '--workdir', workdir]); }
export async function startCluster(workdir: string, cluster: ClusterName): Promise<void> { await runClustersSh(['start-one', cluster, '--workdir', workdir]); }

function runClustersSh(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile('bash', [CLUSTERS_SH, ...args], { maxBuffer: 16 << 20, timeout: 15 * 60_000 }, (e, stdout, stderr) => {
      if (e) reject(new Error(`clusters.sh ${args.join(' ')} failed (${e.message}):\n${stderr.split('\n').slice(-30).join('\n')}`));
      else resolve(stdout);
    });
    child.stderr?.on('data', (d) => process.stderr.write(d));
  });
}

export async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean>, detail?: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      if (await check()) return;
      lastErr = undefined;
    } catch (e) { lastErr = e; }
    if (Date.now() > deadline) {
      const extra = detail?.() ?? (lastErr ? String((lastErr as Error).message ?? lastErr) : '');
      throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}${extra ? `: ${extra}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

export function httpCode(e: unknown): number | undefined {
  return (e as { code?: number })?.code;
}
