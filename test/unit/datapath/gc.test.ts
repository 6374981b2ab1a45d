import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Repository, backupTree, collectGarbage, restoreTree } from '../../../activities/datapath';
import { newRepo, prng, rmrf, sha, tempDir, testKey } from './helpers';
import { readFile } from 'node:fs/promises';

const opts = { checkpointEveryBytes: 2 ** 40, checkpointEveryMs: 2 ** 30 };
const packKeys = (store: { objects: Map<string, unknown> }) => [...store.objects.keys()].filter((k) => k.startsWith('repo/packs/'));

describe('garbage collection', () => {
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

  test('keeps referenced chunks, deletes packs only expired points used, rewrites the index', async () => {
    const a = await tmp();
    const b = await tmp();
    await writeFile(join(a, 'shared.bin'), prng(1, 2 << 20));
    await writeFile(join(a, 'only-a.bin'), prng(2, 3 << 20));
    await writeFile(join(b, 'shared.bin'), prng(1, 2 << 20));
    const { repo, store } = await newRepo();
    await backupTree(repo, { root: a, manifestKey: 'p1/a.snap', sessionId: 'p1', ...opts });
    await backupTree(repo, { root: b, manifestKey: 'p2/b.snap', sessionId: 'p2', ...opts });
    const before = packKeys(store).length;

    // p1 expires: the caller deletes its manifest and passes the live ones.
    await store.delete(['p1/a.snap']);
    const dry = await collectGarbage(repo, { liveManifestKeys: ['p2/b.snap'], graceMs: 0, dryRun: true });
    expect(dry.packsDeleted).toBeGreaterThan(0);
    expect(packKeys(store).length).toBe(before);

    const r = await collectGarbage(repo, { liveManifestKeys: ['p2/b.snap'], graceMs: 0 });
    expect(r.deferred).toBe(false);
    expect(r.packsDeleted).toBeGreaterThan(0);
    expect(r.bytesDeleted).toBeGreaterThan(2 << 20);
    expect(packKeys(store).length).toBe(before - r.packsDeleted);
    expect([...store.objects.keys()].filter((k) => k.startsWith('repo/locks/'))).toEqual([]);
    expect(r.indexObjectsWritten).toBe(1);

    // p2 still restores from a freshly opened repository
    const dst = await tmp();
    await restoreTree(await Repository.open(store, testKey()), { manifestKey: 'p2/b.snap', target: dst });
    expect(sha(await readFile(join(dst, 'shared.bin')))).toBe(sha(prng(1, 2 << 20)));
  });

  test('grace period keeps young packs; a missing live manifest aborts without deleting', async () => {
    const a = await tmp();
    await writeFile(join(a, 'x.bin'), prng(3, 2 << 20));
    const { repo, store } = await newRepo();
    await backupTree(repo, { root: a, manifestKey: 'p1/a.snap', sessionId: 'p1', ...opts });
    const n = packKeys(store).length;
    const r = await collectGarbage(repo, { liveManifestKeys: [], graceMs: 3600_000 });
    expect(r.packsDeleted).toBe(0);
    expect(r.packsInGrace).toBe(n);
    await expect(collectGarbage(repo, { liveManifestKeys: ['gone/x.snap'], graceMs: 0 })).rejects.toMatchObject({ name: 'NotFoundError' });
    expect(packKeys(store).length).toBe(n);
  });

  test('an in-progress session defers GC; a stale one is cleaned up', async () => {
    const a = await tmp();
    await writeFile(join(a, 'x.bin'), prng(4, 2 << 20));
    const { repo, store } = await newRepo();
    // a crashed backup leaves its session marker and partial manifests
    const crashed = await backupTree(repo, {
      root: a,
      manifestKey: 'p9/a.snap',
      sessionId: 'running',
      checkpointEveryBytes: 256 * 1024,
      progressEveryMs: 0,
      onProgress: (p) => {
        if (p.bytesDone > 1 << 20) throw new Error('killed');
      },
    }).catch((e) => e);
    expect(crashed.message).toBe('killed');
    const n = packKeys(store).length;
    expect(n).toBeGreaterThan(0);

    const r = await collectGarbage(repo, { liveManifestKeys: [], graceMs: 0 });
    expect(r.deferred).toBe(true);
    expect(r.activeSessions).toEqual(['running']);
    expect(packKeys(store).length).toBe(n);

    // the session resumes fine after the deferred GC
    // ...but if abandoned for longer than staleSessionMs it is removed and its packs collected
    const later = Date.now() + 2 * 24 * 3600_000;
    const r2 = await collectGarbage(repo, { liveManifestKeys: [], graceMs: 0, now: () => later });
    expect(r2.staleSessionsRemoved).toEqual(['running']);
    expect(r2.packsDeleted).toBe(n);
    expect([...store.objects.keys()].filter((k) => k.startsWith('repo/partials/') || k.startsWith('repo/sessions/'))).toEqual([]);

    // resuming the removed session starts over and still produces a complete, restorable point
    const res = await backupTree(await Repository.open(store, testKey()), { root: a, manifestKey: 'p9/a.snap', sessionId: 'running', ...opts });
    expect(res.resumedFiles).toBe(0);
    const dst = await tmp();
    await restoreTree(await Repository.open(store, testKey()), { manifestKey: 'p9/a.snap', target: dst });
    expect(sha(await readFile(join(dst, 'x.bin')))).toBe(sha(prng(4, 2 << 20)));
  });

  test('a backup waits for a GC lock, then proceeds', async () => {
    const a = await tmp();
    await writeFile(join(a, 'x.bin'), prng(5, 100_000));
    const { repo, store } = await newRepo();
    await store.put('repo/locks/gc-test', '{}');
    setTimeout(() => void store.delete(['repo/locks/gc-test']), 1500);
    const t = Date.now();
    await backupTree(repo, { root: a, manifestKey: 'p/a.snap', sessionId: 's', ...opts });
    expect(Date.now() - t).toBeGreaterThanOrEqual(1000);
    await store.put('repo/locks/gc-test2', '{}');
    await expect(repo.startSession('s2', {}, { lockWaitMs: 10 })).rejects.toMatchObject({ name: 'RepositoryBusyError' });
    expect(store.objects.has('repo/sessions/s2')).toBe(false);
  });
});
