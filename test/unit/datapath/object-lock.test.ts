/**
 * Object Lock logic above the store, on an in-memory store that keeps versions and retentions the
 * way a lock-enabled S3 bucket does (the real thing: test/integration/object-lock.test.ts).
 */
import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Repository, backupTree, collectGarbage, restoreTree } from '../../../activities/datapath';
import { MemoryObjectStore } from '../../../activities/store/memory-object-store';
import { getAuthentic } from '../../../activities/store/object-store';
import type { ObjectRetention } from '../../../shared/object-lock';
import { newRepo, prng, rmrf, sha, tempDir, testKey } from './helpers';

/** Overwrites and deletes keep the previous body as a version; deleting a retained key throws. */
class VersionedLockStore extends MemoryObjectStore {
  readonly history = new Map<string, { id: string; body: Buffer }[]>();
  readonly locks = new Map<string, ObjectRetention>();
  now = () => Date.now();
  private seq = 0;

  private keep(key: string): void {
    const cur = this.objects.get(key);
    if (cur) this.history.set(key, [{ id: `v${++this.seq}`, body: cur.body }, ...(this.history.get(key) ?? [])]);
  }
  override async put(key: string, body: Buffer | string): Promise<void> {
    this.keep(key);
    await super.put(key, body);
  }
  override async get(key: string, opts?: { versionId?: string }): Promise<Buffer | undefined> {
    if (opts?.versionId) return this.history.get(key)?.find((v) => v.id === opts.versionId)?.body;
    return super.get(key);
  }
  override async getRange(key: string, offset: number, length: number, opts?: { versionId?: string }): Promise<Buffer> {
    if (!opts?.versionId) return super.getRange(key, offset, length);
    const body = await this.get(key, opts);
    if (!body) throw new Error(`no version ${opts.versionId} of ${key}`);
    return body.subarray(offset, offset + length);
  }
  override async delete(keys: string[]): Promise<void> {
    for (const k of keys) {
      const r = this.locks.get(k);
      if (r && r.retainUntil.getTime() > this.now()) throw new Error(`GC tried to delete ${k}, which is locked`);
    }
    for (const k of keys) this.keep(k);
    await super.delete(keys);
  }
  async previousVersions(key: string): Promise<string[]> {
    return (this.history.get(key) ?? []).map((v) => v.id);
  }
  async retention(key: string): Promise<ObjectRetention | undefined> {
    return this.locks.get(key);
  }
  async objectLockEnabled(): Promise<boolean> {
    return true;
  }
}

const opts = { checkpointEveryBytes: 2 ** 40, checkpointEveryMs: 2 ** 30 };
const packKeys = (store: MemoryObjectStore) => [...store.objects.keys()].filter((k) => k.startsWith('repo/packs/'));
const indexKeys = (store: MemoryObjectStore) => [...store.objects.keys()].filter((k) => k.startsWith('repo/index/'));
const until = (iso: string): ObjectRetention => ({ mode: 'governance', retainUntil: new Date(iso) });
/** A minute ahead, so the packs just written are past a grace period of 0. */
const soon = () => Date.now() + 60_000;

