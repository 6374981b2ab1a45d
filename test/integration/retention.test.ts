/**
 * Retention and garbage collection against the real MinIO: real repository, real volume snapshots
 * (backupTree), signed catalogs, two plans sharing one repository.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { openCatalog, sealCatalog } from '../../activities/catalog/catalog-auth';
import { deriveKeys } from '../../activities/datapath/crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { applyRetention, applyRetentionIn, type RetentionResult } from '../../activities/backup/retention';
import { formatRetentionReport } from '../../client/commands/prune';
import { Repository, backupTree, restoreTree } from '../../activities/datapath';
import { manifestChunkIds, readVolumeManifest } from '../../activities/datapath/manifest';
import { packIdFromKey } from '../../activities/datapath/pack';
import { PACKS_PREFIX } from '../../activities/datapath/repository';
import { listAll, type ObjectStore } from '../../activities/store/object-store';
import {
  catalogKey,
  inProgressMarkerKey,
  pointId,
  pointPrefix,
  resourcesKey,
  unsignedCatalogSchema,
  volumeSnapshotKey,
} from '../../shared/catalog';
import type { Plan } from '../../shared/plan';
import type { RetentionSpec } from '../../shared/plan';
import { ensureBucket, openStore } from '../../activities/store/open-store';
import { prng, rmrf, tempDir, SMALL_CHUNKER, SMALL_PACK } from '../unit/datapath/helpers';
import { completeCatalog, retentionPlan } from './point-fixture';

const KEY_VAR = 'TDR_RETENTION_TEST_KEY';
const HOUR = 3600_000;
const opts = { checkpointEveryBytes: 2 ** 40, checkpointEveryMs: 2 ** 30 };

const makePlan = (name: string, bucket: string, prefix: string, retention: RetentionSpec): Plan =>
  retentionPlan(name, { endpoint: process.env.S3_ENDPOINT!, bucket, prefix, region: 'us-east-1', forcePathStyle: true }, KEY_VAR, retention);

interface Fixture {
  store: ObjectStore;
  key: Buffer;
  bucket: string;
  prefix: string;
  dirs: string[];
  /** Files (name -> content) of each point's volume, by `plan/id`. */
  content: Map<string, Record<string, Buffer>>;
}

async function setup(): Promise<Fixture> {
  // (test/harness/store.ts would pull in the worker and the ESM-only Kubernetes client.)
  const endpoint = process.env.S3_ENDPOINT;
  if (!endpoint) throw new Error('S3_ENDPOINT is not set: run through jest so the global setup starts MinIO');
  const ref = { endpoint, bucket: `tdr-ret-${randomUUID().slice(0, 8)}`, prefix: 'dr', region: 'us-east-1', forcePathStyle: true };
  const store = openStore(ref);
  await ensureBucket(store);
  const key = randomBytes(32);
  process.env[KEY_VAR] = key.toString('base64');
  await Repository.init(store, key, { chunker: SMALL_CHUNKER, packSize: SMALL_PACK });
  return { store, key, bucket: ref.bucket, prefix: ref.prefix, dirs: [], content: new Map() };
}

/** Backs up a temp dir with `files` as the point's one volume (shop/data); returns the snapshot key. */
async function writeVolume(f: Fixture, plan: Plan, id: string, files: Record<string, Buffer>): Promise<{ key: string; sha256: string; files: number; bytes: number }> {
  const dir = await tempDir('tdr-ret-');
  f.dirs.push(dir);
  for (const [name, body] of Object.entries(files)) await writeFile(join(dir, name), body);
  const repo = await Repository.open(f.store, f.key, { packSize: SMALL_PACK });
  const manifestKey = volumeSnapshotKey(plan.metadata.name, id, 'shop', 'data');
  const r = await backupTree(repo, { root: dir, manifestKey, sessionId: `s-${plan.metadata.name}-${id}`, ...opts });
  f.content.set(`${plan.metadata.name}/${id}`, files);
  return { key: r.key, sha256: r.sha256, files: r.files, bytes: r.bytes };
}

/** A complete point: volume snapshot, resources bundle, then the catalog (last). */
async function completePoint(f: Fixture, plan: Plan, id: string, files: Record<string, Buffer>): Promise<void> {
  const v = await writeVolume(f, plan, id, files);
  const bundle = randomBytes(2048);
  await f.store.put(resourcesKey(plan.metadata.name, id), bundle);
  const keys = deriveKeys(f.key);
  const body = sealCatalog(keys, unsignedCatalogSchema.parse(completeCatalog(plan, id, bundle, v)));
  openCatalog(keys, body, { planName: plan.metadata.name, pointId: id, where: 'fixture' }); // the fixture is a valid catalog
  await f.store.put(catalogKey(plan.metadata.name, id), body);
}

