/**
 * S3 Object Lock of recovery points, on the run's real MinIO, in lock-enabled buckets this test
 * creates (governance, and compliance with a short retention since nobody can delete it). Points
 * are taken by the product's own steps (prepareBackup, backupTree as the node agent runs it,
 * writeCatalog) and then attacked with the orchestrator's own credentials. Proves that:
 *  - every object a restore reads carries the lock, all until the catalog's date, and a pack a
 *    newer point reuses is extended to the newer point's date;
 *  - deleting a locked version is refused (AccessDenied), and so is shortening a compliance lock;
 *  - after the catalog and a pack are overwritten with garbage and the bundle and manifest deleted
 *    (a delete marker each), the point still lists, verifies (every chunk read) and restores byte
 *    for byte, bundle included;
 *  - prune keeps a point its policy expires while it is locked, saying until when; GC keeps an
 *    unreferenced locked pack and its index object, saying until when; once the lock has passed
 *    (compliance, 1 minute), the next prune removes both;
 *  - a plan with objectLock on a bucket without Object Lock is refused before anything is written.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  DeleteObjectCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutObjectCommand,
  PutObjectRetentionCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Repository, backupTree, restoreTree } from '../../activities/datapath';
import { openStore, ensureBucket } from '../../activities/store/open-store';
import type { S3ObjectStore } from '../../activities/store/s3-object-store';
import { openRepositoryKeys } from '../../activities/store/open-repository';
import { prepareBackup, writeCatalog } from '../../activities/backup/point-lifecycle';
import { stagedResourcesKey, type StagedResources } from '../../activities/backup/capture-resources';
import { applyRetention } from '../../activities/backup/retention';
import { listPoints, readCatalog } from '../../activities/catalog/points';
import { readBundle, verifyPoint } from '../../activities/catalog/verify-point';
import { formatRetentionReport } from '../../client/commands/prune';
import { catalogKey, inProgressMarkerKey, resourcesKey, volumeSnapshotKey, type Catalog } from '../../shared/catalog';
import { planKeyRef, planToStoreRef, type Plan } from '../../shared/plan';
import type { StoreRef } from '../../shared/store-ref';
import { fixturePlan } from './point-fixture';
import type { ObjectLockMode } from '../../shared/object-lock';
import { InvalidInputError } from '../../shared/errors';
import { freshStore } from '../harness/store';
import { uniqueId } from '../harness/temporal';
import { prng, rmrf, tempDir } from '../unit/datapath/helpers';

const KEY_ENV = 'TDR_OBJECT_LOCK_KEY';
const REFUSED_LOCKED = /^refused: (AccessDenied: .*|InvalidRequest: Object is WORM protected and cannot be overwritten)$/;
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');
const run = { workflowId: 'backup/test', runId: 'run', startedAt: new Date().toISOString() };

const configMap = (id: string) => ({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'shop', name: 'settings' }, data: { point: id } });

function lockedPlan(name: string, bucket: string, objectLock: { mode: ObjectLockMode; retention: string }): Plan {
  return fixturePlan(name, { bucket, prefix: 'dr', endpoint: process.env.S3_ENDPOINT } as StoreRef, { keyFrom: { env: KEY_ENV }, retention: { keepLast: 1 }, objectLock });
}

/** A point taken the way the backup workflow takes one: prepare, bundle, a volume copied by backupTree, catalog last. */
async function takePoint(plan: Plan, id: string, files: Record<string, Buffer>): Promise<Catalog> {
  const name = plan.metadata.name;
  const { kubernetesVersion } = await prepareBackup(plan, id, run);
  const ref = planToStoreRef(plan);
  const store = openStore(ref);
  const repo = await Repository.open(store, Buffer.from(process.env[KEY_ENV]!, 'base64'));
  const cm = configMap(id);
  const bundle = await repo.putObject('manifest', resourcesKey(name, id), { format: 'tdr-resources', version: 1, objects: [cm] });
  const staged: StagedResources = {
    items: [{ apiVersion: 'v1', kind: 'ConfigMap', namespace: 'shop', name: 'settings', group: '', resource: 'configmaps', sha256: sha(JSON.stringify(cm)), size: JSON.stringify(cm).length, ownerRefs: [] }],
    images: [],
  };
  await repo.putObject('manifest', stagedResourcesKey(name, id), staged);
  const dir = await tempDir('tdr-lock-src-');
  try {
    for (const [f, body] of Object.entries(files)) await writeFile(join(dir, f), body);
    const v = await backupTree(repo, { root: dir, manifestKey: volumeSnapshotKey(name, id, 'shop', 'data'), sessionId: `${id}-shop-data` });
    await writeCatalog({
      plan,
      pointId: id,
      kubernetesVersion,
      startedAt: run.startedAt,
      bundle: { key: resourcesKey(name, id), sha256: sha(bundle), size: bundle.length },
      volumes: [{ pvc: { namespace: 'shop', name: 'data' }, size: '1Gi', mode: 'copy', snapshotKey: v.key, snapshotSha256: v.sha256, files: v.files, bytes: v.bytes, hookArtifacts: [] }],
      hooks: [],
      timings: [],
      storedBytes: v.newBytesUploaded,
    });
  } finally {
    await rmrf(dir);
  }
  return readCatalog(store, name, id, await openRepositoryKeys(ref, planKeyRef(plan)));
}

