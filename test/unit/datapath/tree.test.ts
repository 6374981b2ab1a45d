import { execFileSync } from 'node:child_process';
import { lstat, mkdir, readFile, readlink, readdir, symlink, utimes, writeFile, chmod, open } from 'node:fs/promises';
import { join } from 'node:path';
import { MemoryObjectStore } from '../../../activities/store/memory-object-store';
import { Repository, backupTree, restoreTree, readVolumeManifest, type BackupCheckpoint } from '../../../activities/datapath';
import { newRepo, prng, rmrf, sha, storedBytes, tempDir, testKey, textish } from './helpers';

let dirs: string[] = [];
async function tmp(): Promise<string> {
  const d = await tempDir();
  dirs.push(d);
  return d;
}
afterEach(async () => {
  await Promise.all(dirs.map(rmrf));
  dirs = [];
});

/** Lists a tree as comparable records (type, mode, size, sha, link target, mtime). */
async function describeTree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const visit = async (rel: string) => {
    const abs = rel === '.' ? root : join(root, rel);
    const st = await lstat(abs);
    const mt = Math.round(st.mtimeMs);
    if (st.isDirectory()) {
      out[rel] = `dir ${(st.mode & 0o7777).toString(8)} ${rel === '.' ? '' : mt}`;
      for (const n of (await readdir(abs)).sort()) await visit(rel === '.' ? n : `${rel}/${n}`);
    } else if (st.isSymbolicLink()) out[rel] = `link ${await readlink(abs)}`;
    else if (st.isFile()) out[rel] = `file ${(st.mode & 0o7777).toString(8)} ${st.size} ${sha(await readFile(abs))} ${mt}`;
    else out[rel] = 'other';
  };
  await visit('.');
  return out;
}

async function makeTree(root: string, seed = 1): Promise<void> {
  await mkdir(join(root, 'data/sub/deeper'), { recursive: true });
  await mkdir(join(root, 'empty-dir'));
  await writeFile(join(root, 'data/big.bin'), prng(seed, 3 * 1024 * 1024 + 123));
  await writeFile(join(root, 'data/text.log'), textish(700_000, seed));
  await writeFile(join(root, 'data/sub/small.txt'), 'hello volume\n');
  await writeFile(join(root, 'data/sub/deeper/empty'), '');
  await writeFile(join(root, 'data/sub/script.sh'), '#!/bin/sh\necho hi\n');
  await chmod(join(root, 'data/sub/script.sh'), 0o750);
  await chmod(join(root, 'data/sub/small.txt'), 0o600);
  await symlink('sub/small.txt', join(root, 'data/link-to-small'));
  await symlink('/nonexistent/target', join(root, 'dangling'));
  await utimes(join(root, 'data/text.log'), 1_600_000_000, 1_600_000_000.5);
  await chmod(join(root, 'empty-dir'), 0o705);
}

const opts = { checkpointEveryBytes: 2 ** 40, checkpointEveryMs: 1 << 30 };