async function restoresIdentical(f: Fixture, planName: string, id: string): Promise<void> {
  const dst = await tempDir('tdr-ret-restore-');
  f.dirs.push(dst);
  const repo = await Repository.open(f.store, f.key);
  await restoreTree(repo, { manifestKey: volumeSnapshotKey(planName, id, 'shop', 'data'), target: dst });
  for (const [name, body] of Object.entries(f.content.get(`${planName}/${id}`)!)) {
    expect(sha(await readFile(join(dst, name)))).toBe(sha(body));
  }
}

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const keysUnder = async (store: ObjectStore, prefix: string) => (await listAll(store, prefix)).map((o) => o.key).sort();
const totalBytes = async (store: ObjectStore) => (await listAll(store, '')).reduce((n, o) => n + o.size, 0);
const packIds = async (store: ObjectStore) => new Set((await listAll(store, PACKS_PREFIX)).map((o) => packIdFromKey(o.key)!));

/** Packs that hold no chunk of any of the given manifests (what GC must delete). */
async function packsUnreferencedBy(f: Fixture, liveManifests: string[]): Promise<Set<string>> {
  const repo = await Repository.open(f.store, f.key);
  const referenced = new Set<string>();
  for (const k of liveManifests) manifestChunkIds(await readVolumeManifest(repo, k), referenced);
  const out = new Set<string>();
  for (const [id, info] of repo.knownPacks()) if (!info.entries.some((e) => referenced.has(e.id))) out.add(id);
  return out;
}

/** Records every put and delete, in order. */
function recording(store: ObjectStore): { store: ObjectStore; log: string[] } {
  const log: string[] = [];
  const wrapped: ObjectStore = {
    location: store.location,
    put: (k, b, o) => (log.push(`put ${k}`), store.put(k, b, o)),
    putStream: (k, b, o) => store.putStream(k, b, o),
    get: (k) => store.get(k),
    getRange: (k, o, l) => store.getRange(k, o, l),
    head: (k) => store.head(k),
    list: (p) => store.list(p),
    delete: (keys) => (keys.forEach((k) => log.push(`del ${k}`)), store.delete(keys)),
  };
  return { store: wrapped, log };
}

