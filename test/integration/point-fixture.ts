/**
 * Recovery points made cheaply through the store API (no cluster): a real repository, a real
 * volume snapshot per point (backupTree of a small folder), an encrypted-looking bundle object and
 * a catalog that passes parseCatalog. For retention, GC and prune tests.
 */
import { createHash, randomBytes } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Repository, backupTree, collectGarbage } from '../../activities/datapath';
import { ensureBucket, openStore } from '../../activities/store/open-store';
import type { ObjectStore } from '../../activities/store/object-store';
import { openCatalog, sealCatalog } from '../../activities/catalog/catalog-auth';
import { CATALOG_FORMAT_VERSION, catalogKey, resourcesKey, unsignedCatalogSchema, volumeSnapshotKey, type CatalogInput } from '../../shared/catalog';
import { validatePlan, type Plan, type RetentionSpec } from '../../shared/plan';
import type { StoreRef } from '../../shared/store-ref';
import { prng, rmrf, tempDir, SMALL_CHUNKER, SMALL_PACK } from '../unit/datapath/helpers';
import { uniqueId } from '../harness/temporal';

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

export interface PointStore {
  ref: StoreRef;
  store: ObjectStore;
  key: Buffer;
  repo: Repository;
}

/** A fresh bucket with an initialised repository; the key goes into process.env[keyEnv]. */
export async function storeWithRepository(keyEnv: string): Promise<PointStore> {
  const endpoint = process.env.S3_ENDPOINT;
  if (!endpoint) throw new Error('S3_ENDPOINT is not set: run through jest so the global setup starts MinIO');
  const ref: StoreRef = { endpoint, bucket: uniqueId('tdr-pts').toLowerCase(), prefix: 'dr', region: 'us-east-1', forcePathStyle: true };
  const store = openStore(ref);
  await ensureBucket(store);
  const key = randomBytes(32);
  process.env[keyEnv] = key.toString('base64');
  await Repository.init(store, key, { chunker: SMALL_CHUNKER, packSize: SMALL_PACK });
  const repo = await Repository.open(store, key, { packSize: SMALL_PACK });
  return { ref, store, key, repo };
}

/** A plan on `ref` for a test that writes points itself: its key, and optionally retention and Object Lock. */
export function fixturePlan(name: string, ref: StoreRef, opts: { keyFrom: Record<string, unknown>; retention?: RetentionSpec; objectLock?: Record<string, unknown> }): Plan {
  return validatePlan({
    apiVersion: 'temporal-dr/v1',
    kind: 'DRPlan',
    metadata: { name },
    spec: {
      source: { context: 'source' },
      selector: { namespaces: ['shop'] },
      store: {
        url: `s3://${ref.bucket}/${ref.prefix}`,
        endpoint: ref.endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        encryption: { keyFrom: opts.keyFrom },
        ...(opts.objectLock ? { objectLock: opts.objectLock } : {}),
      },
      ...(opts.retention ? { retention: opts.retention } : {}),
    },
  });
}

export const retentionPlan = (name: string, ref: StoreRef, keyEnv: string, retention: RetentionSpec): Plan => fixturePlan(name, ref, { keyFrom: { env: keyEnv }, retention });

/**
 * Complete points `ids[i]` (seed `seed + i`), 8 at a time, each through its own repository handle
 * as separate node agents would. Every backup session loads the whole index, one object per
 * earlier session, so after every 16 points the index is consolidated (a GC that keeps everything
 * rewrites it as one object): writing many points stays linear.
 */
export async function completePoints(s: PointStore, plan: Plan, ids: string[], seed: number): Promise<void> {
  for (let start = 0; start < ids.length; start += 16) {
    const batch = ids.slice(start, start + 16);
    for (let j = 0; j < batch.length; j += 8) {
      await Promise.all(
        batch.slice(j, j + 8).map(async (id, k) => {
          const repo = await Repository.open(s.store, s.key, { packSize: SMALL_PACK });
          await completePoint({ ...s, repo }, plan, id, seed + start + j + k);
        }),
      );
    }
    const written = ids.slice(0, start + batch.length);
    await collectGarbage(s.repo, { liveManifestKeys: written.map((id) => volumeSnapshotKey(plan.metadata.name, id, 'shop', 'data')), graceMs: 0 });
  }
}

/** A complete point whose one volume (shop/data) holds `bytes` bytes unique to it (seeded). */
export async function completePoint(s: PointStore, plan: Plan, id: string, seed: number, bytes = 20_000): Promise<void> {
  const dir = await tempDir('tdr-pts-');
  try {
    await writeFile(join(dir, 'data.bin'), prng(seed, bytes));
    const manifestKey = volumeSnapshotKey(plan.metadata.name, id, 'shop', 'data');
    const v = await backupTree(s.repo, { root: dir, manifestKey, sessionId: `s-${plan.metadata.name}-${id}`, checkpointEveryBytes: 2 ** 40, checkpointEveryMs: 2 ** 30 });
    const bundle = randomBytes(512);
    await s.store.put(resourcesKey(plan.metadata.name, id), bundle);
    const catalog = completeCatalog(plan, id, bundle, v);
    const body = sealCatalog(s.repo.keys, unsignedCatalogSchema.parse(catalog));
    openCatalog(s.repo.keys, body, { planName: plan.metadata.name, pointId: id, where: 'fixture' });
    await s.store.put(catalogKey(plan.metadata.name, id), body);
  } finally {
    await rmrf(dir);
  }
}

/** A valid catalog of a complete point with one volume (`shop/data`), for store-level fixtures. */
export function completeCatalog(plan: Plan, id: string, bundle: Buffer, v: { key: string; sha256: string; files: number; bytes: number }): CatalogInput {
  const t = new Date().toISOString();
  return {
    formatVersion: CATALOG_FORMAT_VERSION,
    pointId: id,
    planName: plan.metadata.name,
    plan,
    status: 'complete',
    source: { clusterName: 'source', context: 'source', kubernetesVersion: 'v1.31.0' },
    createdAt: t,
    startedAt: t,
    completedAt: t,
    resources: { bundle: { key: resourcesKey(plan.metadata.name, id), sha256: sha(bundle), size: bundle.length, encryption: 'aes-256-gcm' }, items: [] },
    volumes: [{ pvc: { namespace: 'shop', name: 'data' }, size: '1Gi', mode: 'copy', snapshotKey: v.key, snapshotSha256: v.sha256, files: v.files, bytes: v.bytes }],
    images: [],
    hooks: [],
    timings: [],
    totals: { resources: 0, volumes: 1, files: v.files, bytes: v.bytes, storedBytes: bundle.length },
  };
}
