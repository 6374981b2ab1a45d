import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryObjectStore } from '../../../activities/store/memory-object-store';
import { Repository, type RepositoryOptions } from '../../../activities/datapath';

/** Small parameters so unit tests run on MiB, not GiB. */
export const SMALL_CHUNKER = { min: 16 * 1024, avg: 64 * 1024, max: 256 * 1024 };
export const SMALL_PACK = 1024 * 1024;

export function testKey(seed = 'k1'): Buffer {
  return createHash('sha256').update(seed).digest();
}

export async function newRepo(store = new MemoryObjectStore(), key = testKey(), opts: RepositoryOptions = {}) {
  const repo = await Repository.init(store, key, { chunker: SMALL_CHUNKER, packSize: SMALL_PACK, ...opts });
  return { store, repo, key };
}

/** Deterministic pseudo-random bytes (xorshift), so failures reproduce. */
export function prng(seed: number, n: number): Buffer {
  const words = new Int32Array(Math.ceil(n / 4));
  let x = seed | 0 || 1;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x;
  }
  return Buffer.from(words.buffer, 0, n);
}

/** Compressible text-like data. */
export function textish(n: number, seed = 1): Buffer {
  const words = ['alpha', 'beta', 'gamma', 'delta', 'volume', 'kubernetes', 'backup', 'restore', 'chunk', 'pack'];
  const r = prng(seed, n);
  const parts: string[] = [];
  let len = 0;
  for (let i = 0; len < n; i++) {
    const w = words[r[i % r.length]! % words.length]! + (r[(i * 7) % r.length]! % 3 === 0 ? '\n' : ' ');
    parts.push(w);
    len += w.length;
  }
  return Buffer.from(parts.join('')).subarray(0, n);
}

export function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

export async function tempDir(prefix = 'tdr-dp-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export async function rmrf(p: string): Promise<void> {
  await rm(p, { recursive: true, force: true });
}

export function rnd(n: number): Buffer {
  return randomBytes(n);
}

/** Bytes stored in a MemoryObjectStore under a prefix. */
export function storedBytes(store: MemoryObjectStore, prefix = ''): number {
  let n = 0;
  for (const [k, v] of store.objects) if (k.startsWith(prefix)) n += v.body.length;
  return n;
}
