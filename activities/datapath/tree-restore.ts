/**
 * Restores a volume snapshot manifest into a target directory: dirs, files, symlinks, modes,
 * mtimes, and ownership when running as root. Every chunk is verified as it is read (GCM tag +
 * HMAC id) and every file's SHA-256 is checked before it counts as restored. Resumable: files
 * whose size and SHA-256 already match are skipped.
 *
 * Throughput: several files are restored at once (`fileConcurrency`); within a file, runs of
 * chunks stored back to back in one pack are fetched with one range GET (up to `maxRunBytes`),
 * several runs ahead (`readAhead`), all under one memory budget (`readBudgetBytes`). Consecutive
 * small files are fetched as a group, so a tree of tiny files costs a GET per run, not per file.
 */
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, closeSync, createReadStream, lstatSync, openSync, utimesSync, writeSync, constants as fsc } from 'node:fs';
import { chmod, chown, lchown, lstat, lutimes, mkdir, open, readdir, readlink, realpath, rm, symlink, unlink, utimes } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';
import { DataCorruptionError, InvalidInputError, PreflightFailedError } from '../../shared/errors';
import { isSafeRelativePath, readVolumeManifest, type FileEntry, type ManifestEntry } from './manifest';
import type { Repository } from './repository';
import { syncSlices, throwIfAborted } from '../util/concurrency';

const yieldIfSliceUsed = syncSlices();

/** Files up to this size are restored in groups (see restoreSmallFiles), at most this many per group. */
const SMALL_FILE_BYTES = 256 * 1024;
const SMALL_FILE_GROUP = 256;

/** FIFO byte semaphore: bounds fetched-but-unwritten data across concurrent files. */
class ByteBudget {
  private free: number;
  private readonly waiters: { n: number; resolve: () => void }[] = [];
  constructor(readonly total: number) {
    this.free = total;
  }
  /** Requests above the total are clamped to it (a single huge chunk still proceeds alone). */
  async acquire(n: number): Promise<number> {
    const want = Math.min(n, this.total);
    if (this.waiters.length === 0 && this.free >= want) {
      this.free -= want;
      return want;
    }
    await new Promise<void>((resolve) => this.waiters.push({ n: want, resolve }));
    return want;
  }
  release(n: number): void {
    this.free += n;
    while (this.waiters.length && this.free >= this.waiters[0]!.n) {
      const w = this.waiters.shift()!;
      this.free -= w.n;
      w.resolve();
    }
  }
}

/** A span of a file's chunk list fetched with one request: `ids` are unique, `counts` repeat them. */
interface Run {
  ids: string[];
  counts: number[];
  cost: number;
}

export interface RestoreProgress {
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
}

export interface RestoreTreeOptions {
  manifestKey: string;
  /** Absolute path of the directory to restore into (created when absent). */
  target: string;
  /** Restore only these paths (and everything below them); default: everything. */
  paths?: string[];
  onProgress?: (p: RestoreProgress) => void | Promise<void>;
  progressEveryMs?: number;
  signal?: AbortSignal;
  /** Runs of chunks fetched ahead of each file's writer (range GETs in flight per file). Default 4. */
  readAhead?: number;
  /** Files restored concurrently. Default 6. */
  fileConcurrency?: number;
  /** Largest single range GET when coalescing adjacent chunks (encrypted and plaintext bytes). Default 8 MiB. */
  maxRunBytes?: number;
  /** Bytes of fetched, not yet written chunk data across all files. Default 96 MiB. */
  readBudgetBytes?: number;
  /** Apply uid/gid; default: only when running as root. */
  chown?: boolean;
  /**
   * Make the target an exact copy (warm standby hydration): entries the manifest does not hold are
   * removed first, and a file whose size and mtime already match the manifest is kept without
   * being read (a standby's volume is written only by these restores, which set every mtime).
   */
  mirror?: boolean;
}

export interface RestoreTreeResult {
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
  /** Files already present with the right size and SHA-256 (not rewritten). */
  filesSkipped: number;
  bytesSkipped: number;
  /** Entries removed because the manifest does not hold them (mirror). */
  removed?: number;
}

