// Opening a repository fetches only the index objects it has not seen: the rest come from the
// host's cache of sealed copies (or, within one instance, are not read again at all).
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MemoryObjectStore } from '../../../activities/store/memory-object-store';
import { Repository } from '../../../activities/datapath';
import { INDEX_PREFIX } from '../../../activities/datapath/repository';
import { IndexCache } from '../../../activities/datapath/index-cache';
import { newRepo, prng, rmrf, tempDir, testKey } from './helpers';

class CountingStore extends MemoryObjectStore {
  indexGets = 0;
  override async get(key: string): Promise<Buffer | undefined> {
    if (key.startsWith(INDEX_PREFIX)) this.indexGets++;
    return super.get(key);
  }
}

/** A repository with `n` index objects, one chunk each; returns the chunk ids. */
async function writeIndexes(repo: Repository, n: number, seed = 1): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    ids.push((await repo.addChunk(prng(seed * 1000 + i, 4096))).id);
    await repo.flush();
  }
  return ids;
}

const indexKeysIn = (store: MemoryObjectStore) => [...store.objects.keys()].filter((k) => k.startsWith(INDEX_PREFIX));

describe('index cache', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await tempDir('tdr-index-cache-');
  });
  afterEach(async () => rmrf(dir));

  test('a second open on the same host fetches no index object; a new one is fetched once', async () => {
    const store = new CountingStore();
    const { repo } = await newRepo(store, testKey(), { indexCacheDir: dir });
    const ids = await writeIndexes(repo, 5);
    expect(indexKeysIn(store)).toHaveLength(5);

    store.indexGets = 0;
    const again = await Repository.open(store, testKey(), { indexCacheDir: dir });
    expect(store.indexGets).toBe(0);
    for (const id of ids) expect(again.has(id)).toBe(true);

    // written elsewhere (no cache): the next open here fetches just that one
    const other = await Repository.open(store, testKey(), { indexCacheDir: 'off' });
    const [extra] = await writeIndexes(other, 1, 2);
    store.indexGets = 0;
    const third = await Repository.open(store, testKey(), { indexCacheDir: dir });
    expect(store.indexGets).toBe(1);
    expect(third.has(extra!)).toBe(true);
  });

  test('without a cache, a session start after the open fetches no index object twice', async () => {
    const store = new CountingStore();
    const { repo } = await newRepo(store, testKey(), { indexCacheDir: 'off' });
    await writeIndexes(repo, 4);
    store.indexGets = 0;
    const opened = await Repository.open(store, testKey(), { indexCacheDir: 'off' });
    expect(store.indexGets).toBe(4);
    await opened.startSession('s1');
    expect(store.indexGets).toBe(4);
  });

  test('a damaged cached copy is fetched again from the store, and the cache repaired', async () => {
    const store = new CountingStore();
    const { repo } = await newRepo(store, testKey(), { indexCacheDir: dir });
    const ids = await writeIndexes(repo, 2);
    const [cacheDir] = await readdir(dir);
    const [first] = (await readdir(join(dir, cacheDir!))).sort();
    await writeFile(join(dir, cacheDir!, first!), Buffer.from('not an index object'));

    store.indexGets = 0;
    const opened = await Repository.open(store, testKey(), { indexCacheDir: dir });
    expect(store.indexGets).toBe(1);
    for (const id of ids) expect(opened.has(id)).toBe(true);
    store.indexGets = 0;
    await Repository.open(store, testKey(), { indexCacheDir: dir });
    expect(store.indexGets).toBe(0);
  });

  test('an index object gone from the store (superseded by GC) drops its chunks and its copy', async () => {
    const store = new CountingStore();
    const { repo } = await newRepo(store, testKey(), { indexCacheDir: dir });
    const [kept, dropped] = await writeIndexes(repo, 2);
    const opened = await Repository.open(store, testKey(), { indexCacheDir: dir });
    const gone = indexKeysIn(store).find((k) => opened.packsListedBy(k).includes(opened.lookup(dropped!)!.pack))!;
    await store.delete([gone]);

    await opened.loadIndex();
    expect(opened.has(kept!)).toBe(true);
    expect(opened.has(dropped!)).toBe(false);
    expect(opened.loadedIndexKeys()).toEqual(indexKeysIn(store));
    const [cacheDir] = await readdir(dir);
    expect((await readdir(join(dir, cacheDir!))).map((n) => INDEX_PREFIX + n)).toEqual(indexKeysIn(store));
  });

  test('an index object this instance writes for packs it never uploaded (replication) is in its index', async () => {
    const { repo: source } = await newRepo(new CountingStore(), testKey(), { indexCacheDir: 'off' });
    const [id] = await writeIndexes(source, 1);
    const pack = source.knownPacks().get(source.lookup(id!)!.pack)!;
    const { repo: standby } = await newRepo(new CountingStore(), testKey(), { indexCacheDir: dir });
    expect(standby.has(id!)).toBe(false);
    await standby.writeIndex([pack]);
    await standby.loadIndex();
    expect(standby.has(id!)).toBe(true);
  });

  test('repositories never share copies; "off" (or TDR_INDEX_CACHE_DIR=off) disables the cache', () => {
    const a = IndexCache.forRepository(dir, 's3://bucket-a/dr', 'check-1')!;
    const b = IndexCache.forRepository(dir, 's3://bucket-b/dr', 'check-1')!;
    const c = IndexCache.forRepository(dir, 's3://bucket-a/dr', 'check-2')!;
    expect(new Set([a.dir, b.dir, c.dir]).size).toBe(3);
    expect(IndexCache.forRepository('off', 'x', 'y')).toBeUndefined();
    expect(IndexCache.forRepository(undefined, 'x', 'y', { TDR_INDEX_CACHE_DIR: 'off' })).toBeUndefined();
    expect(IndexCache.forRepository(undefined, 'x', 'y', { TDR_INDEX_CACHE_DIR: dir })!.dir.startsWith(dir)).toBe(true);
  });
});