interface Version {
  versionId: string;
  latest: boolean;
  deleteMarker: boolean;
}

async function versionsOf(store: S3ObjectStore, key: string): Promise<Version[]> {
  const full = `${store.config.prefix}/${key}`;
  const res = await store.client.send(new ListObjectVersionsCommand({ Bucket: store.config.bucket, Prefix: full }));
  return [
    ...(res.Versions ?? []).filter((v) => v.Key === full).map((v) => ({ versionId: v.VersionId!, latest: !!v.IsLatest, deleteMarker: false })),
    ...(res.DeleteMarkers ?? []).filter((v) => v.Key === full).map((v) => ({ versionId: v.VersionId!, latest: !!v.IsLatest, deleteMarker: true })),
  ];
}

async function lockOf(store: S3ObjectStore, key: string, versionId?: string): Promise<{ mode?: string; until?: string }> {
  const h = await store.client.send(new HeadObjectCommand({ Bucket: store.config.bucket, Key: `${store.config.prefix}/${key}`, VersionId: versionId }));
  return { mode: h.ObjectLockMode, until: h.ObjectLockRetainUntilDate?.toISOString() };
}

/**
 * `ok`, or `refused: <name>: <message>` when S3 refuses the request. A locked version is refused as
 * AccessDenied by AWS, and as InvalidRequest "Object is WORM protected and cannot be overwritten" by MinIO.
 */
async function outcome(client: S3Client, command: unknown): Promise<string> {
  try {
    await client.send(command as never);
    return 'ok';
  } catch (err) {
    return `refused: ${(err as Error).name}: ${(err as Error).message}`;
  }
}

async function packKeysOf(store: S3ObjectStore): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list('repo/packs/')) out.push(o.key);
  return out;
}