function mtimeSeconds(ns: string): number {
  const n = BigInt(ns);
  return Number(n / 1_000_000_000n) + Number(n % 1_000_000_000n) / 1e9;
}

function selected(path: string, paths?: string[]): boolean {
  if (!paths || paths.length === 0) return true;
  return paths.some((p) => {
    const q = p.replace(/^\.?\/+/, '').replace(/\/+$/, '');
    return q === '' || q === '.' || path === q || path.startsWith(q + '/') || q.startsWith(path === '.' ? '' : path + '/');
  });
}

/** Removes every file, link and directory under `root` whose relative path is not in `keep`; returns how many. */
async function removeExtraneous(root: string, keep: Set<string>, signal?: AbortSignal): Promise<number> {
  let removed = 0;
  const visit = async (rel: string): Promise<void> => {
    for (const d of await readdir(rel === '.' ? root : join(root, rel), { withFileTypes: true })) {
      throwIfAborted(signal);
      const path = rel === '.' ? d.name : `${rel}/${d.name}`;
      if (!keep.has(path)) {
        await rm(join(root, path), { recursive: true, force: true });
        removed++;
      } else if (d.isDirectory()) await visit(path);
    }
  };
  await visit('.');
  return removed;
}

async function fileSha256(abs: string): Promise<string> {
  const h = createHash('sha256');
  for await (const b of createReadStream(abs, { highWaterMark: 1024 * 1024 })) h.update(b as Buffer);
  return h.digest('hex');
}

