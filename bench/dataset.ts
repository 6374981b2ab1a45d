/**
 * Deterministic benchmark data: the same seed and size always give the same bytes, so runs and
 * machines compare. Bulk random bytes come from an AES-256-CTR keystream (fast, seeded); decisions
 * and log text from mulberry32.
 *
 * Volume layout (file count fixed at 508 whatever the size):
 *   images/blob-{0..3}.bin   55% of the rest: incompressible random data
 *   logs/app-{0..3}.log      45% of the rest: log-like text (zstd-1 compresses it ~4-8×)
 *   small/dNN/fNNN.{txt,bin} 500 files of 512 B – 64 KiB (half text, half random), ~16 MiB
 *
 * Small-file tree (generateSmallFiles, B2's files/s row): N files of 1–16 KiB (half log text, half
 * random), 1,000 per directory (dNNNN/fNNNNNN.{txt,bin}); ~8.5 KiB on average, 100,000 ≈ 830 MiB.
 */
import { createCipheriv, createHash } from 'node:crypto';
import { closeSync, createReadStream, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { MiB } from './table';

export const SMALL_FILES = 500;
export const LARGE_RANDOM_FILES = 4;
export const LOG_FILES = 4;
const BLOCK = 4 * MiB;

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seeded stream of random bytes (AES-256-CTR over zeros). */
export class RandomBytes {
  private readonly cipher;
  private static readonly zeros = Buffer.alloc(BLOCK);
  constructor(seed: string) {
    const key = createHash('sha256').update(`tdr-bench:${seed}`).digest();
    this.cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  }
  next(n: number): Buffer {
    const out: Buffer[] = [];
    for (let left = n; left > 0; left -= BLOCK) out.push(this.cipher.update(RandomBytes.zeros.subarray(0, Math.min(BLOCK, left))));
    return out.length === 1 ? out[0]! : Buffer.concat(out);
  }
}

const LEVELS = ['INFO ', 'INFO ', 'INFO ', 'DEBUG', 'WARN ', 'ERROR'];
const PATHS = ['/api/v1/orders', '/api/v1/users', '/api/v1/cart', '/healthz', '/api/v2/search', '/static/app.js', '/api/v1/payments'];
const USERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi', 'ivan', 'judy'];
const MSGS = [
  'request completed',
  'cache miss, loading from database',
  'slow query detected',
  'connection reset by peer, retrying',
  'user session refreshed',
  'payment authorised',
  'rate limit exceeded for client',
];

/** Log-like text: timestamps, levels, ids, paths, durations. */
export class LogText {
  private readonly rnd: () => number;
  private t = Date.UTC(2025, 0, 1);
  constructor(seed: number) {
    this.rnd = mulberry32(seed);
  }
  next(n: number): Buffer {
    const r = this.rnd;
    const pick = <T>(a: T[]) => a[Math.floor(r() * a.length)]!;
    const parts: string[] = [];
    let len = 0;
    while (len < n) {
      this.t += Math.floor(r() * 50);
      const line =
        `${new Date(this.t).toISOString()} ${pick(LEVELS)} [worker-${Math.floor(r() * 16)}] ${pick(MSGS)} ` +
        `req=${Math.floor(r() * 0xffffffff).toString(16).padStart(8, '0')} path=${pick(PATHS)}/${Math.floor(r() * 100000)} ` +
        `status=${r() < 0.95 ? 200 : 500} dur=${Math.floor(r() * 900)}ms user=${pick(USERS)}\n`;
      parts.push(line);
      len += line.length;
    }
    return Buffer.from(parts.join(''), 'latin1').subarray(0, n);
  }
}

function writeGenerated(path: string, size: number, gen: (n: number) => Buffer): void {
  const fd = openSync(path, 'w');
  try {
    for (let done = 0; done < size; ) {
      const b = gen(Math.min(BLOCK, size - done));
      writeSync(fd, b);
      done += b.length;
    }
  } finally {
    closeSync(fd);
  }
}

export interface VolumeDataset {
  root: string;
  files: number;
  bytes: number;
  /** Files that the scattered change writes into. */
  largeFiles: { path: string; size: number }[];
}

/** Writes the benchmark volume under `root` (which must not exist or be empty). */
export function generateVolume(root: string, totalBytes: number, seed = 1): VolumeDataset {
  const rnd = mulberry32(seed);
  const align = (n: number) => Math.max(4096, Math.floor(n / 4096) * 4096);
  let bytes = 0;
  let files = 0;
  // Small files first (their total decides what is left for the large ones).
  const randomSmall = new RandomBytes(`small-${seed}`);
  const textSmall = new LogText(seed + 1);
  for (let i = 0; i < SMALL_FILES; i++) {
    const dir = join(root, 'small', `d${String(i % 10).padStart(2, '0')}`);
    mkdirSync(dir, { recursive: true });
    const size = 512 + Math.floor(rnd() * (64 * 1024 - 512));
    const text = i % 2 === 0;
    writeGenerated(join(dir, `f${String(i).padStart(3, '0')}.${text ? 'txt' : 'bin'}`), size, (n) => (text ? textSmall.next(n) : randomSmall.next(n)));
    bytes += size;
    files++;
  }
  const rest = Math.max(0, totalBytes - bytes);
  const largeFiles: { path: string; size: number }[] = [];
  mkdirSync(join(root, 'images'), { recursive: true });
  mkdirSync(join(root, 'logs'), { recursive: true });
  const randomSize = align((rest * 0.55) / LARGE_RANDOM_FILES);
  for (let i = 0; i < LARGE_RANDOM_FILES; i++) {
    const path = join(root, 'images', `blob-${i}.bin`);
    const g = new RandomBytes(`blob-${seed}-${i}`);
    writeGenerated(path, randomSize, (n) => g.next(n));
    largeFiles.push({ path, size: randomSize });
    bytes += randomSize;
    files++;
  }
  const logSize = align((rest - randomSize * LARGE_RANDOM_FILES) / LOG_FILES);
  for (let i = 0; i < LOG_FILES; i++) {
    const path = join(root, 'logs', `app-${i}.log`);
    const g = new LogText(seed * 1000 + i);
    writeGenerated(path, logSize, (n) => g.next(n));
    largeFiles.push({ path, size: logSize });
    bytes += logSize;
    files++;
  }
  return { root, files, bytes, largeFiles };
}

export interface SmallFilesDataset {
  root: string;
  files: number;
  bytes: number;
}

/** Writes `count` files of 1–16 KiB under `root` (deterministic for a seed), 1,000 per directory. */
export function generateSmallFiles(root: string, count: number, seed = 11): SmallFilesDataset {
  const rnd = mulberry32(seed);
  const random = new RandomBytes(`smallfiles-${seed}`);
  const text = new LogText(seed + 1);
  // Pre-generate both kinds in 4 MiB slabs and cut files out of them: a call per file is slow.
  let slab = { random: random.next(BLOCK), text: text.next(BLOCK), off: 0 };
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    if (i % 1000 === 0) mkdirSync(join(root, `d${String(i / 1000).padStart(4, '0')}`), { recursive: true });
    const size = 1024 + Math.floor(rnd() * 15 * 1024);
    if (slab.off + size > BLOCK) slab = { random: random.next(BLOCK), text: text.next(BLOCK), off: 0 };
    const isText = i % 2 === 0;
    const body = (isText ? slab.text : slab.random).subarray(slab.off, slab.off + size);
    slab.off += size;
    const fd = openSync(join(root, `d${String(Math.floor(i / 1000)).padStart(4, '0')}`, `f${String(i).padStart(6, '0')}.${isText ? 'txt' : 'bin'}`), 'w');
    try {
      writeSync(fd, body);
    } finally {
      closeSync(fd);
    }
    bytes += size;
  }
  return { root, files: count, bytes };
}