describe('S3 Object Lock of recovery points', () => {
  const dirs: string[] = [];
  afterAll(async () => {
    for (const d of dirs) await rmrf(d);
  });

  beforeAll(() => {
    process.env[KEY_ENV] = randomBytes(32).toString('base64');
  });

  test('a plan with objectLock on a bucket without Object Lock is refused at backup start, naming the field and the fix', async () => {
    const plain = await freshStore('dr');
    const plan = lockedPlan('lock-missing', plain.ref.bucket, { mode: 'governance', retention: '1d' });
    const err = await prepareBackup(plan, '20261202T000000Z-nolock', run).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidInputError);
    expect((err as Error).message).toMatch(/^spec\.store\.objectLock: bucket .* does not have Object Lock enabled.*create the bucket with Object Lock enabled \(`mc mb --with-lock`/);
    expect(await plain.store.get(inProgressMarkerKey('lock-missing', '20261202T000000Z-nolock'))).toBeUndefined();
  });

  for (const [mode, retention] of [
    ['governance', '1h'],
    ['compliance', '1m'],
  ] as const) {
    test(`${mode}: locked points survive deletion and tampering, restore byte for byte, and prune/GC keep them and say until when`, async () => {
      const bucket = uniqueId(`tdr-lock-${mode.slice(0, 4)}`).toLowerCase();
      const plan = lockedPlan(`lock-${mode}`, bucket, { mode, retention });
      const name = plan.metadata.name;
      const S3_MODE = mode.toUpperCase();
      const ref = planToStoreRef(plan);
      const store = openStore(ref);
      await ensureBucket(store); // creates it with Object Lock enabled, as prepareBackup would
      expect(await store.objectLockEnabled()).toBe(true);

      const big = prng(7, 3_000_000);
      const p1 = await takePoint(plan, '20261202T070000Z-aaaa', { 'data.bin': big });

      // Every object the point reads is locked, until the catalog's date.
      const repo = await Repository.open(store, Buffer.from(process.env[KEY_ENV]!, 'base64'));
      const packs = await packKeysOf(store);
      expect(packs.length).toBeGreaterThan(0);
      const indexKeys: string[] = [];
      for await (const o of store.list('repo/index/')) indexKeys.push(o.key);
      const p1Objects = [catalogKey(name, p1.pointId), p1.resources.bundle.key, p1.volumes[0].snapshotKey!, ...packs, ...indexKeys];
      const catalogLock = await lockOf(store, catalogKey(name, p1.pointId));
      expect(catalogLock.mode).toBe(S3_MODE);
      for (const k of p1Objects) expect(`${k} ${JSON.stringify(await lockOf(store, k))}`).toBe(`${k} ${JSON.stringify(catalogLock)}`);
      expect(await store.get(inProgressMarkerKey(name, p1.pointId))).toBeUndefined(); // markers are not locked

      // A second point reusing p1's data (deduplicated) extends the shared packs to its own date.
      await new Promise((r) => setTimeout(r, 1500));
      const p2 = await takePoint(plan, '20261202T080000Z-bbbb', { 'data.bin': big, 'new.bin': prng(8, 200_000) });
      const p2Lock = await lockOf(store, catalogKey(name, p2.pointId));
      expect(Date.parse(p2Lock.until!)).toBeGreaterThan(Date.parse(catalogLock.until!));
      for (const k of packs) expect(`${k} ${JSON.stringify(await lockOf(store, k))}`).toBe(`${k} ${JSON.stringify(p2Lock)}`);
      expect(await lockOf(store, p1.resources.bundle.key)).toEqual(catalogLock); // p1's own objects keep p1's date

      // With the orchestrator's own credentials: deleting a locked version is refused.
      const client = store.client;
      const Bucket = bucket;
      const full = (k: string) => `dr/${k}`;
      const catalogVersion = (await versionsOf(store, catalogKey(name, p1.pointId)))[0]!.versionId;
      const packVersion = (await versionsOf(store, packs[0]!))[0]!.versionId;
      expect(await outcome(client, new DeleteObjectCommand({ Bucket, Key: full(catalogKey(name, p1.pointId)), VersionId: catalogVersion }))).toMatch(REFUSED_LOCKED);
      expect(await outcome(client, new DeleteObjectCommand({ Bucket, Key: full(packs[0]!), VersionId: packVersion }))).toMatch(REFUSED_LOCKED);
      if (mode === 'compliance') {
        // Nobody shortens a compliance lock, nor bypasses it.
        expect(await outcome(client, new PutObjectRetentionCommand({ Bucket, Key: full(packs[0]!), VersionId: packVersion, Retention: { Mode: 'COMPLIANCE', RetainUntilDate: new Date(Date.now() + 5_000) } }))).toMatch(REFUSED_LOCKED);
        expect(await outcome(client, new DeleteObjectCommand({ Bucket, Key: full(packs[0]!), VersionId: packVersion, BypassGovernanceRetention: true }))).toMatch(REFUSED_LOCKED);
      }

      // Tamper: overwrite the catalog and every pack with garbage, delete the bundle and the manifest.
      const garbageCatalog = JSON.stringify({ ...p1, completedAt: '2000-01-01T00:00:00.000Z', mac: 'f'.repeat(64) });
      expect(await outcome(client, new PutObjectCommand({ Bucket, Key: full(catalogKey(name, p1.pointId)), Body: garbageCatalog }))).toBe('ok');
      for (const k of packs) {
        const size = (await store.head(k))!.size;
        expect(await outcome(client, new PutObjectCommand({ Bucket, Key: full(k), Body: randomBytes(size) }))).toBe('ok');
      }
      expect(await outcome(client, new DeleteObjectCommand({ Bucket, Key: full(p1.resources.bundle.key) }))).toBe('ok');
      expect(await outcome(client, new DeleteObjectCommand({ Bucket, Key: full(p1.volumes[0].snapshotKey!) }))).toBe('ok');
      // What a plain reader now sees:
      expect((await store.get(catalogKey(name, p1.pointId)))!.toString()).toBe(garbageCatalog);
      expect(await store.get(p1.resources.bundle.key)).toBeUndefined();
      expect(await store.get(p1.volumes[0].snapshotKey!)).toBeUndefined();
      expect((await versionsOf(store, p1.resources.bundle.key)).map((v) => v.deleteMarker).sort()).toEqual([false, true]);

      // The point still lists, verifies every chunk, and restores byte for byte.
      const keys = await openRepositoryKeys(ref, planKeyRef(plan));
      expect((await listPoints(store, name, keys)).map((p) => `${p.pointId} ${p.status}`)).toEqual([`${p2.pointId} complete`, `${p1.pointId} complete`]);
      const again = await readCatalog(store, name, p1.pointId, keys);
      expect(again).toEqual(p1);
      const reader = await Repository.open(store, Buffer.from(process.env[KEY_ENV]!, 'base64'));
      const verified = await verifyPoint(reader, again, { readData: true });
      expect(verified.problems).toEqual([]);
      expect(verified.chunksRead).toBeGreaterThan(1);
      expect(await readBundle(reader, again)).toEqual([configMap(p1.pointId)]);
      const dst = await tempDir('tdr-lock-dst-');
      dirs.push(dst);
      await restoreTree(reader, { manifestKey: again.volumes[0].snapshotKey!, target: join(dst, 'p1') });
      expect(sha(await readFile(join(dst, 'p1', 'data.bin')))).toBe(sha(big));
      await restoreTree(reader, { manifestKey: p2.volumes[0].snapshotKey!, target: join(dst, 'p2') });
      expect(sha(await readFile(join(dst, 'p2', 'data.bin')))).toBe(sha(big));
      expect(sha(await readFile(join(dst, 'p2', 'new.bin')))).toBe(sha(prng(8, 200_000)));

      // An unreferenced locked pack: a copy whose point never completed.
      const packsAfterP2 = await packKeysOf(store);
      const scratch = await tempDir('tdr-lock-scratch-');
      dirs.push(scratch);
      await mkdir(join(scratch, 'x'), { recursive: true });
      await writeFile(join(scratch, 'x', 'orphan.bin'), prng(9, 400_000));
      await backupTree(repo, { root: scratch, manifestKey: 'scratch/orphan.json', sessionId: 'orphan' });
      const orphanPacks = (await packKeysOf(store)).filter((k) => !packsAfterP2.includes(k));
      expect(orphanPacks.length).toBeGreaterThan(0);

      // Prune: keepLast 1 expires p1, but it is locked: kept, and the report says until when.
      const pruned = await applyRetention(plan, { gcGraceMs: 0 });
      expect(pruned.expired).toEqual([]);
      expect(pruned.kept).toEqual([p2.pointId, p1.pointId]);
      expect(pruned.locked?.[p1.pointId]).toMatch(new RegExp(`^locked \\(${mode}\\) until \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ$`));
      expect(pruned.gc.ran).toBe(true);
      expect(pruned.gc.packsDeleted).toBe(0);
      expect(pruned.gc.packsLocked).toBeGreaterThan(0);
      expect(pruned.gc.lockedKept?.map((k) => k.key)).toEqual(expect.arrayContaining(orphanPacks));
      for (const k of pruned.gc.lockedKept ?? []) expect(k.reason).toMatch(new RegExp(`^locked \\(${mode}\\) until `));
      const report = formatRetentionReport(pruned);
      expect(report).toContain(`keep    ${p1.pointId}  (locked (${mode}) until`);
      expect(report).toMatch(/keep \d+ unreferenced pack\(s\) and \d+ index object\(s\) under Object Lock/);
      for (const k of orphanPacks) expect(await store.head(k)).toBeDefined();
      // Still restorable after prune.
      expect((await verifyPoint(await Repository.open(store, Buffer.from(process.env[KEY_ENV]!, 'base64')), again, { readData: true })).problems).toEqual([]);

      if (mode === 'compliance') {
        // Once the lock has passed, the next prune removes what the policy and GC would have.
        const until = Math.max(...(await Promise.all([...p1Objects, ...orphanPacks].map(async (k) => (await store.retention(k))?.retainUntil.getTime() ?? 0))));
        expect(until).toBeGreaterThan(Date.now());
        await new Promise((r) => setTimeout(r, Math.max(0, until - Date.now()) + 2000));
        const later = await applyRetention(plan, { gcGraceMs: 0 });
        expect(later.locked).toBeUndefined();
        expect(later.expired).toEqual([p1.pointId]);
        expect(later.kept).toEqual([p2.pointId]);
        expect(later.gc.packsDeleted).toBeGreaterThanOrEqual(orphanPacks.length);
        for (const k of orphanPacks) expect(await store.head(k)).toBeUndefined();
        const last = await Repository.open(store, Buffer.from(process.env[KEY_ENV]!, 'base64'));
        expect((await verifyPoint(last, await readCatalog(store, name, p2.pointId, keys), { readData: true })).problems).toEqual([]);
      }
    }, 420_000);
  }
});
