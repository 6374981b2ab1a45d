/**
 * B10: the store at scale, in the local MinIO (no cluster, no Temporal).
 *
 * Latest point: finding the newest point of a plan that has 1,000 points, against the floor any
 * tool pays (one listing of the plan's prefix), and against reading and authenticating every
 * catalog (what latest cost before it stopped at the newest). GETs counted by wrapping the store.
 *
 * GC: a repository shared by BENCH_GC_PLANS plans (default 50) with BENCH_GC_POINTS points each
 * (default 100). Each point is made with the product's writers as one backup session would leave
 * it: a 4 KiB chunk of its own (Repository.addChunk + flush: one pack and one index object per
 * point) plus a 16 KiB chunk its plan's points share, a sealed volume manifest naming both, a
 * bundle object and a sealed catalog. Then one GC that expires nothing consolidates the index (as
 * the Retention phase of every backup keeps it), and the measured step is the Retention phase's
 * entry point (applyRetention, here applyRetentionIn on a store whose S3 client counts requests by
 * command) for ONE plan with keepLast: 1: 99 points expired, then store-wide GC (grace 0, so the
 * packs just written may go). Baseline: the same run on a bucket holding only that plan's points
 * (what it would cost if GC were independent of the other plans), and one LIST of the shared bucket.
 */
import { createHash, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { sealCatalog } from '../activities/catalog/catalog-auth';
import { listPoints, newestPoint } from '../activities/catalog/points';
import { deriveKeys } from '../activities/datapath/crypto';
import { Repository } from '../activities/datapath/repository';
import type { FileEntry, VolumeManifest } from '../activities/datapath/manifest';
import { applyRetentionIn, type RetentionResult } from '../activities/backup/retention';
import { ensureBucket } from '../activities/store/open-store';
import type { ObjectStore } from '../activities/store/object-store';
import { S3ObjectStore } from '../activities/store/s3-object-store';
import { mapLimit } from '../activities/util/concurrency';
import { catalogKey, pointId, resourcesKey, unsignedCatalogSchema, volumeSnapshotKey } from '../shared/catalog';
import { validatePlan, type Plan } from '../shared/plan';
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
  await latestPoint(ctx);
  await gcScale(ctx);
}