/**
 * Overwrites `count` non-overlapping regions of `writeSize` bytes with fresh random data, spread
 * over the large files (sizes unchanged, mtimes change). Returns the number of bytes changed.
 */
export function scatteredChange(ds: VolumeDataset, count: number, writeSize: number, seed = 7): number {
  const rnd = mulberry32(seed);
  const g = new RandomBytes(`change-${seed}`);
  const perFile = new Map<string, number[]>();
  for (let i = 0; i < count; i++) {
    const f = ds.largeFiles[i % ds.largeFiles.length]!;
    const taken = perFile.get(f.path) ?? [];
    let off = 0;
    for (let attempt = 0; attempt < 1000; attempt++) {
      off = Math.floor((rnd() * (f.size - writeSize)) / 4096) * 4096;
      if (taken.every((t) => off + writeSize <= t || t + writeSize <= off)) break;
    }
    taken.push(off);
    perFile.set(f.path, taken);
    const fd = openSync(f.path, 'r+');
    try {
      writeSync(fd, g.next(writeSize), 0, writeSize, off);
    } finally {
      closeSync(fd);
    }
  }
  return count * writeSize;
}

/** A single file of `size` bytes: 'random', or 'mixed' (alternating 1 MiB of log text, random data and sparse-ish records). */
export function generateFile(path: string, size: number, kind: 'random' | 'mixed', seed = 3): void {
  const g = new RandomBytes(`${kind}-${seed}`);
  if (kind === 'random') return writeGenerated(path, size, (n) => g.next(n));
  const text = new LogText(seed);
  let block = 0;
  writeGenerated(path, size, (n) => {
    const parts: Buffer[] = [];
    for (let left = n; left > 0; ) {
      const m = Math.min(MiB, left);
      const k = block++ % 3;
      if (k === 0) parts.push(text.next(m));
      else if (k === 1) parts.push(g.next(m));
      else {
        // Database-page-like: 4 KiB pages, each 1 KiB of random records then zero padding.
        const b = Buffer.alloc(m);
        for (let p = 0; p < m; p += 4096) g.next(Math.min(1024, m - p)).copy(b, p);
        parts.push(b);
      }
      left -= m;
    }
    return Buffer.concat(parts);
  });
}

/** sha256 of every regular file under root, keyed by the path relative to root. */
export async function hashTree(root: string): Promise<Map<string, string>> {
  const { readdir } = await import('node:fs/promises');
  const out = new Map<string, string>();
  const visit = async (rel: string): Promise<void> => {
    for (const d of await readdir(join(root, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${d.name}` : d.name;
      if (d.isDirectory()) await visit(p);
      else if (d.isFile()) {
        const h = createHash('sha256');
        for await (const b of createReadStream(join(root, p), { highWaterMark: MiB })) h.update(b as Buffer);
        out.set(p, h.digest('hex'));
      }
    }
  };
  await visit('');
  return out;
}

/** Differences between two hash maps (missing, extra, different), at most `limit` listed. */
export function diffHashes(want: Map<string, string>, got: Map<string, string>, limit = 5): string[] {
  const diffs: string[] = [];
  for (const [p, h] of want) {
    if (!got.has(p)) diffs.push(`missing ${p}`);
    else if (got.get(p) !== h) diffs.push(`differs ${p}`);
  }
  for (const p of got.keys()) if (!want.has(p)) diffs.push(`extra ${p}`);
  return diffs.slice(0, limit).concat(diffs.length > limit ? [`… ${diffs.length - limit} more`] : []);
}