describe('object lock above the store', () => {
  let dirs: string[] = [];
  const tmp = async () => {
    const d = await tempDir();
    dirs.push(d);
    return d;
  };
  afterEach(async () => {
    await Promise.all(dirs.map(rmrf));
    dirs = [];
  });

  test('getAuthentic: the current version when it authenticates, else the newest previous one that does', async () => {
    const store = new VersionedLockStore();
    const genuine = (b: Buffer) => b.toString().startsWith('genuine');
    await store.put('k', 'genuine 1');
    expect((await getAuthentic(store, 'k', genuine))!.toString()).toBe('genuine 1');
    await store.put('k', 'garbage');
    await store.put('k', 'more garbage');
    expect((await getAuthentic(store, 'k', genuine))!.toString()).toBe('genuine 1');
    await store.delete(['k']);
    expect(await getAuthentic(store, 'k', genuine)).toBeUndefined();
    expect((await getAuthentic(store, 'k', genuine, { evenIfDeleted: true }))!.toString()).toBe('genuine 1');
    await store.put('j', 'garbage only');
    expect((await getAuthentic(store, 'j', genuine))!.toString()).toBe('garbage only');
    const throws = () => {
      throw new Error('does not authenticate');
    };
    expect((await getAuthentic(store, 'j', throws))!.toString()).toBe('garbage only');
  });

  test('a pack overwritten with garbage and an index object overwritten are read from their previous versions', async () => {
    const src = await tmp();
    await writeFile(join(src, 'a.bin'), prng(1, 600_000));
    const store = new VersionedLockStore();
    const { repo } = await newRepo(store);
    await backupTree(repo, { root: src, manifestKey: 'p1/a.snap', sessionId: 'p1', ...opts });
    for (const k of packKeys(store)) await store.put(k, randomBytes(store.objects.get(k)!.body.length));
    for (const k of indexKeys(store)) await store.put(k, randomBytes(100));
    await store.delete(['p1/a.snap']);
    const dst = await tmp();
    await restoreTree(await Repository.open(store, testKey()), { manifestKey: 'p1/a.snap', target: dst });
    expect(sha(await readFile(join(dst, 'a.bin')))).toBe(sha(prng(1, 600_000)));
  });

  test('GC keeps an unreferenced locked pack and says until when; after the date it deletes it', async () => {
    const a = await tmp();
    const b = await tmp();
    await writeFile(join(a, 'a.bin'), prng(2, 1_500_000));
    await writeFile(join(b, 'b.bin'), prng(3, 1_500_000));
    const store = new VersionedLockStore();
    const { repo } = await newRepo(store);
    await backupTree(repo, { root: a, manifestKey: 'p1/a.snap', sessionId: 'p1', ...opts });
    const packsOfA = packKeys(store);
    await backupTree(repo, { root: b, manifestKey: 'p2/b.snap', sessionId: 'p2', ...opts });
    for (const k of packsOfA) store.locks.set(k, until('2099-01-01T00:00:00Z'));

    store.now = soon;
    const r = await collectGarbage(repo, { liveManifestKeys: ['p2/b.snap'], graceMs: 0, now: soon });
    expect(r.packsDeleted).toBe(0);
    expect(r.packsLocked).toBe(packsOfA.length);
    expect(r.lockedKept).toEqual(expect.arrayContaining(packsOfA.map((key) => ({ key, reason: 'locked (governance) until 2099-01-01T00:00:00Z' }))));
    expect(r.lockedKept).toHaveLength(packsOfA.length);
    for (const k of packsOfA) expect(store.objects.has(k)).toBe(true);

    const later = Date.parse('2099-01-01T00:00:01Z');
    store.now = () => later;
    const r2 = await collectGarbage(repo, { liveManifestKeys: ['p2/b.snap'], graceMs: 0, now: () => later });
    expect(r2.packsLocked).toBe(0);
    expect(r2.packsDeleted).toBe(packsOfA.length);
    for (const k of packsOfA) expect(store.objects.has(k)).toBe(false);
  });

  test('a locked index object is never deleted, and keeps every pack it lists (no index names a deleted pack)', async () => {
    const a = await tmp();
    const b = await tmp();
    await writeFile(join(a, 'a.bin'), prng(4, 1_500_000));
    await writeFile(join(b, 'b.bin'), prng(5, 1_500_000));
    const store = new VersionedLockStore();
    const { repo } = await newRepo(store);
    await backupTree(repo, { root: a, manifestKey: 'p1/a.snap', sessionId: 'p1', ...opts });
    const indexOfA = indexKeys(store);
    const packsOfA = packKeys(store);
    await backupTree(repo, { root: b, manifestKey: 'p2/b.snap', sessionId: 'p2', ...opts });
    for (const k of indexOfA) store.locks.set(k, { mode: 'compliance', retainUntil: new Date('2099-06-01T00:00:00Z') });

    store.now = soon;
    const r = await collectGarbage(repo, { liveManifestKeys: ['p2/b.snap'], graceMs: 0, now: soon });
    expect(r.packsDeleted).toBe(0);
    expect(r.indexObjectsLocked).toBe(indexOfA.length);
    expect(r.packsLocked).toBe(packsOfA.length);
    expect(r.lockedKept).toEqual(
      expect.arrayContaining([
        ...indexOfA.map((key) => ({ key, reason: 'locked (compliance) until 2099-06-01T00:00:00Z' })),
        ...packsOfA.map((key) => ({ key, reason: `locked (compliance) until 2099-06-01T00:00:00Z (listed by ${indexOfA[0]})` })),
      ]),
    );
    for (const k of [...indexOfA, ...packsOfA]) expect(store.objects.has(k)).toBe(true);
  });
});
