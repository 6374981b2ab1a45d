/**
 * Backs up a directory tree (a PersistentVolume's hostPath directory) into the repository and
 * writes a volume snapshot manifest at a caller-given key.
 *
 * Resume: every `checkpointEveryBytes` / `checkpointEveryMs` the open packs are flushed (packs +
 * index object) and a partial-manifest segment `repo/partials/<sessionId>/<seq>` records the files
 * finished since the previous segment, plus the chunks done so far of the file in progress. A new
 * attempt with the same session id replays the segments: unchanged finished files are skipped and
 * a large file in progress continues from its last chunk boundary (its prefix is re-read only to
 * feed the SHA-256). The heartbeat checkpoint stays tiny: counters and the session id.
 *
 * Parent reuse: with `parentManifestKey` (the previous snapshot of the same volume), a regular
 * file whose size, mtime, inode and ctime all equal its entry in the parent, and whose chunks are
 * all still in the repository, takes the parent's chunk list and SHA-256 without being read.
 * ctime cannot be set from user space and changes on every write, so a rewrite that keeps size
 * and mtime (databases do that) is still detected. An entry records inode and ctime only when
 * the file's ctime was clearly older than the start of its read (see RACY_MARGIN_NS): a file
 * changed within the same timestamp tick as its read could otherwise keep a stale ctime match.
 */
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, lstatSync, openSync, readFileSync, readSync, readdirSync } from 'node:fs';
import { lstat, readlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { BigIntStats } from 'node:fs';
import { InvalidInputError } from '../../shared/errors';
import { listAll } from '../store/object-store';
import { readVolumeManifest, type BackupSummary, type FileEntry, type ManifestEntry, type SkippedEntry, type VolumeManifest } from './manifest';
import { PARTIALS_PREFIX, assertSafeId, type Repository, type SessionMarker } from './repository';
import { syncSlices, throwIfAborted } from '../util/concurrency';

const READ_BLOCK = 1024 * 1024;
/**
 * Read buffer for a file of `size` bytes: a stream allocates a whole highWaterMark for every read,
 * so a 1 MiB buffer per tiny file made a tree of small files allocate ~1 MiB per file, and the GC
 * that external memory triggers dominated the backup (B8). Files that grow while read still
 * stream in full, in blocks of this size.
 */
const readBlockFor = (size: number) => Math.min(READ_BLOCK, Math.max(4096, size));

/**
 * Files up to this size are read with one synchronous call (see syncSlices): with readFile's four
 * thread-pool round trips (open, fstat, read, close) a tree of small files backed up 20-50x
 * slower per file, and the CPU profile was 60% idle.
 */
const SYNC_READ_MAX_BYTES = 256 * 1024;
const yieldIfSliceUsed = syncSlices();

/**
 * A small file's bytes, read with one buffer of the size the walk saw (+1 to notice growth).
 * Not readFileSync: for a file whose stat says 0 bytes it reads into a fresh 64 KiB buffer, and
 * on a tree of 100,000 empty and tiny files that garbage reached 540 MiB of external memory.
 */
function readSmallFileSync(abs: string, size: number): Buffer {
  const fd = openSync(abs, 'r');
  try {
    const buf = Buffer.allocUnsafe(size + 1);
    let n = 0;
    for (let got = -1; n < buf.length && got !== 0; n += got) got = readSync(fd, buf, n, buf.length - n, null);
    if (n <= size) return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
  return readFileSync(abs); // it grew since the walk: read it whole
}

/** A file's bytes from `start`, in blocks: a small file in one synchronous read, others streamed. */
async function* readBlocks(abs: string, start: number, size: number): AsyncIterable<Buffer> {
  if (start === 0 && size <= SYNC_READ_MAX_BYTES) {
    await yieldIfSliceUsed();
    yield readSmallFileSync(abs, size);
    return;
  }
  for await (const buf of createReadStream(abs, { start, highWaterMark: readBlockFor(size - start) })) yield buf as Buffer;
}

/**
 * A file whose ctime is this close to (or after) the start of its read gets no `ino`/`ctimeNs` in
 * its entry, so the next backup re-reads it instead of trusting the stat match: a write right
 * after the read can carry the same ctime. Filesystems with whole-second timestamps (ext3, ext4
 * with 128-byte inodes; seen as ctimes with no sub-second part) need a full second; others stamp
 * from the kernel's coarse clock (one tick, ≤ 10 ms, behind), so a tenth of a second is ample.
 * Assumes the filesystem's clock is this host's (for NFS, server clock skew beyond these margins
 * would defeat the check).
 */
export const RACY_MARGIN_NS = 1_000_000_000n;
export const RACY_MARGIN_FINE_NS = 100_000_000n;

function racyMargin(ctimeNs: bigint): bigint {
  return ctimeNs % 1_000_000_000n === 0n ? RACY_MARGIN_NS : RACY_MARGIN_FINE_NS;
}

/** Heartbeat details: small and bounded whatever the volume size. */
export interface BackupCheckpoint {
  v: 1;
  sessionId: string;
  /** Partial-manifest segments written so far. */
  segments: number;
  filesDone: number;
  bytesDone: number;
}

export interface BackupProgress {
  filesDone: number;
  filesTotal: number;
  bytesDone: number;
  bytesTotal: number;
  bytesUploaded: number;
  /** The last durable checkpoint (undefined until the first one). */
  checkpoint?: BackupCheckpoint;
}

export interface BackupTreeOptions {
  /** Absolute path of the directory to back up. */
  root: string;
  /** Object key of the manifest (relative to the store prefix), e.g. points/<id>/volumes/<pvc>.snap. */
  manifestKey: string;
  /** Stable across retries of the same backup (e.g. workflow id + volume); [A-Za-z0-9._-]. */
  sessionId: string;
  /** From the last heartbeat of a previous attempt, if any. */
  checkpoint?: BackupCheckpoint;
  /** Volume-relative paths (and everything below them) left out of the copy. */
  exclude?: string[];
  /** When set, only these volume-relative paths (and the directories leading to them) are copied. */
  only?: string[];
  /** Stored in the manifest (no secrets). */
  source?: Record<string, string>;
  /**
   * Manifest key of the previous snapshot of the same volume. Unchanged files (size, mtime, inode
   * and ctime equal, chunks still stored) reuse its entries without being read. A parent that
   * cannot be read only disables the reuse (`parentUsed` false in the result).
   */
  parentManifestKey?: string;
  /** Called at least every `progressEveryMs` and after every checkpoint; a throw aborts the backup. */
  onProgress?: (p: BackupProgress) => void | Promise<void>;
  signal?: AbortSignal;
  /** Checkpoint after this many bytes of new (not deduplicated) chunk data. Default 64 MiB. */
  checkpointEveryBytes?: number;
  /** ...or after this long since the last checkpoint. Default 10 s. */
  checkpointEveryMs?: number;
  progressEveryMs?: number;
}

export interface BackupTreeResult extends BackupSummary {
  key: string;
  /** SHA-256 of the stored manifest object (for the catalog). */
  sha256: string;
  /** Size of the stored manifest object (not included in newBytesUploaded). */
  manifestBytes: number;
  resumed: boolean;
  /** True when `parentManifestKey` was given and could be read. */
  parentUsed?: boolean;
  /** Why the parent could not be used, when it was given and could not be read. */
  parentError?: string;
}

/**
 * What the backup needs of one lstat, kept for every item of the tree until it is backed up:
 * plain numbers and the strings the manifest entry shares, not the BigIntStats (2-3x the heap).
 */
interface WalkItem {
  path: string;
  /** 'dir', 'file', 'symlink', or the kind of an item that is not backed up (kindOf). */
  kind: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeNs: string;
  ctimeNs: string;
  ino: string;
}

function walkItemOf(path: string, st: BigIntStats): WalkItem {
  const kind = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : kindOf(st);
  return {
    path,
    kind,
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    size: Number(st.size),
    mtimeNs: st.mtimeNs.toString(),
    ctimeNs: st.ctimeNs.toString(),
    ino: st.ino.toString(),
  };
}

interface PartialFile {
  path: string;
  size: number;
  mtimeNs: string;
  /** Offset in the file where `chunks` start. */
  startOffset: number;
  chunks: [string, number][];
}

interface Segment {
  v: 1;
  entries: FileEntry[];
  partial?: PartialFile;
}

function baseOf(it: WalkItem) {
  return { path: it.path, mode: it.mode, uid: it.uid, gid: it.gid, mtimeNs: it.mtimeNs };
}

function kindOf(st: BigIntStats): string {
  if (st.isSocket()) return 'socket';
  if (st.isFIFO()) return 'fifo';
  if (st.isCharacterDevice()) return 'char-device';
  if (st.isBlockDevice()) return 'block-device';
  return 'unknown';
}

const norm = (p: string) => p.replace(/^\.?\/+/, '').replace(/\/+$/, '');
const within = (path: string, prefix: string) => path === prefix || path.startsWith(prefix + '/');

/**
 * Whether a path takes part in the copy: not under an `exclude` path, and, when `only` is given,
 * under one of those paths or a directory on the way to one.
 */
export function pathSelected(path: string, only?: string[], exclude?: string[]): boolean {
  if (path === '.') return true;
  if ((exclude ?? []).map(norm).some((e) => within(path, e))) return false;
  if (!only?.length) return true;
  return only.map(norm).some((o) => o === '' || within(path, o) || o.startsWith(path + '/'));
}

/** Lists the tree depth-first, parents before children, children in byte order of their names. */
async function walk(root: string, skipped: SkippedEntry[], signal?: AbortSignal, only?: string[], exclude?: string[]): Promise<WalkItem[]> {
  const items: WalkItem[] = [];
  const visit = async (path: string, abs: string): Promise<void> => {
    throwIfAborted(signal);
    if (!pathSelected(path, only, exclude)) return;
    // Synchronous calls in slices, as for small files (SYNC_READ_MAX_BYTES).
    await yieldIfSliceUsed();
    const st = lstatSync(abs, { bigint: true, throwIfNoEntry: path === '.' });
    if (!st) {
      skipped.push({ path, kind: 'unknown', reason: 'vanished during the backup' });
      return;
    }
    items.push(walkItemOf(path, st));
    if (st.isDirectory()) {
      let names: string[];
      try {
        names = readdirSync(abs);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw e;
      }
      names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      for (const n of names) await visit(path === '.' ? n : `${path}/${n}`, join(abs, n));
    }
  };
  await visit('.', root);
  return items;
}

/** Reads partial-manifest segments of a session: finished files and the file in progress. */
async function loadSegments(repo: Repository, sessionId: string): Promise<{ count: number; done: Map<string, FileEntry>; partial?: PartialFile & { doneBytes: number } }> {
  const keys = (await listAll(repo.store, `${PARTIALS_PREFIX}${sessionId}/`)).map((o) => o.key).sort();
  const done = new Map<string, FileEntry>();
  let partial: (PartialFile & { doneBytes: number }) | undefined;
  for (const key of keys) {
    const seg = await repo.getObject<Segment>('partial-manifest', key);
    if (!seg) continue;
    for (const e of seg.entries) {
      done.set(e.path, e);
      if (partial?.path === e.path) partial = undefined;
    }
    const p = seg.partial;
    if (p) {
      if (partial && partial.path === p.path && partial.size === p.size && partial.mtimeNs === p.mtimeNs && partial.doneBytes === p.startOffset) {
        partial.chunks.push(...p.chunks);
        partial.doneBytes += p.chunks.reduce((s, [, n]) => s + n, 0);
      } else if (p.startOffset === 0) {
        partial = { ...p, chunks: [...p.chunks], doneBytes: p.chunks.reduce((s, [, n]) => s + n, 0) };
      }
    }
  }
  return { count: keys.length, done, partial };
}

function segmentKey(sessionId: string, seq: number): string {
  return `${PARTIALS_PREFIX}${sessionId}/${String(seq).padStart(8, '0')}`;
}

export async function backupTree(repo: Repository, opts: BackupTreeOptions): Promise<BackupTreeResult> {
  const { sessionId, manifestKey, signal } = opts;
  assertSafeId(sessionId, 'sessionId');
  if (!manifestKey || manifestKey.startsWith('/') || manifestKey.startsWith('repo/')) {
    throw new InvalidInputError(`manifestKey "${manifestKey}" is invalid: give a relative key outside repo/, e.g. points/<point>/volumes/<pvc>.snap`);
  }
  if (opts.checkpoint && opts.checkpoint.sessionId !== sessionId) {
    throw new InvalidInputError(`checkpoint.sessionId "${opts.checkpoint.sessionId}" does not match sessionId "${sessionId}"; pass the checkpoint of the same backup session`);
  }
  const rootSt = await lstat(opts.root).catch(() => undefined);
  if (!rootSt?.isDirectory()) throw new InvalidInputError(`root ${opts.root} is not a directory; check the volume's host path on this node`);

  // Idempotent completion: a retry after the manifest was written returns the same result.
  const existing = await repo.store.get(manifestKey);
  if (existing) {
    const m = repo.openObject<VolumeManifest>('manifest', manifestKey, existing);
    if (m.sessionId === sessionId) {
      await repo.endSession(sessionId);
      return { key: manifestKey, sha256: createHash('sha256').update(existing).digest('hex'), manifestBytes: existing.length, resumed: true, ...m.summary };
    }
  }

  const marker: SessionMarker = await repo.startSession(sessionId, { manifestKey, host: hostname() });
  const statsAtStart = { ...repo.stats };
  const everyBytes = opts.checkpointEveryBytes ?? 64 * 1024 * 1024;
  const everyMs = opts.checkpointEveryMs ?? 10_000;
  const progressEveryMs = opts.progressEveryMs ?? 1000;

  try {
    const resume = await loadSegments(repo, sessionId);
    let seq = resume.count;
    // Parent entries that can be trusted for reuse: regular files with inode and ctime recorded.
    const parent = new Map<string, FileEntry>();
    let parentUsed: boolean | undefined;
    let parentError: string | undefined;
    if (opts.parentManifestKey) {
      try {
        const pm = await readVolumeManifest(repo, opts.parentManifestKey);
        for (const e of pm.entries) if (e.type === 'file' && e.ino !== undefined && e.ctimeNs !== undefined) parent.set(e.path, e);
        parentUsed = true;
      } catch (e) {
        parentUsed = false;
        parentError = (e as Error).message;
      }
    }
    const skipped: SkippedEntry[] = [];
    const items = await walk(opts.root, skipped, signal, opts.only, opts.exclude);

    let filesTotal = 0;
    let bytesTotal = 0;
    for (const it of items) if (it.kind === 'file') (filesTotal++, (bytesTotal += it.size));

    const summary: BackupSummary = {
      files: 0,
      dirs: 0,
      symlinks: 0,
      bytes: 0,
      skipped: 0,
      newBytesUploaded: 0,
      newChunkBytes: 0,
      dedupedBytes: 0,
      packsUploaded: 0,
      resumedFiles: 0,
      resumedBytes: 0,
      reusedFiles: 0,
      reusedBytes: 0,
    };
    let bytesDone = 0;
    let checkpoint: BackupCheckpoint | undefined = opts.checkpoint && resume.count > 0 ? { ...opts.checkpoint, segments: resume.count } : undefined;
    let finishedSinceSegment: FileEntry[] = [];
    let bytesSinceCheckpoint = 0;
    let lastCheckpointAt = Date.now();
    let lastProgressAt = 0;

    const progress = async (force: boolean): Promise<void> => {
      throwIfAborted(signal);
      if (!opts.onProgress || (!force && Date.now() - lastProgressAt < progressEveryMs)) return;
      lastProgressAt = Date.now();
      await opts.onProgress({
        filesDone: summary.files,
        filesTotal,
        bytesDone,
        bytesTotal,
        bytesUploaded: repo.stats.bytesUploaded - statsAtStart.bytesUploaded,
        checkpoint,
      });
    };

    /** Makes progress durable; `current` is the file in progress with its chunks since `startOffset`. */
    const writeCheckpoint = async (current?: PartialFile): Promise<void> => {
      await repo.flush();
      const seg: Segment = { v: 1, entries: finishedSinceSegment, partial: current };
      await repo.putObject('partial-manifest', segmentKey(sessionId, seq), seg);
      seq++;
      finishedSinceSegment = [];
      bytesSinceCheckpoint = 0;
      lastCheckpointAt = Date.now();
      await repo.touchSession(marker);
      checkpoint = { v: 1, sessionId, segments: seq, filesDone: summary.files, bytesDone };
      await progress(true);
    };
    const checkpointDue = () => bytesSinceCheckpoint >= everyBytes || Date.now() - lastCheckpointAt >= everyMs;

    const entries: ManifestEntry[] = [];
    const absOf = (path: string) => (path === '.' ? opts.root : join(opts.root, path));
    for (const it of items) {
      throwIfAborted(signal);
      const { path } = it;
      const abs = absOf(path);
      if (it.kind === 'dir') {
        entries.push({ type: 'dir', ...baseOf(it) });
        summary.dirs++;
      } else if (it.kind === 'symlink') {
        let target: string;
        try {
          target = await readlink(abs);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
            skipped.push({ path, kind: 'symlink', reason: 'vanished during the backup' });
            continue;
          }
          throw e;
        }
        entries.push({ type: 'symlink', ...baseOf(it), target });
        summary.symlinks++;
      } else if (it.kind === 'file') {
        const { size, mtimeNs } = it;
        const prev = resume.done.get(path);
        // A finished file of an earlier attempt; when it recorded inode and ctime, they must match too.
        const prevStatOk = !prev || prev.ctimeNs === undefined || (prev.ctimeNs === it.ctimeNs && prev.ino === it.ino);
        if (prev && prevStatOk && prev.size === size && prev.mtimeNs === mtimeNs && prev.chunks.every(([id]) => repo.has(id))) {
          const e: FileEntry = { ...prev, ...baseOf(it) };
          entries.push(e);
          summary.files++;
          summary.bytes += size;
          summary.resumedFiles++;
          summary.resumedBytes += size;
          bytesDone += size;
          await progress(false);
          continue;
        }
        const pe = parent.get(path);
        if (
          pe &&
          pe.size === size &&
          pe.mtimeNs === mtimeNs &&
          pe.ino === it.ino &&
          pe.ctimeNs === it.ctimeNs &&
          pe.chunks.reduce((n, [, len]) => n + len, 0) === size &&
          pe.chunks.every(([id]) => repo.has(id))
        ) {
          entries.push({ ...pe, ...baseOf(it), ino: pe.ino, ctimeNs: pe.ctimeNs });
          summary.files++;
          summary.bytes += size;
          summary.reusedFiles = (summary.reusedFiles ?? 0) + 1;
          summary.reusedBytes = (summary.reusedBytes ?? 0) + size;
          bytesDone += size;
          await progress(false);
          continue;
        }
        const p = resume.partial;
        const partial = p && p.path === path && p.size === size && p.mtimeNs === mtimeNs && p.chunks.every(([id]) => repo.has(id)) ? p : undefined;
        const entry = await backupFile(it, abs, size, mtimeNs, partial);
        if (!entry) {
          skipped.push({ path, kind: 'file', reason: 'vanished during the backup' });
          continue;
        }
        entries.push(entry);
        finishedSinceSegment.push(entry);
        summary.files++;
        summary.bytes += entry.size;
        if (checkpointDue()) await writeCheckpoint();
      } else {
        skipped.push({ path, kind: it.kind, reason: 'not a regular file, directory or symlink; not backed up' });
      }
      await progress(false);
    }

    async function backupFile(it: WalkItem, abs: string, size: number, mtimeNs: string, partial?: PartialFile & { doneBytes: number }): Promise<FileEntry | undefined> {
      const hash = createHash('sha256');
      const chunks: [string, number][] = [];
      const readStartNs = BigInt(Date.now()) * 1_000_000n;
      let offset = 0;
      let segmentStart = 0;
      if (partial) {
        // Re-read the finished prefix only to feed the SHA-256; its chunks are already stored.
        for await (const buf of createReadStream(abs, { start: 0, end: partial.doneBytes - 1, highWaterMark: READ_BLOCK })) {
          hash.update(buf as Buffer);
          throwIfAborted(signal);
        }
        chunks.push(...partial.chunks);
        offset = segmentStart = partial.doneBytes;
        summary.resumedBytes += offset;
        bytesDone += offset;
      }
      const chunker = repo.newChunker();
      let chunksAtSegmentStart = chunks.length;
      const addChunk = async (c: Buffer): Promise<void> => {
        const { id, stored } = await repo.addChunk(c);
        chunks.push([id, c.length]);
        offset += c.length;
        bytesDone += c.length;
        // Only new data counts toward the byte trigger: an unchanged rerun checkpoints on time alone.
        if (stored) bytesSinceCheckpoint += c.length;
        if (checkpointDue()) {
          await writeCheckpoint({ path: it.path, size, mtimeNs, startOffset: segmentStart, chunks: chunks.slice(chunksAtSegmentStart) });
          segmentStart = offset;
          chunksAtSegmentStart = chunks.length;
        } else {
          await progress(false);
        }
      };
      try {
        for await (const buf of readBlocks(abs, offset, size)) {
          hash.update(buf as Buffer);
          for (const c of chunker.push(buf as Buffer)) await addChunk(c);
        }
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw e;
      }
      const last = chunker.finish();
      if (last) await addChunk(last);
      const entry: FileEntry = { type: 'file', ...baseOf(it), size: offset, sha256: hash.digest('hex'), chunks };
      // Only a file that had not changed for a while before its read may be reused by stat later;
      // and only when the read saw exactly the size the stat saw.
      const ctimeNs = BigInt(it.ctimeNs);
      if (offset === size && ctimeNs < readStartNs - racyMargin(ctimeNs)) {
        entry.ino = it.ino;
        entry.ctimeNs = it.ctimeNs;
      }
      return entry;
    }

    await repo.flush();
    const s = repo.stats;
    summary.skipped = skipped.length;
    summary.newChunkBytes = s.bytesNew - statsAtStart.bytesNew;
    summary.dedupedBytes = s.bytesDeduped - statsAtStart.bytesDeduped;
    summary.packsUploaded = s.packsUploaded - statsAtStart.packsUploaded;
    const manifest: VolumeManifest = {
      format: 'tdr-volume-snapshot',
      version: 1,
      sessionId,
      created: marker.started,
      completed: new Date().toISOString(),
      source: opts.source ?? {},
      chunker: repo.config.chunker,
      summary,
      skipped,
      entries,
    };
    summary.newBytesUploaded = s.bytesUploaded - statsAtStart.bytesUploaded;
    const finalBody = repo.sealObject('manifest', manifest);
    await repo.store.put(manifestKey, finalBody, { contentType: 'application/octet-stream' });
    s.bytesUploaded += finalBody.length;
    s.putRequests++;
    await repo.endSession(sessionId);
    if (opts.onProgress) {
      await opts.onProgress({ filesDone: summary.files, filesTotal, bytesDone, bytesTotal, bytesUploaded: s.bytesUploaded - statsAtStart.bytesUploaded, checkpoint });
    }
    return {
      key: manifestKey,
      sha256: createHash('sha256').update(finalBody).digest('hex'),
      manifestBytes: finalBody.length,
      resumed: resume.count > 0,
      ...(parentUsed !== undefined ? { parentUsed } : {}),
      ...(parentError !== undefined ? { parentError } : {}),
      ...summary,
    };
  } catch (e) {
    // Leave the session marker and segments in place: a new attempt resumes from them.
    await repo.settle();
    throw e;
  }
}