describe('tree backup and restore', () => {
  test('roundtrip: bytes, modes, symlinks, mtimes identical; fifo skipped with a note', async () => {
    const src = await tmp();
    await makeTree(src);
    execFileSync('mkfifo', [join(src, 'a-fifo')]);
    const { repo, store } = await newRepo();
    const res = await backupTree(repo, { root: src, manifestKey: 'points/p1/volumes/v1.snap', sessionId: 'p1-v1', source: { pvc: 'data' }, ...opts });
    expect(res.files).toBe(5);
    expect(res.symlinks).toBe(2);
    expect(res.skipped).toBe(1);
    expect(res.sha256).toBe(sha(store.objects.get('points/p1/volumes/v1.snap')!.body));
    expect([...store.objects.keys()].some((k) => k.startsWith('repo/sessions/'))).toBe(false);
    const m = await readVolumeManifest(repo, res.key);
    expect(m.skipped).toEqual([{ path: 'a-fifo', kind: 'fifo', reason: expect.stringMatching(/not a regular file/) }]);

    const dst = join(await tmp(), 'restored');
    const fresh = await Repository.open(store, testKey());
    const r = await restoreTree(fresh, { manifestKey: res.key, target: dst });
    expect(r.files).toBe(5);
    const want = await describeTree(src);
    delete want['a-fifo'];
    expect(await describeTree(dst)).toEqual(want);
    // precise mtime survives
    expect((await lstat(join(dst, 'data/text.log'))).mtimeMs).toBe(1_600_000_000_500);

    // resumable restore: a second run rewrites nothing
    const r2 = await restoreTree(fresh, { manifestKey: res.key, target: dst });
    expect(r2.filesSkipped).toBe(5);
    // partial restore with a path filter
    const only = join(await tmp(), 'only');
    await restoreTree(fresh, { manifestKey: res.key, target: only, paths: ['data/sub'] });
    expect((await readFile(join(only, 'data/sub/small.txt'), 'utf8'))).toBe('hello volume\n');
    await expect(lstat(join(only, 'data/big.bin'))).rejects.toThrow(/ENOENT/);
  });

  test('a tree of tiny files restores with a range GET per group of files, not per file; identical and empty files included', async () => {
    const src = await tmp();
    for (let d = 0; d < 3; d++) {
      await mkdir(join(src, `d${d}`));
      for (let i = 0; i < 200; i++) await writeFile(join(src, `d${d}`, `f${i}`), i % 10 === 0 ? '' : i % 7 === 0 ? 'same content\n' : `file ${d}/${i}\n`);
    }
    await writeFile(join(src, 'd1', 'large.bin'), prng(5, 600 * 1024));
    const { repo, store } = await newRepo();
    const res = await backupTree(repo, { root: src, manifestKey: 'p/tiny.snap', sessionId: 'tiny', ...opts });
    expect(res.files).toBe(601);
    const fresh = await Repository.open(store, testKey());
    const dst = join(await tmp(), 'restored');
    const r = await restoreTree(fresh, { manifestKey: res.key, target: dst });
    expect(r.files).toBe(601);
    expect(await describeTree(dst)).toEqual(await describeTree(src));
    expect(fresh.stats.rangeGets).toBeLessThan(20);
    // A restore over it rewrites nothing; one damaged tiny file is rewritten alone.
    await writeFile(join(dst, 'd2', 'f3'), 'file 2/X\n');
    const again = await restoreTree(fresh, { manifestKey: res.key, target: dst });
    expect(again.filesSkipped).toBe(600);
    expect(await readFile(join(dst, 'd2', 'f3'), 'utf8')).toBe('file 2/3\n');
  });

  test('a tree of tiny files (read with synchronous calls) still lets the event loop turn, for heartbeats and uploads', async () => {
    const src = await tmp();
    for (let d = 0; d < 20; d++) {
      await mkdir(join(src, `d${d}`));
      for (let i = 0; i < 250; i++) await writeFile(join(src, `d${d}`, `f${i}`), `file ${d}/${i}\n`);
    }
    const { repo } = await newRepo();
    let turns = 0;
    const tick = setInterval(() => turns++, 1);
    const started = Date.now();
    const res = await backupTree(repo, { root: src, manifestKey: 'p/loop.snap', sessionId: 'loop', ...opts });
    const ms = Date.now() - started;
    clearInterval(tick);
    expect(res.files).toBe(5000);
    // a turn at least every ~10 ms of synchronous work (the slice), with a wide margin for a slow machine
    expect(turns).toBeGreaterThanOrEqual(Math.floor(ms / 50));
    expect(turns).toBeGreaterThan(2);
  });

  test('dedupes across two volumes of a plan', async () => {
    const a = await tmp();
    const b = await tmp();
    const shared = prng(77, 4 * 1024 * 1024);
    await writeFile(join(a, 'db.img'), shared);
    await writeFile(join(b, 'copy.img'), shared);
    await writeFile(join(b, 'own.bin'), prng(78, 256 * 1024));
    const { repo } = await newRepo();
    const r1 = await backupTree(repo, { root: a, manifestKey: 'p/a.snap', sessionId: 'p-a', ...opts });
    const r2 = await backupTree(repo, { root: b, manifestKey: 'p/b.snap', sessionId: 'p-b', ...opts });
    expect(r1.newChunkBytes).toBe(shared.length);
    expect(r2.dedupedBytes).toBe(shared.length);
    expect(r2.newChunkBytes).toBeLessThan(600 * 1024);
  });

  test('incremental: unchanged data uploads < 5%; 1% scattered change uploads a small multiple', async () => {
    const src = await tmp();
    const size = 32 * 1024 * 1024;
    const img = Buffer.concat([prng(5, size / 2), textish(size / 2, 5)]);
    await writeFile(join(src, 'volume.img'), img);
    await writeFile(join(src, 'other.txt'), textish(100_000, 9));
    const { repo, store } = await newRepo();
    const r1 = await backupTree(repo, { root: src, manifestKey: 'p1/v.snap', sessionId: 's1', ...opts });

    const putsBefore = store.puts;
    const r2 = await backupTree(await Repository.open(store, testKey()), { root: src, manifestKey: 'p2/v.snap', sessionId: 's2', ...opts });
    expect(r2.newBytesUploaded + r2.manifestBytes).toBeLessThan(0.05 * r1.newBytesUploaded);
    expect(r2.newChunkBytes).toBe(0);
    // marker, manifest (no packs, no index); session cleanup is deletes
    expect(store.puts - putsBefore).toBeLessThanOrEqual(3);

    // 1% scattered change: 8 writes of 40 KiB
    const fh = await open(join(src, 'volume.img'), 'r+');
    const changed = 8 * 40 * 1024;
    for (let i = 0; i < 8; i++) await fh.write(prng(900 + i, 40 * 1024), 0, 40 * 1024, Math.floor((i + 0.5) * (size / 8)));
    await fh.close();
    const r3 = await backupTree(await Repository.open(store, testKey()), { root: src, manifestKey: 'p3/v.snap', sessionId: 's3', ...opts });
    expect(r3.newChunkBytes).toBeLessThan(8 * changed);
    expect(r3.newBytesUploaded).toBeLessThan(8 * changed);
    const dst = await tmp();
    await restoreTree(await Repository.open(store, testKey()), { manifestKey: 'p3/v.snap', target: dst });
    expect(sha(await readFile(join(dst, 'volume.img')))).toBe(sha(await readFile(join(src, 'volume.img'))));
    // the older point still restores the older bytes
    const old = await tmp();
    await restoreTree(await Repository.open(store, testKey()), { manifestKey: 'p1/v.snap', target: old });
    expect(sha(await readFile(join(old, 'volume.img')))).toBe(sha(img));
  });

  test('resume after a crash uploads only the rest (mid-file checkpoint of a large file)', async () => {
    const src = await tmp();
    await writeFile(join(src, 'a-small.bin'), prng(11, 300_000));
    const big = prng(12, 12 * 1024 * 1024);
    await writeFile(join(src, 'b-big.bin'), big);
    await writeFile(join(src, 'c-after.bin'), prng(13, 500_000));
    const { repo, store } = await newRepo();
    let last: BackupCheckpoint | undefined;
    const crash = await backupTree(repo, {
      root: src,
      manifestKey: 'p/v.snap',
      sessionId: 'sess-1',
      checkpointEveryBytes: 2 * 1024 * 1024,
      checkpointEveryMs: 1 << 30,
      progressEveryMs: 0,
      onProgress: (p) => {
        last = p.checkpoint ?? last;
        if (p.bytesDone > 9 * 1024 * 1024) throw new Error('agent killed');
      },
    }).catch((e) => e);
    expect(crash.message).toBe('agent killed');
    expect(last!.segments).toBeGreaterThanOrEqual(3);
    expect(JSON.stringify(last).length).toBeLessThan(200); // tiny heartbeat
    expect(store.objects.has('repo/sessions/sess-1')).toBe(true);
    const uploadedBeforeCrash = storedBytes(store, 'repo/packs/');
    expect(uploadedBeforeCrash).toBeGreaterThan(6 * 1024 * 1024);

    const repo2 = await Repository.open(store, testKey());
    const res = await backupTree(repo2, { root: src, manifestKey: 'p/v.snap', sessionId: 'sess-1', checkpoint: last, ...opts });
    expect(res.resumed).toBe(true);
    expect(res.resumedFiles).toBe(1);
    expect(res.resumedBytes).toBeGreaterThan(6 * 1024 * 1024);
    const total = 300_000 + big.length + 500_000;
    expect(repo2.stats.bytesNew).toBeLessThan(total - uploadedBeforeCrash + 1024 * 1024);
    expect(repo2.stats.bytesDeduped).toBeLessThan(1024 * 1024); // at most the chunks after the last checkpoint
    expect(store.objects.has('repo/sessions/sess-1')).toBe(false);
    expect([...store.objects.keys()].some((k) => k.startsWith('repo/partials/'))).toBe(false);

    const dst = await tmp();
    await restoreTree(repo2, { manifestKey: 'p/v.snap', target: dst });
    expect(sha(await readFile(join(dst, 'b-big.bin')))).toBe(sha(big));

    // a retry after completion is idempotent
    const again = await backupTree(repo2, { root: src, manifestKey: 'p/v.snap', sessionId: 'sess-1', ...opts });
    expect(again.sha256).toBe(res.sha256);
  });

  test('an AbortSignal stops the backup; the next attempt resumes', async () => {
    const src = await tmp();
    for (let i = 0; i < 6; i++) await writeFile(join(src, `f${i}.bin`), prng(200 + i, 1 << 20));
    const { repo, store } = await newRepo();
    const ac = new AbortController();
    const err = await backupTree(repo, {
      root: src,
      manifestKey: 'p/v.snap',
      sessionId: 'abort-me',
      checkpointEveryBytes: 1 << 20,
      progressEveryMs: 0,
      signal: ac.signal,
      onProgress: (p) => {
        if (p.filesDone >= 3) ac.abort(new Error('cancelled by the workflow'));
      },
    }).catch((e) => e);
    expect(err.message).toBe('cancelled by the workflow');
    expect(store.objects.has('p/v.snap')).toBe(false);
    const res = await backupTree(await Repository.open(store, testKey()), { root: src, manifestKey: 'p/v.snap', sessionId: 'abort-me', ...opts });
    expect(res.resumedBytes).toBeGreaterThanOrEqual(3 << 20);
    expect(res.files).toBe(6);
  });

  test('no plaintext reaches the store', async () => {
    const src = await tmp();
    const marker = 'TOP-SECRET-MARKER-d41d8cd98f00';
    await writeFile(join(src, 'secret.env'), `PASSWORD=${marker}\n`.repeat(1000));
    await mkdir(join(src, `dir-${marker}`));
    await symlink(`/etc/${marker}`, join(src, 'link'));
    const { repo, store } = await newRepo();
    await backupTree(repo, { root: src, manifestKey: 'p/v.snap', sessionId: 'x', source: { note: 'no secret here' }, ...opts });
    for (const [key, { body }] of store.objects) {
      expect(key).not.toContain(marker);
      expect(body.includes(Buffer.from(marker))).toBe(false);
      expect(body.includes(Buffer.from('PASSWORD'))).toBe(false);
    }
  });
});

describe('restore verification', () => {
  test('a corrupted chunk stops the restore with ChunkCorruptedError', async () => {
    const src = await tmp();
    await writeFile(join(src, 'f.bin'), prng(1, 500_000));
    const { repo, store } = await newRepo(new MemoryObjectStore());
    await backupTree(repo, { root: src, manifestKey: 'p/v.snap', sessionId: 'x', ...opts });
    for (const [k, o] of store.objects) if (k.startsWith('repo/packs/')) o.body[40] ^= 1;
    await expect(restoreTree(repo, { manifestKey: 'p/v.snap', target: await tmp() })).rejects.toMatchObject({ name: 'ChunkCorruptedError' });
  });
});
