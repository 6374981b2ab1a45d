import fs from 'node:fs';
import fsp from 'node:fs/promises';
import { lstat, mkdir, readFile, readdir, readlink, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MemoryObjectStore } from '../../../activities/store/memory-object-store';
import { Repository, backupTree, restoreTree, readVolumeManifest, type FileEntry } from '../../../activities/datapath';
import { CompressionFlag, compressBlob, COMPRESS_PROBE_BYTES } from '../../../activities/datapath/compress';
import { newRepo, prng, rmrf, sha, tempDir, testKey, textish } from './helpers';

let dirs: string[] = [];
async function tmp(): Promise<string> {
  const d = await tempDir();
  dirs.push(d);
  return d;
}
afterEach(async () => {
  jest.restoreAllMocks();
  await Promise.all(dirs.map(rmrf));
  dirs = [];
});

const opts = { checkpointEveryBytes: 2 ** 40, checkpointEveryMs: 1 << 30 };
/** Files changed just before their read are not trusted by stat later (RACY_MARGIN_NS). */
const settle = () => new Promise((r) => setTimeout(r, 1100));

async function describeTree(root: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const visit = async (rel: string) => {
    const abs = rel === '.' ? root : join(root, rel);
    const st = await lstat(abs);
    if (st.isDirectory()) {
      out[rel] = `dir ${(st.mode & 0o7777).toString(8)}`;
      for (const n of (await readdir(abs)).sort()) await visit(rel === '.' ? n : `${rel}/${n}`);
    } else if (st.isSymbolicLink()) out[rel] = `link ${await readlink(abs)}`;
    else out[rel] = `file ${(st.mode & 0o7777).toString(8)} ${st.size} ${sha(await readFile(abs))} ${Math.round(st.mtimeMs)}`;
  };
  await visit('.');
  return out;
}

async function makeVolume(root: string): Promise<void> {
  await mkdir(join(root, 'db/base'), { recursive: true });
  await mkdir(join(root, 'logs'), { recursive: true });
  await writeFile(join(root, 'db/base/big.dat'), Buffer.concat([prng(1, 2 * 1024 * 1024), textish(1024 * 1024, 2)]));
  for (let i = 0; i < 20; i++) await writeFile(join(root, `db/base/rel-${i}`), prng(100 + i, 8192 * (i + 1)));
  await writeFile(join(root, 'logs/app.log'), textish(300_000, 3));
  await writeFile(join(root, 'empty'), '');
}

/** Files under `root` whose bytes the backup reads, whichever call it reads them with. */
function spyReads(root: string): string[] {
  const opened: string[] = [];
  type Call = (path: unknown, ...rest: unknown[]) => unknown;
  /** Wraps `mod[name]`, noting the path of each call that `reads` says is a read. */
  const watch = (mod: object, name: string, reads: (rest: unknown[]) => boolean = () => true) => {
    const orig = (mod as Record<string, Call>)[name]!;
    jest.spyOn(mod as Record<string, Call>, name).mockImplementation((path, ...rest) => {
      if (String(path).startsWith(root) && reads(rest)) opened.push(String(path));
      return orig(path, ...rest);
    });
  };
  watch(fs, 'createReadStream');
  watch(fs, 'readFileSync');
  watch(fs, 'openSync', ([flags]) => flags === undefined || flags === 'r' || flags === fs.constants.O_RDONLY);
  watch(fsp, 'readFile');
  return opened;
}

const fileEntries = async (repo: Repository, key: string) =>
  (await readVolumeManifest(repo, key)).entries.filter((e): e is FileEntry => e.type === 'file');

