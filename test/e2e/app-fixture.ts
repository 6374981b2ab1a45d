/** Shared set-up of the end-to-end tests: the sample app with data, a plan for it, and processes. */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { planToStoreRef, validatePlan, type Plan } from '../../shared/plan';
import type { RestoreRequest } from '../../shared/restore-request';
import type { StoreRef } from '../../shared/store-ref';
import { applyObjects, applySampleApp, coreApi, execInPod, volumeDataDir, waitForWorkloadsReady, type ClusterName } from '../harness/clusters';

export const psql = (sql: string) => ['psql', '-X', '-v', 'ON_ERROR_STOP=1', '-At', '-c', sql];
export const NODES = ['node-0', 'node-1', 'node-2'];

/** A second volume with plain files (nothing rewrites them), to compare byte for byte after a restore. */
export function uploadsManifests(storageClass = 'local-path'): k8s.KubernetesObject[] {
  return [
    {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'uploads', labels: { 'app.kubernetes.io/part-of': 'shop' } },
      spec: { accessModes: ['ReadWriteOnce'], storageClassName: storageClass, resources: { requests: { storage: '1Gi' } } },
    } as k8s.KubernetesObject,
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'uploads', labels: { 'app.kubernetes.io/part-of': 'shop' } },
      spec: {
        replicas: 1,
        selector: { matchLabels: { 'app.kubernetes.io/name': 'uploads' } },
        template: {
          metadata: { labels: { 'app.kubernetes.io/part-of': 'shop', 'app.kubernetes.io/name': 'uploads' } },
          spec: { containers: [{ name: 'files', image: 'registry.example.com/shop/files:1.0', volumeMounts: [{ name: 'data', mountPath: '/data' }] }], volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'uploads' } }] },
        },
      },
    } as k8s.KubernetesObject,
  ];
}

/** The directory on this machine that holds a PVC's data (a local-path PV, or the simulated CSI disk). */
export async function pvcDir(cluster: ClusterName, namespace: string, pvc: string): Promise<string> {
  const claim = await coreApi(cluster).readNamespacedPersistentVolumeClaim({ namespace, name: pvc });
  return volumeDataDir(cluster, await coreApi(cluster).readPersistentVolume({ name: claim.spec!.volumeName! }));
}

/** The storage classes every end-to-end data test runs on, with the class a restore maps each to. */
export const STORAGE_CLASSES = [
  { storageClass: 'local-path', mappedTo: 'local-path-b', snapshotClass: 'local-path-snapshots' },
  { storageClass: 'csi-disk', mappedTo: 'csi-disk-b', snapshotClass: 'csi-disk-snapshots' },
] as const;

/** Writes a deterministic tree of files (some random, some compressible) and returns their hashes. */
export function writeFiles(dir: string, totalBytes: number, seed = 'files'): Record<string, string> {
  const out: Record<string, string> = {};
  mkdirSync(path.join(dir, 'docs/nested'), { recursive: true });
  const sizes = [1, 100, 4096, 70_000, 1_000_000];
  let written = 0;
  let i = 0;
  while (written < totalBytes) {
    const size = i < sizes.length ? sizes[i] : Math.min(8 * 1024 * 1024, totalBytes - written);
    const body = i % 2 ? randomBytes(size) : Buffer.from(`${seed} line ${i}\n`.repeat(Math.ceil(size / 16))).subarray(0, size);
    const rel = i % 3 === 0 ? `docs/nested/f${i}.bin` : `f${i}.bin`;
    writeFileSync(path.join(dir, rel), body);
    out[rel] = createHash('sha256').update(body).digest('hex');
    written += size;
    i++;
  }
  return out;
}

export function hashTree(dir: string, only?: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const name of readdirSync(path.join(dir, rel))) {
      const r = rel ? `${rel}/${name}` : name;
      const st = statSync(path.join(dir, r));
      if (st.isDirectory()) walk(r);
      else if (!only || only.includes(r)) out[r] = createHash('sha256').update(readFileSync(path.join(dir, r))).digest('hex');
    }
  };
  walk('');
  return out;
}

/** Deploys the sample app plus the uploads volume into `ns` on the source and waits until ready. */
export async function deployShop(ns: string, uploadBytes: number, storageClass = 'local-path'): Promise<Record<string, string>> {
  await applySampleApp('source', ns, { storageClass });
  await applyObjects('source', uploadsManifests(storageClass), ns);
  await waitForWorkloadsReady('source', ns, 120_000);
  await waitForDatabase('source', ns);
  const r = await execInPod('source', ns, 'db-0', 'postgres', psql('CREATE TABLE orders (id int PRIMARY KEY, item text, at timestamptz DEFAULT now());'));
  if (r.exitCode !== 0) throw new Error(`create table failed: ${r.stderr}`);
  return writeFiles(await pvcDir('source', ns, 'uploads'), uploadBytes);
}

export function shopPlan(name: string, ns: string, store: StoreRef, keyEnv: string): Plan {
  return validatePlan({
    apiVersion: 'temporal-dr/v1',
    kind: 'DRPlan',
    metadata: { name },
    spec: {
      source: { context: 'source' },
      selector: { namespaces: [ns] },
      hooks: [
        {
          name: 'postgres',
          podSelector: { namespace: ns, matchLabels: { 'app.kubernetes.io/name': 'db' } },
          container: 'postgres',
          preset: 'postgresql',
          presetOptions: { user: 'shop', dataDirectory: '/var/lib/postgresql/data/pgdata' },
        },
      ],
      store: {
        url: `s3://${store.bucket}/${store.prefix}`,
        endpoint: store.endpoint,
        forcePathStyle: true,
        encryption: { keyFrom: { env: keyEnv } },
      },
      target: { context: 'target' },
    },
  });
}

/** Waits until the pod's PostgreSQL accepts queries on the app's database. */
export async function waitForDatabase(cluster: ClusterName, ns: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const r = await execInPod(cluster, ns, 'db-0', 'postgres', psql('SELECT 1;'));
    if (r.exitCode === 0) return;
    last = r.stderr;
    await new Promise((res) => setTimeout(res, 500));
  }
  throw new Error(`PostgreSQL in ${cluster}/${ns}/db-0 did not accept queries within ${timeoutMs / 1000}s: ${last}`);
}

/** A restore of a point of `plan` to "target", with the tests' defaults; `over` sets the rest. */
export function restoreRequest(plan: Plan, pointId: string, keyEnv: string, over: Partial<RestoreRequest> = {}): RestoreRequest {
  return {
    restoreId: `r-${randomBytes(4).toString('hex')}`,
    store: planToStoreRef(plan),
    keyEnv,
    planName: plan.metadata.name,
    pointId,
    target: { context: 'target', clusterName: 'target' },
    existingPolicy: 'fail',
    dryRun: false,
    rollbackOnFailure: false,
    waitReadyTimeoutMs: 180_000,
    ...over,
  };
}