describe('retention and garbage collection on the real MinIO', () => {
  let f: Fixture | undefined;
  afterEach(async () => {
    if (f) await Promise.all(f.dirs.map(rmrf));
    f = undefined;
  });

  test('keepLast 2: expires old points (catalog first), removes old failed points, keeps recent in-progress ones, other plans untouched, GC frees only the expired data', async () => {
    f = await setup();
    const alpha = makePlan('alpha', f.bucket, f.prefix, { keepLast: 2 });
    const beta = makePlan('beta', f.bucket, f.prefix, { keepLast: 1 });
    const now = Date.now();
    const shared = prng(1, 2 << 20);
    const id = (hoursAgo: number, s: string) => pointId(new Date(now - hoursAgo * HOUR), s);

    // beta first, so the shared file's chunks live in beta's packs.
    const b = [id(30, 'b1'), id(20, 'b2')];
    await completePoint(f, beta, b[0], { 'shared.bin': shared, 'b.bin': prng(50, 300_000) });
    await completePoint(f, beta, b[1], { 'shared.bin': shared, 'b.bin': prng(51, 300_000) });
    const a = [id(5, 'a1'), id(4, 'a2'), id(3, 'a3'), id(2, 'a4')];
    for (let i = 0; i < a.length; i++) {
      await completePoint(f, alpha, a[i], { 'shared.bin': shared, 'unique.bin': prng(10 + i, 1_500_000), [`n${i}.txt`]: Buffer.from(`point ${i}\n`) });
    }
    // An old failed point (with a finished volume and staging) and a recent in-progress one.
    const failed = id(48, 'failed');
    await f.store.put(inProgressMarkerKey('alpha', failed), JSON.stringify({ pointId: failed }));
    await writeVolume(f, alpha, failed, { 'shared.bin': shared, 'partial.bin': prng(90, 800_000) });
    await f.store.put(`${pointPrefix('alpha', failed)}staging/resources.json`, '{}');
    await f.store.put(`${pointPrefix('alpha', failed)}failed.json`, JSON.stringify({ pointId: failed, reason: 'hook failed' }));
    const running = pointId(new Date(now - 10 * 60_000), 'running');
    await f.store.put(inProgressMarkerKey('alpha', running), JSON.stringify({ pointId: running }));
    await writeVolume(f, alpha, running, { 'shared.bin': shared, 'new.bin': prng(91, 700_000) });

    const betaBefore = await keysUnder(f.store, 'points/beta/');
    const runningBefore = await keysUnder(f.store, pointPrefix('alpha', running));
    const bytesBefore = await totalBytes(f.store);
    const packsBefore = await packIds(f.store);
    const survivors = [...a.slice(2).map((x) => ['alpha', x]), ...b.map((x) => ['beta', x]), ['alpha', running]].map(([p, x]) => volumeSnapshotKey(p, x, 'shop', 'data'));
    const expectedDoomed = await packsUnreferencedBy(f, survivors);
    expect(expectedDoomed.size).toBeGreaterThan(0);

    // Dry run: reports, deletes nothing.
    const allBefore = await keysUnder(f.store, '');
    const dry = await applyRetention(alpha, { dryRun: true, gcGraceMs: 0 });
    expect(dry.kept).toEqual([a[3], a[2]]);
    expect(dry.expired).toEqual([a[1], a[0]]);
    expect(dry.abandonedRemoved).toEqual([failed]);
    expect(dry.gc.ran).toBe(true);
    expect(dry.gc.packsDeleted).toBe(expectedDoomed.size);
    expect(await keysUnder(f.store, '')).toEqual(allBefore);

    // The real run, recording the order of deletions.
    const rec = recording(f.store);
    const r: RetentionResult = await applyRetentionIn(rec.store, alpha, { gcGraceMs: 0 });
    expect(r.kept).toEqual([a[3], a[2]]);
    expect(r.reasons).toEqual({ [a[3]]: ['last'], [a[2]]: ['last'] });
    expect(r.expired).toEqual([a[1], a[0]]);
    expect(r.abandonedRemoved).toEqual([failed]);
    expect(r.incompleteKept).toEqual([running]);
    expect(r.gc).toMatchObject({ ran: true, activeSessions: 0, packsDeleted: expectedDoomed.size });
    expect(r.gc.problem).toBeUndefined();
    expect(JSON.stringify(r).length).toBeLessThan(2000);

    // Expired points: the catalog is the first object deleted, the rest follows, nothing is left.
    for (const x of a.slice(0, 2)) {
      const dels = rec.log.filter((l) => l.startsWith(`del ${pointPrefix('alpha', x)}`));
      expect(dels[0]).toBe(`del ${catalogKey('alpha', x)}`);
      expect(dels.length).toBeGreaterThanOrEqual(3); // catalog, bundle, snapshot (+ tombstone)
      expect(await keysUnder(f.store, pointPrefix('alpha', x))).toEqual([]);
    }
    // The old failed point is gone; the recent in-progress one is untouched.
    expect(await keysUnder(f.store, pointPrefix('alpha', failed))).toEqual([]);
    expect(await keysUnder(f.store, pointPrefix('alpha', running))).toEqual(runningBefore);
    // The other plan is untouched.
    expect(await keysUnder(f.store, 'points/beta/')).toEqual(betaBefore);

    // GC deleted exactly the packs no surviving snapshot uses, and the bucket shrank.
    const packsAfter = await packIds(f.store);
    expect([...packsBefore].filter((p) => !packsAfter.has(p)).sort()).toEqual([...expectedDoomed].sort());
    expect(await totalBytes(f.store)).toBeLessThan(bytesBefore - 2 * 1_400_000);
    expect(r.gc.bytesDeleted).toBeGreaterThan(2 * 1_400_000);
    expect(await keysUnder(f.store, 'repo/locks/')).toEqual([]);

    // Everything kept still restores byte for byte, including the in-progress point's finished volume.
    for (const x of a.slice(2)) await restoresIdentical(f, 'alpha', x);
    for (const x of b) await restoresIdentical(f, 'beta', x);
    await restoresIdentical(f, 'alpha', running);

    const report = formatRetentionReport(r);
    expect(report).toContain(`keep    ${a[3]}  (keepLast)`);
    expect(report).toContain(`expire  ${a[0]}`);
    expect(report).toMatch(/garbage collection: 5 live volume snapshot\(s\)/);

    // Idempotent: a second run changes nothing.
    const allAfter = await keysUnder(f.store, '');
    const again = await applyRetention(alpha, { gcGraceMs: 0 });
    expect(again).toMatchObject({ kept: [a[3], a[2]], expired: [], abandonedRemoved: [], incompleteKept: [running], objectsDeleted: 0 });
    expect(again.gc).toMatchObject({ ran: true, packsDeleted: 0 });
    expect((await keysUnder(f.store, '')).filter((k) => !k.startsWith('repo/index/'))).toEqual(allAfter.filter((k) => !k.startsWith('repo/index/')));
  });

  test('GC is deferred while a backup session is in progress, then runs once it ends', async () => {
    f = await setup();
    const alpha = makePlan('alpha', f.bucket, f.prefix, { keepLast: 1 });
    const now = Date.now();
    const a = [pointId(new Date(now - 3 * HOUR), 'a1'), pointId(new Date(now - 2 * HOUR), 'a2')];
    await completePoint(f, alpha, a[0], { 'old.bin': prng(20, 1_200_000) });
    await completePoint(f, alpha, a[1], { 'new.bin': prng(21, 1_200_000) });
    const packsBefore = await packIds(f.store);

    // A backup of a new point is running: its session marker is live.
    const running = pointId(new Date(now), 'run');
    await f.store.put(inProgressMarkerKey('alpha', running), '{}');
    const repo = await Repository.open(f.store, f.key);
    await repo.startSession('backup-running', { manifestKey: volumeSnapshotKey('alpha', running, 'shop', 'data') });

    const r = await applyRetention(alpha, { gcGraceMs: 0 });
    expect(r.expired).toEqual([a[0]]);
    expect(await keysUnder(f.store, pointPrefix('alpha', a[0]))).toEqual([]);
    expect(r.gc).toMatchObject({ ran: false, deferred: true, activeSessions: 1 });
    expect(r.gc.reason).toMatch(/backup session\(s\) in progress \(backup-running\)/);
    expect(await packIds(f.store)).toEqual(packsBefore);
    expect(formatRetentionReport(r)).toMatch(/garbage collection deferred/);

    // Once the session ends, the next run collects what a1 alone used.
    await repo.endSession('backup-running');
    const r2 = await applyRetention(alpha, { gcGraceMs: 0 });
    expect(r2.expired).toEqual([]);
    expect(r2.incompleteKept).toEqual([running]);
    expect(r2.gc.ran).toBe(true);
    expect(r2.gc.packsDeleted).toBeGreaterThan(0);
    await restoresIdentical(f, 'alpha', a[1]);
  });

  test('an unreadable catalog of any plan stops GC (never a partial live set) but expiry still happens', async () => {
    f = await setup();
    const alpha = makePlan('alpha', f.bucket, f.prefix, { keepLast: 1 });
    const beta = makePlan('beta', f.bucket, f.prefix, { keepLast: 1 });
    const now = Date.now();
    const a = [pointId(new Date(now - 3 * HOUR), 'a1'), pointId(new Date(now - 2 * HOUR), 'a2')];
    await completePoint(f, alpha, a[0], { 'x.bin': prng(30, 600_000) });
    await completePoint(f, alpha, a[1], { 'y.bin': prng(31, 600_000) });
    const bad = pointId(new Date(now - HOUR), 'bad');
    await completePoint(f, beta, bad, { 'z.bin': prng(32, 600_000) });
    await f.store.put(catalogKey('beta', bad), '{"formatVersion":1,"pointId":"truncated');
    const packsBefore = await packIds(f.store);

    const r = await applyRetention(alpha, { gcGraceMs: 0 });
    expect(r.expired).toEqual([a[0]]);
    expect(r.gc).toMatchObject({ ran: false, problem: true });
    expect(r.gc.reason).toMatch(/cannot be read.*beta\/.*bad.*not JSON/s);
    expect(await packIds(f.store)).toEqual(packsBefore);
    expect(await keysUnder(f.store, 'repo/locks/')).toEqual([]);
  });

  test('a wrong encryption key fails before anything is deleted', async () => {
    f = await setup();
    const alpha = makePlan('alpha', f.bucket, f.prefix, { keepLast: 1 });
    const now = Date.now();
    await completePoint(f, alpha, pointId(new Date(now - 2 * HOUR), 'a1'), { 'x.bin': prng(40, 100_000) });
    await completePoint(f, alpha, pointId(new Date(now - HOUR), 'a2'), { 'y.bin': prng(41, 100_000) });
    const before = await keysUnder(f.store, '');
    process.env[KEY_VAR] = randomBytes(32).toString('base64');
    await expect(applyRetention(alpha)).rejects.toMatchObject({ name: 'WrongEncryptionKeyError' });
    expect(await keysUnder(f.store, '')).toEqual(before);
  });

  test('refuses a plan without a retention policy', async () => {
    f = await setup();
    const plan = makePlan('alpha', f.bucket, f.prefix, { keepLast: 1 });
    delete (plan.spec as { retention?: unknown }).retention;
    await expect(applyRetention(plan)).rejects.toMatchObject({ name: 'InvalidInputError', message: expect.stringMatching(/spec.retention: required/) });
  });
});