describe('backup with a parent manifest', () => {
  test('unchanged re-run reads no file bytes and yields the same entries', async () => {
    const src = await tmp();
    await makeVolume(src);
    await settle();
    const { repo, store } = await newRepo();
    const r1 = await backupTree(repo, { root: src, manifestKey: 'p1/v.snap', sessionId: 's1', ...opts });
    const e1 = await fileEntries(repo, r1.key);
    expect(e1.filter((e) => e.size > 0).every((e) => e.ino !== undefined && e.ctimeNs !== undefined)).toBe(true);

    const repo2 = await Repository.open(store, testKey());
    const opened = spyReads(src);
    const r2 = await backupTree(repo2, { root: src, manifestKey: 'p2/v.snap', sessionId: 's2', parentManifestKey: r1.key, ...opts });
    expect(opened).toEqual([]);
    expect(repo2.stats.bytesIn).toBe(0);
    expect(r2.parentUsed).toBe(true);
    expect(r2.reusedFiles).toBe(r1.files);
    expect(r2.reusedBytes).toBe(r1.bytes);
    expect(r2.files).toBe(r1.files);
    expect(r2.bytes).toBe(r1.bytes);
    expect(r2.newChunkBytes).toBe(0);
    expect(await fileEntries(repo2, r2.key)).toEqual(e1);
    const all1 = (await readVolumeManifest(repo2, r1.key)).entries;
    expect((await readVolumeManifest(repo2, r2.key)).entries).toEqual(all1);

    // The reused point restores byte-identical.
    const dst = join(await tmp(), 'r');
    await restoreTree(repo2, { manifestKey: r2.key, target: dst });
    expect(await describeTree(dst)).toEqual(await describeTree(src));
  });

  test('a same-size rewrite that keeps mtime is detected by ctime and re-read', async () => {
    const src = await tmp();
    await makeVolume(src);
    const victim = join(src, 'db/base/rel-3');
    const t = 1_600_000_000;
    await utimes(victim, t, t);
    await settle();
    const { repo } = await newRepo();
    const r1 = await backupTree(repo, { root: src, manifestKey: 'p1/v.snap', sessionId: 's1', ...opts });
    const before = (await fileEntries(repo, r1.key)).find((e) => e.path === 'db/base/rel-3')!;

    const size = (await lstat(victim)).size;
    const fresh = prng(999, size);
    await writeFile(victim, fresh);
    await utimes(victim, t, t); // same size, same mtime (ns), new content: only ctime differs
    const st = await lstat(victim, { bigint: true });
    expect(st.mtimeNs.toString()).toBe(before.mtimeNs);
    expect(Number(st.size)).toBe(before.size);

    const opened = spyReads(src);
    const r2 = await backupTree(repo, { root: src, manifestKey: 'p2/v.snap', sessionId: 's2', parentManifestKey: r1.key, ...opts });
    expect(opened).toEqual([victim]);
    expect(r2.reusedFiles).toBe(r1.files - 1);
    const after = (await fileEntries(repo, r2.key)).find((e) => e.path === 'db/base/rel-3')!;
    expect(after.sha256).toBe(sha(fresh));

    const dst = join(await tmp(), 'r');
    await restoreTree(repo, { manifestKey: r2.key, target: dst });
    expect((await readFile(join(dst, 'db/base/rel-3'))).equals(fresh)).toBe(true);
    expect(await describeTree(dst)).toEqual(await describeTree(src));
  });

  test('files changed right before the read are not trusted later; size/mtime changes are re-read', async () => {
    const src = await tmp();
    await makeVolume(src);
    await settle();
    // Racy: written just before the backup (sorts first, so it is read within milliseconds).
    await writeFile(join(src, '0-fresh.log'), textish(50_000, 8));
    const { repo } = await newRepo();
    const r1 = await backupTree(repo, { root: src, manifestKey: 'p1/v.snap', sessionId: 's1', ...opts });
    expect((await fileEntries(repo, r1.key)).find((e) => e.path === '0-fresh.log')!.ctimeNs).toBeUndefined();
    await writeFile(join(src, 'logs/app.log'), textish(300_001, 3)); // size change
    const opened = spyReads(src);
    const r2 = await backupTree(repo, { root: src, manifestKey: 'p2/v.snap', sessionId: 's2', parentManifestKey: r1.key, ...opts });
    expect(opened.sort()).toEqual([join(src, '0-fresh.log'), join(src, 'logs/app.log')]);
    expect(r2.reusedFiles).toBe(r1.files - 2);
  });

  test('parent chunks missing from the repository: files are read; unreadable parent only disables reuse', async () => {
    const src = await tmp();
    await makeVolume(src);
    await settle();
    const a = await newRepo();
    const r1 = await backupTree(a.repo, { root: src, manifestKey: 'p1/v.snap', sessionId: 's1', ...opts });
    // Another repository (same repository key: a copy of the config, as a standby has) that holds
    // the parent manifest but none of its chunks.
    const other = new MemoryObjectStore();
    await other.put('repo/config', a.store.objects.get('repo/config')!.body);
    const b = await newRepo(other);
    await other.put('p1/v.snap', a.store.objects.get('p1/v.snap')!.body);
    const r2 = await backupTree(b.repo, { root: src, manifestKey: 'p2/v.snap', sessionId: 's2', parentManifestKey: 'p1/v.snap', ...opts });
    expect(r2.parentUsed).toBe(true);
    expect(r2.reusedFiles).toBe(1); // only the empty file (no chunks to miss)
    expect(r2.reusedBytes).toBe(0);
    expect(r2.newChunkBytes).toBe(r1.newChunkBytes);
    const dst = join(await tmp(), 'r');
    await restoreTree(b.repo, { manifestKey: r2.key, target: dst });
    expect(await describeTree(dst)).toEqual(await describeTree(src));

    const r3 = await backupTree(a.repo, { root: src, manifestKey: 'p3/v.snap', sessionId: 's3', parentManifestKey: 'no/such.snap', ...opts });
    expect(r3.parentUsed).toBe(false);
    expect(r3.parentError).toMatch(/not found/);
    expect(r3.reusedFiles).toBe(0);
    expect(r3.files).toBe(r1.files);
  });
});