export async function restoreTree(repo: Repository, opts: RestoreTreeOptions): Promise<RestoreTreeResult> {
  const { signal } = opts;
  const manifest = await readVolumeManifest(repo, opts.manifestKey);
  for (const e of manifest.entries) {
    if (!isSafeRelativePath(e.path)) {
      throw new DataCorruptionError(`manifest ${opts.manifestKey} contains an unsafe path "${e.path}"; refusing to restore it`);
    }
  }
  if (!opts.target.startsWith('/')) throw new InvalidInputError(`target "${opts.target}" must be an absolute path`);
  const doChown = opts.chown ?? process.getuid?.() === 0;
  const readAhead = Math.max(1, opts.readAhead ?? 4);
  const entries = manifest.entries.filter((e) => selected(e.path, opts.paths));
  const files = entries.filter((e): e is FileEntry => e.type === 'file');
  const progress: RestoreProgress = { filesDone: 0, filesTotal: files.length, bytesDone: 0, bytesTotal: files.reduce((s, f) => s + f.size, 0) };
  const result: RestoreTreeResult = { files: 0, dirs: 0, symlinks: 0, bytes: 0, filesSkipped: 0, bytesSkipped: 0 };
  let lastProgress = 0;
  const report = async (force = false) => {
    throwIfAborted(signal);
    if (!opts.onProgress || (!force && Date.now() - lastProgress < (opts.progressEveryMs ?? 1000))) return;
    lastProgress = Date.now();
    await opts.onProgress({ ...progress });
  };

  await mkdir(opts.target, { recursive: true });
  if (opts.mirror && !opts.paths?.length) result.removed = await removeExtraneous(opts.target, new Set(manifest.entries.map((e) => e.path)), signal);
  const targetReal = await realpath(opts.target);
  const verifiedDirs = new Set<string>();
  /** Ensures the parent directory exists and resolves inside the target (no symlink escape). */
  const ensureParent = async (abs: string, path: string): Promise<void> => {
    const dir = dirname(abs);
    if (verifiedDirs.has(dir)) return;
    await mkdir(dir, { recursive: true });
    const real = await realpath(dir);
    if (real !== targetReal && !real.startsWith(targetReal + sep)) {
      throw new PreflightFailedError(`restoring ${path}: its parent directory resolves to ${real}, outside the target ${targetReal} (a symlink in the target?); clean the target and retry`);
    }
    verifiedDirs.add(dir);
  };
  const absOf = (p: string) => (p === '.' ? opts.target : join(opts.target, p));

  const applyOwner = async (abs: string, e: ManifestEntry, link = false) => {
    if (!doChown) return;
    await (link ? lchown : chown)(abs, e.uid, e.gid);
  };

  // 1. Directories (mode/mtime applied at the end, deepest first, so writes inside don't disturb them).
  const dirs = entries.filter((e) => e.type === 'dir');
  for (const d of dirs) {
    const abs = absOf(d.path);
    if (d.path !== '.') await ensureParent(abs, d.path);
    const st = await lstat(abs).catch(() => undefined);
    if (st && !st.isDirectory()) {
      if (st.isSymbolicLink()) await unlink(abs);
      else throw new PreflightFailedError(`restoring directory ${d.path}: ${abs} exists and is not a directory; remove it or restore elsewhere`);
    }
    await mkdir(abs, { recursive: true, mode: 0o700 });
    result.dirs++;
  }

  // 2. Files, several at once.
  const fileConcurrency = Math.max(1, opts.fileConcurrency ?? 6);
  const maxRunBytes = Math.max(1, opts.maxRunBytes ?? 8 * 1024 * 1024);
  const budget = new ByteBudget(Math.max(1, opts.readBudgetBytes ?? 96 * 1024 * 1024));

  /** Makes room for `f` at `abs`; true when the file there is already the manifest's (not rewritten). */
  const alreadyRestored = async (abs: string, f: FileEntry): Promise<boolean> => {
    await ensureParent(abs, f.path);
    await yieldIfSliceUsed();
    const st = lstatSync(abs, { throwIfNoEntry: false });
    const unchanged = opts.mirror && st?.isFile() && st.size === f.size && Math.abs(st.mtimeMs - mtimeSeconds(f.mtimeNs) * 1000) < 2;
    if (st?.isFile() && st.size === f.size && (unchanged || (await fileSha256(abs)) === f.sha256)) return true;
    if (st?.isSymbolicLink()) await unlink(abs);
    else if (st && !st.isFile()) throw new PreflightFailedError(`restoring file ${f.path}: ${abs} exists and is not a regular file; remove it or restore elsewhere`);
    return false;
  };

  const finishFile = async (abs: string, f: FileEntry, skipped: boolean): Promise<void> => {
    if (skipped) {
      result.filesSkipped++;
      result.bytesSkipped += f.size;
    }
    // metadata calls are synchronous, in slices (see syncSlices)
    chmodSync(abs, f.mode);
    if (doChown) chownSync(abs, f.uid, f.gid);
    const t = mtimeSeconds(f.mtimeNs);
    utimesSync(abs, t, t);
    result.files++;
    result.bytes += f.size;
    progress.filesDone++;
    await report();
  };

  const restoreFile = async (f: FileEntry): Promise<void> => {
    const abs = absOf(f.path);
    const skipped = await alreadyRestored(abs, f);
    if (!skipped) await writeFile(abs, f);
    await finishFile(abs, f, skipped);
  };

  /**
   * Small files, restored together: their chunks were written back to back, so one fetch (a range
   * GET per run of adjacent chunks) serves the whole group instead of a GET per file.
   */
  const restoreSmallFiles = async (group: FileEntry[]): Promise<void> => {
    const abs = group.map((f) => absOf(f.path));
    const skipped: boolean[] = [];
    for (let i = 0; i < group.length; i++) skipped.push(await alreadyRestored(abs[i]!, group[i]!));
    const ids = [...new Set(group.flatMap((f, i) => (skipped[i] ? [] : f.chunks.map(([id]) => id))))];
    let cost = 1;
    for (const id of ids) cost += Math.max(repo.lookup(id)?.length ?? 0, repo.lookup(id)?.rawLength ?? 0);
    const held = ids.length ? await budget.acquire(cost) : 0;
    try {
      const chunks = new Map<string, Buffer>();
      for (const run of rangeRuns(ids)) (await repo.readChunks(run)).forEach((b, i) => chunks.set(run[i]!, b));
      throwIfAborted(signal);
      for (let i = 0; i < group.length; i++) {
        if (!skipped[i]) await writeChunks(abs[i]!, group[i]!, group[i]!.chunks.map(([id]) => chunks.get(id)!));
      }
    } finally {
      budget.release(held);
    }
    for (let i = 0; i < group.length; i++) await finishFile(abs[i]!, group[i]!, skipped[i]!);
  };

  {
    // Work items: a group of consecutive small files, or one larger file.
    const items: FileEntry[][] = [];
    let group: FileEntry[] = [];
    let groupBytes = 0;
    for (const f of files) {
      const small = f.size <= SMALL_FILE_BYTES;
      if (group.length && (!small || groupBytes + f.size > maxRunBytes || group.length >= SMALL_FILE_GROUP)) {
        items.push(group);
        group = [];
        groupBytes = 0;
      }
      if (small) {
        group.push(f);
        groupBytes += f.size;
      } else items.push([f]);
    }
    if (group.length) items.push(group);

    let next = 0;
    let failure: { e: unknown } | undefined;
    const worker = async (): Promise<void> => {
      while (!failure && next < items.length) {
        const item = items[next++]!;
        try {
          throwIfAborted(signal);
          if (item.length === 1 && item[0]!.size > SMALL_FILE_BYTES) await restoreFile(item[0]!);
          else await restoreSmallFiles(item);
        } catch (e) {
          failure ??= { e };
        }
      }
    };
    // Every worker stops taking work after the first failure and finishes its current item.
    await Promise.all(Array.from({ length: Math.min(fileConcurrency, items.length) }, worker));
    if (failure) throw failure.e;
  }

  /** Splits chunk ids into runs that each take one range GET of at most `maxRunBytes` (adjacent in one pack). */
  function rangeRuns(ids: string[]): string[][] {
    const runs: string[][] = [];
    let cur: string[] = [];
    let bytes = 0;
    for (const id of ids) {
      const n = Math.max(repo.lookup(id)?.length ?? 0, repo.lookup(id)?.rawLength ?? 0);
      if (cur.length && (!repo.adjacent(cur[cur.length - 1]!, id) || bytes + n > maxRunBytes)) {
        runs.push(cur);
        cur = [];
        bytes = 0;
      }
      cur.push(id);
      bytes += n;
    }
    if (cur.length) runs.push(cur);
    return runs;
  }

  /** Writes a small file from its fetched chunks and checks it against the manifest. */
  async function writeChunks(abs: string, f: FileEntry, chunks: Buffer[]): Promise<void> {
    const data = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
    // one synchronous write, in slices (see syncSlices): small files only
    await yieldIfSliceUsed();
    const fd = openSync(abs, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC | fsc.O_NOFOLLOW, 0o600);
    try {
      for (let off = 0; off < data.length; ) off += writeSync(fd, data, off, data.length - off, off);
    } finally {
      closeSync(fd);
    }
    progress.bytesDone += data.length;
    verifyRestored(f, data.length, createHash('sha256').update(data).digest('hex'));
  }

  function verifyRestored(f: FileEntry, written: number, digest: string): void {
    if (written !== f.size || digest !== f.sha256) {
      throw new DataCorruptionError(
        `restored file ${f.path} from ${opts.manifestKey} does not verify: ${written} bytes with SHA-256 ${digest}, ` +
          `manifest says ${f.size} bytes with ${f.sha256}; the recovery point is damaged — use another one`,
      );
    }
  }

  /** Splits a file's chunk list into runs: adjacent blobs of one pack, repeats of a chunk fetched once. */
  function planRuns(f: FileEntry): Run[] {
    const runs: Run[] = [];
    let cur: Run | undefined;
    let curRaw = 0;
    for (const [id, n] of f.chunks) {
      const loc = repo.lookup(id);
      const len = loc?.length ?? n;
      const rawLen = loc?.rawLength ?? n;
      if (cur) {
        const lastId = cur.ids[cur.ids.length - 1]!;
        if (lastId === id) {
          cur.counts[cur.counts.length - 1]!++;
          continue;
        }
        if (repo.adjacent(lastId, id) && cur.cost + len <= maxRunBytes && curRaw + rawLen <= maxRunBytes) {
          cur.ids.push(id);
          cur.counts.push(1);
          cur.cost += len;
          curRaw += rawLen;
          continue;
        }
      }
      cur = { ids: [id], counts: [1], cost: len };
      curRaw = rawLen;
      runs.push(cur);
    }
    // Budget the larger of the encrypted and plaintext sizes of each run.
    for (const r of runs) {
      let raw = 0;
      for (const id of r.ids) raw += repo.lookup(id)?.rawLength ?? 0;
      r.cost = Math.max(r.cost, raw, 1);
    }
    return runs;
  }

  async function writeFile(abs: string, f: FileEntry): Promise<void> {
    const fh = await open(abs, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_TRUNC | fsc.O_NOFOLLOW, 0o600);
    const hash = createHash('sha256');
    let written = 0;
    const runs = planRuns(f);
    const queue: { run: Run; held: Promise<number>; data: Promise<Buffer[]> }[] = [];
    let next = 0;
    let abandoned = false;
    // Budget is acquired in file order, so what a file holds is always a prefix of its queue and
    // the head of every queue that holds budget can complete: no deadlock between files.
    let acquired: Promise<unknown> = Promise.resolve();
    const enqueue = () => {
      const run = runs[next++]!;
      const held = acquired.then(() => budget.acquire(run.cost));
      acquired = held;
      const data = held.then(() => (abandoned ? [] : repo.readChunks(run.ids)));
      data.catch(() => undefined);
      queue.push({ run, held, data });
    };
    try {
      while (next < runs.length && queue.length < readAhead) enqueue();
      while (queue.length) {
        const { run, held, data } = queue.shift()!;
        const n = await held;
        try {
          const bufs = await data;
          if (next < runs.length) enqueue();
          throwIfAborted(signal);
          for (let i = 0; i < bufs.length; i++) {
            const chunk = bufs[i]!;
            for (let c = 0; c < run.counts[i]!; c++) {
              hash.update(chunk);
              let off = 0;
              while (off < chunk.length) {
                const { bytesWritten } = await fh.write(chunk, off, chunk.length - off, written + off);
                off += bytesWritten;
              }
              written += chunk.length;
              progress.bytesDone += chunk.length;
            }
          }
        } finally {
          budget.release(n);
        }
        await report();
      }
    } finally {
      // On failure: runs still queued fetch nothing more and give their budget back.
      abandoned = true;
      for (const q of queue.splice(0)) {
        void q.held.then((n) => q.data.then(
          () => budget.release(n),
          () => budget.release(n),
        ));
      }
      await fh.close();
    }
    verifyRestored(f, written, hash.digest('hex'));
  }

  // 3. Symlinks, after files so no file is ever written through a restored link.
  for (const l of entries) {
    if (l.type !== 'symlink') continue;
    const abs = absOf(l.path);
    await ensureParent(abs, l.path);
    const st = await lstat(abs).catch(() => undefined);
    if (st?.isSymbolicLink() && (await readlink(abs)) === l.target) {
      // already there
    } else {
      if (st?.isSymbolicLink() || st?.isFile()) await unlink(abs);
      else if (st) throw new PreflightFailedError(`restoring symlink ${l.path}: ${abs} exists and is a directory; remove it or restore elsewhere`);
      await symlink(l.target, abs);
    }
    await applyOwner(abs, l, true);
    const t = mtimeSeconds(l.mtimeNs);
    await lutimes(abs, t, t);
    result.symlinks++;
  }

  // 4. Directory modes, owners and mtimes, deepest first.
  for (const d of [...dirs].reverse()) {
    const abs = absOf(d.path);
    await chmod(abs, d.mode);
    await applyOwner(abs, d);
    const t = mtimeSeconds(d.mtimeNs);
    await utimes(abs, t, t);
  }
  await report(true);
  return result;
}
