/**
 * B10 (part): the store at scale. Finding the newest point of a plan that has 1,000 points, in the
 * local MinIO, against the floor any tool pays (one listing of the plan's prefix), and against
 * reading and authenticating every catalog (what latest cost before it stopped at the newest).
 * Requests are counted by wrapping the store.
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { sealCatalog } from '../activities/catalog/catalog-auth';
import { listPoints, newestPoint } from '../activities/catalog/points';
import { deriveKeys } from '../activities/datapath/crypto';
import { ensureBucket } from '../activities/store/open-store';
import type { ObjectStore } from '../activities/store/object-store';
import { S3ObjectStore } from '../activities/store/s3-object-store';
import { mapLimit } from '../activities/util/concurrency';
import { catalogKey, pointId, resourcesKey, unsignedCatalogSchema, volumeSnapshotKey } from '../shared/catalog';
import { validatePlan } from '../shared/plan';
import type { BenchContext } from './run';

const POINTS = 1000;
const PLAN = 'scale';

/** The store with its GET and LIST requests counted (LIST: one per page of up to 1,000 keys). */
function counting(store: S3ObjectStore): { store: ObjectStore; gets: () => number; reset: () => void } {
  let gets = 0;
  const wrapped: ObjectStore = Object.create(store) as ObjectStore;
  wrapped.get = (key: string) => (gets++, store.get(key));
  return { store: wrapped, gets: () => gets, reset: () => (gets = 0) };
}

async function timed<T>(f: () => Promise<T>): Promise<{ s: number; out: T }> {
  const t0 = performance.now();
  const out = await f();
  return { s: (performance.now() - t0) / 1000, out };
}

export async function storeScale(ctx: BenchContext): Promise<void> {
  const minio = await ctx.minio();
  const s3 = new S3ObjectStore({ endpoint: minio.endpoint, region: 'us-east-1', bucket: 'bench-scale', prefix: '', forcePathStyle: true, accessKeyId: minio.accessKeyId, secretAccessKey: minio.secretAccessKey });
  await ensureBucket(s3);
  const keys = deriveKeys(createHash('sha256').update('tdr-bench-scale-key').digest());
  const plan = validatePlan({
    apiVersion: 'temporal-dr/v1',
    kind: 'DRPlan',
    metadata: { name: PLAN },
    spec: { source: { context: 'source' }, selector: { namespaces: ['shop'] }, store: { url: 's3://bench-scale/', encryption: { keyFrom: { env: 'TDR_KEY' } } } },
  });
  const ids = Array.from({ length: POINTS }, (_, i) => pointId(new Date(Date.UTC(2026, 0, 1) + i * 3_600_000), `b${i}`));
  ctx.log(`B10: writing ${POINTS} points (catalog, bundle, one volume manifest each)`);
  await mapLimit(ids, 16, async (id) => {
    const t = new Date().toISOString();
    const catalog = unsignedCatalogSchema.parse({
      formatVersion: 2,
      pointId: id,
      planName: PLAN,
      plan,
      status: 'complete',
      source: { clusterName: 'source', kubernetesVersion: 'v1.36.1' },
      createdAt: t,
      startedAt: t,
      completedAt: t,
      resources: { bundle: { key: resourcesKey(PLAN, id), sha256: '0'.repeat(64), size: 64, encryption: 'aes-256-gcm' }, items: [] },
      volumes: [{ pvc: { namespace: 'shop', name: 'data' }, size: '1Gi', mode: 'copy', snapshotKey: volumeSnapshotKey(PLAN, id, 'shop', 'data'), snapshotSha256: '0'.repeat(64), files: 1, bytes: 1 }],
      images: [],
      hooks: [],
      timings: [],
      totals: { resources: 0, volumes: 1, files: 1, bytes: 1, storedBytes: 64 },
    });
    await s3.put(resourcesKey(PLAN, id), Buffer.alloc(64));
    await s3.put(volumeSnapshotKey(PLAN, id, 'shop', 'data'), Buffer.alloc(64));
    await s3.put(catalogKey(PLAN, id), sealCatalog(keys, catalog));
  });

  const c = counting(s3);
  const best = async <T>(f: () => Promise<T>) => {
    let r = await timed(f);
    for (let i = 1; i < ctx.repeat + 2; i++) {
      const again = await timed(f);
      if (again.s < r.s) r = again;
    }
    return r;
  };
  const floor = await best(async () => {
    let n = 0;
    for await (const _ of s3.list(`points/${PLAN}/`)) n++;
    return n;
  });
  c.reset();
  const ours = await best(() => newestPoint(c.store, PLAN, keys));
  const oursGets = c.gets() / (ctx.repeat + 2);
  if (ours.out?.pointId !== ids[POINTS - 1]) throw new Error(`B10: newest point is ${ours.out?.pointId}, expected ${ids[POINTS - 1]}`);
  c.reset();
  const everyCatalog = await timed(() => listPoints(c.store, PLAN, keys));
  const everyGets = c.gets();
  const listPages = Math.ceil(floor.out / 1000);

  ctx.table.add({
    id: 'B10.latest.vs-list',
    name: `latest point of a plan with ${POINTS} points (${floor.out} objects)`,
    ours: ours.s,
    baseline: floor.s,
    baselineName: 'one listing of the plan prefix (the floor)',
    unit: 's',
    better: 'lower',
    note: `${listPages} LIST + ${oursGets} GET vs ${listPages} LIST`,
  });
  ctx.table.add({
    id: 'B10.latest.vs-every-catalog',
    name: '  same, vs reading and authenticating every catalog',
    ours: ours.s,
    baseline: everyCatalog.s,
    baselineName: 'listPoints with the key (before)',
    unit: 's',
    better: 'lower',
    note: `${oursGets} GET vs ${everyGets} GET`,
  });
  ctx.raw.storeScale = { points: POINTS, objects: floor.out, latestS: ours.s, listS: floor.s, everyCatalogS: everyCatalog.s, latestGets: oursGets, everyCatalogGets: everyGets };
}