async function latestPoint(ctx: BenchContext): Promise<void> {
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
    const catalog = completeCatalog(plan, id, { sha256: '0'.repeat(64), size: 64 }, { snapshotKey: volumeSnapshotKey(PLAN, id, 'shop', 'data'), snapshotSha256: '0'.repeat(64), files: 1, bytes: 1 }, 64);
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

// ---------------------------------------------------------------------------------------------
// GC of a shared repository

const GC_KEY_ENV = 'TDR_BENCH_GC_KEY';

/** An S3 store whose client counts requests (HTTP attempts) by command name. */
function countingS3(bucket: string, minio: { endpoint: string; accessKeyId: string; secretAccessKey: string }) {
  const s3 = new S3ObjectStore({ endpoint: minio.endpoint, region: 'us-east-1', bucket, prefix: '', forcePathStyle: true, accessKeyId: minio.accessKeyId, secretAccessKey: minio.secretAccessKey });
  const counts: Record<string, number> = {};
  s3.client.middlewareStack.add(
    (next, context) => async (args) => {
      const name = String((context as { commandName?: string }).commandName ?? '?').replace(/Command$/, '');
      counts[name] = (counts[name] ?? 0) + 1;
      return next(args);
    },
    { step: 'finalizeRequest', name: 'benchRequestCounter' },
  );
  return {
    store: s3,
    counts,
    reset: () => {
      for (const k of Object.keys(counts)) delete counts[k];
    },
    total: () => Object.values(counts).reduce((a, b) => a + b, 0),
  };
}

const gcPlan = (bucket: string, endpoint: string, name: string): Plan =>
  validatePlan({
    apiVersion: 'temporal-dr/v1',
    kind: 'DRPlan',
    metadata: { name },
    spec: {
      source: { context: 'source' },
      selector: { namespaces: ['shop'] },
      store: { url: `s3://${bucket}/`, endpoint, forcePathStyle: true, encryption: { keyFrom: { env: GC_KEY_ENV } } },
      retention: { keepLast: 1 },
    },
  });

/** The catalog of a complete point with one resource bundle and one volume of namespace "shop", written now. */
function completeCatalog(
  plan: Plan,
  id: string,
  bundle: { sha256: string; size: number },
  volume: { snapshotKey: string; snapshotSha256: string; files: number; bytes: number },
  storedBytes: number,
) {
  const t = new Date().toISOString();
  const name = plan.metadata.name;
  return unsignedCatalogSchema.parse({
    formatVersion: 2,
    pointId: id,
    planName: name,
    plan,
    status: 'complete',
    source: { clusterName: 'source', kubernetesVersion: 'v1.36.1' },
    createdAt: t,
    startedAt: t,
    completedAt: t,
    resources: { bundle: { key: resourcesKey(name, id), ...bundle, encryption: 'aes-256-gcm' }, items: [] },
    volumes: [{ pvc: { namespace: 'shop', name: 'data' }, size: '1Gi', mode: 'copy', ...volume }],
    images: [],
    hooks: [],
    timings: [],
    totals: { resources: 0, volumes: 1, files: volume.files, bytes: volume.bytes, storedBytes },
  });
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** `points` complete points of `plan`, one pack + index object each, as described in the header. */
async function writePlanPoints(store: S3ObjectStore, key: Buffer, plan: Plan, points: number, tag: string): Promise<void> {
  const repo = await Repository.open(store, key, { skipIndex: true });
  const name = plan.metadata.name;
  const base = randomBytes(16 * 1024);
  const baseId = (await repo.addChunk(base)).id;
  const entry = (path: string, data: Buffer, id: string): FileEntry => ({ type: 'file', path, mode: 0o644, uid: 0, gid: 0, mtimeNs: '0', size: data.length, sha256: sha256(data), chunks: [[id, data.length]] });
  for (let k = 0; k < points; k++) {
    const id = pointId(new Date(Date.UTC(2026, 0, 1) + k * 3_600_000), `${tag}k${k}`);
    const own = randomBytes(4096);
    const ownId = (await repo.addChunk(own)).id;
    await repo.flush();
    const t = new Date().toISOString();
    const manifest: VolumeManifest = {
      format: 'tdr-volume-snapshot',
      version: 1,
      sessionId: `s-${name}-${k}`,
      created: t,
      completed: t,
      source: {},
      chunker: repo.config.chunker,
      summary: { files: 2, dirs: 1, symlinks: 0, bytes: base.length + own.length, skipped: 0, newBytesUploaded: 0, newChunkBytes: own.length, dedupedBytes: base.length, packsUploaded: 1, resumedFiles: 0, resumedBytes: 0 },
      skipped: [],
      entries: [{ type: 'dir', path: '.', mode: 0o755, uid: 0, gid: 0, mtimeNs: '0' }, entry('base.bin', base, baseId), entry('own.bin', own, ownId)],
    };
    const manifestKey = volumeSnapshotKey(name, id, 'shop', 'data');
    const body = repo.sealObject('manifest', manifest);
    await store.put(manifestKey, body);
    const bundle = randomBytes(512);
    await store.put(resourcesKey(name, id), bundle);
    const catalog = completeCatalog(plan, id, { sha256: sha256(bundle), size: bundle.length }, { snapshotKey: manifestKey, snapshotSha256: sha256(body), files: 2, bytes: base.length + own.length }, body.length + bundle.length);
    await store.put(catalogKey(name, id), sealCatalog(repo.keys, catalog));
  }
}

interface GcRun {
  s: number;
  requests: number;
  byCommand: Record<string, number>;
  result: RetentionResult;
}

async function gcScale(ctx: BenchContext): Promise<void> {
  const plansN = Math.max(2, Number(process.env.BENCH_GC_PLANS ?? 50));
  const pointsN = Math.max(2, Number(process.env.BENCH_GC_POINTS ?? 100));
  const minio = await ctx.minio();
  const key = randomBytes(32);
  process.env[GC_KEY_ENV] = key.toString('base64');

  const build = async (bucket: string, plans: number) => {
    const c = countingS3(bucket, minio);
    await ensureBucket(c.store);
    await Repository.init(c.store, key);
    const ps = Array.from({ length: plans }, (_, i) => gcPlan(bucket, minio.endpoint, `gc-${i}`));
    const t0 = performance.now();
    await mapLimit(ps, 16, (p, i) => writePlanPoints(c.store, key, p, pointsN, `p${i}`));
    ctx.log(`B10: ${bucket}: ${plans} plans × ${pointsN} points written in ${((performance.now() - t0) / 1000).toFixed(1)} s (${c.total()} requests)`);
    return { ...c, plans: ps };
  };
  const gc = async (c: ReturnType<typeof countingS3>, plan: Plan, what: string): Promise<GcRun> => {
    c.reset();
    const t = await timed(() => applyRetentionIn(c.store, plan, { gcGraceMs: 0 }));
    const r = t.out;
    if (!r.gc.ran) throw new Error(`B10 ${what}: GC did not run: ${r.gc.reason}`);
    ctx.log(
      `B10 ${what}: ${t.s.toFixed(2)} s, ${c.total()} requests (${Object.entries(c.counts).map(([k, v]) => `${k} ${v}`).join(', ')}); ` +
        `expired ${r.expired.length}, ${r.gc.manifests} manifests read, packs ${r.gc.packsTotal} total / ${r.gc.packsDeleted} deleted`,
    );
    return { s: t.s, requests: c.total(), byCommand: { ...c.counts }, result: r };
  };

  // The shared repository and the single-plan baseline, each brought to a consolidated index by a
  // GC that expires nothing (a plan with one point: keepLast 1 keeps it).
  const shared = await build('bench-gc-shared', plansN);
  const alone = await build('bench-gc-alone', 1);
  const settle = async (c: Awaited<ReturnType<typeof build>>, bucket: string, what: string) => {
    const p = gcPlan(bucket, minio.endpoint, 'gc-settle');
    const s = await timed(() => applyRetentionIn(c.store, p, { gcGraceMs: 0 }));
    ctx.log(`B10 ${what}: first GC (nothing to expire, ${s.out.gc.packsTotal} packs, index consolidated) ${s.s.toFixed(1)} s`);
    return s.s;
  };
  const settleShared = await settle(shared, 'bench-gc-shared', 'shared');
  const settleAlone = await settle(alone, 'bench-gc-alone', 'alone');

  // The measured step: retention of plan gc-0 (keepLast 1) and store-wide GC.
  const alone1 = await gc(alone, alone.plans[0]!, `retention+GC of 1 plan × ${pointsN} points alone`);
  const shared1 = await gc(shared, shared.plans[0]!, `retention+GC of 1 plan in ${plansN} × ${pointsN}`);
  // Floor: one listing of the whole shared bucket.
  shared.reset();
  const list = await timed(async () => {
    let n = 0;
    for await (const _ of shared.store.list('')) n++;
    return n;
  });
  const listPages = shared.total();
  const expired = shared1.result.expired.length;
  const cmds = (r: GcRun) => Object.entries(r.byCommand).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${v} ${k}`).join(' + ');

  ctx.table.add({
    id: 'B10.gc.vs-alone',
    name: `retention + GC of 1 plan (${expired} points expired) in a repository of ${plansN} plans × ${pointsN} points`,
    ours: shared1.s,
    baseline: alone1.s,
    baselineName: `same with only that plan's ${pointsN} points in the repository`,
    unit: 's',
    better: 'lower',
    note: `${shared1.requests} vs ${alone1.requests} requests (${cmds(shared1)} vs ${cmds(alone1)}); ${shared1.result.gc.manifests} vs ${alone1.result.gc.manifests} manifests read; ${shared1.result.gc.packsDeleted} packs deleted`,
  });
  ctx.table.add({
    id: 'B10.gc.vs-list',
    name: '  same, vs one listing of the whole shared bucket',
    ours: shared1.s,
    baseline: list.s,
    baselineName: `LIST of ${list.out} objects`,
    unit: 's',
    better: 'lower',
    note: `${shared1.requests} requests vs ${listPages} LIST pages; first GC of the shared repository (nothing expired, index consolidation) ${settleShared.toFixed(1)} s`,
  });
  ctx.raw.storeScaleGc = {
    plans: plansN,
    points: pointsN,
    objects: list.out,
    shared: { s: shared1.s, requests: shared1.requests, byCommand: shared1.byCommand, result: { ...shared1.result, kept: shared1.result.kept.length, reasons: undefined } },
    alone: { s: alone1.s, requests: alone1.requests, byCommand: alone1.byCommand, result: { ...alone1.result, kept: alone1.result.kept.length, reasons: undefined } },
    listS: list.s,
    listPages,
    settleSharedS: settleShared,
    settleAloneS: settleAlone,
  };
}