describe('concurrent restore', () => {
  async function manySmall(root: string): Promise<void> {
    for (let d = 0; d < 6; d++) {
      await mkdir(join(root, `d${d}`), { recursive: true });
      for (let i = 0; i < 40; i++) {
        const n = (d * 40 + i) % 7 === 0 ? 0 : ((d * 977 + i * 1553) % 40_000) + 1;
        await writeFile(join(root, `d${d}/f${i}`), i % 2 ? prng(d * 100 + i + 1, n) : textish(n, d * 100 + i + 1));
      }
    }
    await writeFile(join(root, 'big-1'), prng(4242, 3 * 1024 * 1024 + 17));
    await writeFile(join(root, 'zeros'), Buffer.alloc(2 * 1024 * 1024));
    await writeFile(join(root, 'big-2'), Buffer.concat([textish(1024 * 1024, 9), prng(4343, 1024 * 1024)]));
  }

  test('many small files restored concurrently are byte-identical; adjacent chunks share range GETs', async () => {
    const src = await tmp();
    await manySmall(src);
    const { repo, store } = await newRepo();
    const r = await backupTree(repo, { root: src, manifestKey: 'p/v.snap', sessionId: 's', ...opts });
    expect(r.files).toBe(243);
    const want = await describeTree(src);

    const fresh = await Repository.open(store, testKey());
    const dst = join(await tmp(), 'r');
    const res = await restoreTree(fresh, { manifestKey: r.key, target: dst, fileConcurrency: 8 });
    expect(res.files).toBe(243);
    expect(await describeTree(dst)).toEqual(want);
    expect(fresh.stats.rangeGets).toBeLessThan(fresh.stats.chunksRead);

    // A tiny memory budget (smaller than one chunk) and one chunk per GET still complete correctly.
    const fresh2 = await Repository.open(store, testKey());
    const dst2 = join(await tmp(), 'r2');
    await restoreTree(fresh2, { manifestKey: r.key, target: dst2, fileConcurrency: 5, readAhead: 3, readBudgetBytes: 10_000, maxRunBytes: 1 });
    expect(await describeTree(dst2)).toEqual(want);
    expect(fresh2.stats.rangeGets).toBe(fresh2.stats.chunksRead);

    // Re-run over the restored tree rewrites nothing.
    const again = await restoreTree(fresh, { manifestKey: r.key, target: dst });
    expect(again.filesSkipped).toBe(243);
  });

  test('a damaged chunk fails the restore with every worker stopped', async () => {
    const src = await tmp();
    await manySmall(src);
    const { repo, store } = await newRepo();
    const r = await backupTree(repo, { root: src, manifestKey: 'p/v.snap', sessionId: 's', ...opts });
    for (const [k, v] of store.objects) if (k.startsWith('repo/packs/')) v.body[Math.floor(v.body.length / 3)]! ^= 0xff;
    const fresh = await Repository.open(store, testKey());
    await expect(restoreTree(fresh, { manifestKey: r.key, target: join(await tmp(), 'r'), fileConcurrency: 8 })).rejects.toThrow(/chunk|verify|corrupt/i);
  });
});

describe('compression probe', () => {
  test('incompressible chunks skip the full compression pass; compressible ones are compressed', () => {
    const random = prng(5, 512 * 1024);
    expect(compressBlob(random)[0][0]).toBe(CompressionFlag.Raw);
    expect(compressBlob(random)[1]).toBe(random);
    const text = textish(512 * 1024, 5);
    const [flag, payload] = compressBlob(text);
    expect(flag[0]).not.toBe(CompressionFlag.Raw);
    expect(payload.length).toBeLessThan(text.length / 2);
    // Small chunks are not probed: compressible data after a random prefix still compresses.
    const small = Buffer.concat([prng(6, COMPRESS_PROBE_BYTES / 2), Buffer.alloc(COMPRESS_PROBE_BYTES)]);
    expect(compressBlob(small)[0][0]).not.toBe(CompressionFlag.Raw);
  });
});

describe('mirror restore (warm standby hydration)', () => {
  test('a second point onto the first restore rewrites only what changed, removes what the point lacks, reads no unchanged file', async () => {
    const src = await tmp();
    await makeVolume(src);
    await settle();
    const { repo } = await newRepo();
    const r1 = await backupTree(repo, { root: src, manifestKey: 'p1/v.snap', sessionId: 's1', ...opts });
    const dst = join(await tmp(), 'standby');
    const first = await restoreTree(repo, { manifestKey: r1.key, target: dst, mirror: true });
    expect(first.removed).toBe(0);
    expect(await describeTree(dst)).toEqual(await describeTree(src));

    await writeFile(join(src, 'db/base/rel-3'), prng(999, 1000));
    fs.rmSync(join(src, 'logs'), { recursive: true });
    await writeFile(join(dst, 'stray.tmp'), 'left by nobody');
    await settle();
    const r2 = await backupTree(repo, { root: src, manifestKey: 'p2/v.snap', sessionId: 's2', parentManifestKey: r1.key, ...opts });
    const opened = spyReads(dst);
    const second = await restoreTree(repo, { manifestKey: r2.key, target: dst, mirror: true });
    expect(await describeTree(dst)).toEqual(await describeTree(src));
    expect(second.removed).toBe(2); // logs/ (with app.log) and stray.tmp
    expect(second.files - second.filesSkipped).toBe(1);
    expect(opened).toEqual([]);
  });
});
