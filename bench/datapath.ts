/**
 * Micro-benchmark of the volume data path's CPU pipeline (no network): FastCDC chunking,
 * HMAC-SHA256 chunk ids, zstd-1 compression, AES-256-GCM, pack assembly, against
 * `openssl dgst -sha256` of the same file measured in the same run.
 *
 * `pipelineBench` is the suite's B1 (bench/run.ts runs it in a child via bench/ours.ts).
 * Standalone: `node dist/bench/datapath.js [sizeMiB=256]` prints a table of MB/s and the ratio to
 * the openssl baseline. Not a test.
 */
import { execFileSync, execSync } from 'node:child_process';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, createHmac } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { ObjectStore, StoredObject } from '../activities/store/object-store';
import { Repository } from '../activities/datapath';

export class NullStore implements ObjectStore {
  readonly location = 'null://';
  bytes = 0;
  private config?: Buffer;
  async put(key: string, body: Buffer | string) {
    if (key === 'repo/config') this.config = Buffer.from(body);
    this.bytes += body.length;
  }
  async putStream(_k: string, body: Readable) {
    for await (const b of body) this.bytes += (b as Buffer).length;
  }
  async get(key: string) {
    return key === 'repo/config' ? this.config : undefined;
  }
  async getRange(): Promise<Buffer> {
    throw new Error('null store');
  }
  async head() {
    return undefined;
  }
  async *list(): AsyncIterable<StoredObject> {}
  async delete() {}
}

export interface StageTiming {
  /** Best wall time over the runs. */
  s: number;
  /** CPU-seconds (user + system) of this process during that run. */
  cpuS: number;
}

async function timeIt(fn: () => Promise<void>, runs = 3): Promise<StageTiming> {
  let best: StageTiming = { s: Infinity, cpuS: NaN };
  for (let i = 0; i < runs; i++) {
    const c = process.cpuUsage();
    const t = process.hrtime.bigint();
    await fn();
    const s = Number(process.hrtime.bigint() - t) / 1e9;
    const cu = process.cpuUsage(c);
    if (s < best.s) best = { s, cpuS: (cu.user + cu.system) / 1e6 };
  }
  return best;
}

export interface PipelineResult {
  bytes: number;
  chunk: StageTiming;
  chunkHmac: StageTiming;
  /** read + chunk + HMAC id + zstd-1 + AES-256-GCM + pack assembly, into a null store. */
  full: StageTiming;
  /** Bytes the full path would have stored (packs + index). */
  storedBytes: number;
}

/** Times the CPU pipeline stages over one file (best of `runs`), single-threaded, no network. */
export async function pipelineBench(file: string, runs = 3): Promise<PipelineResult> {
  const key = randomBytes(32);
  const bytes = statSync(file).size;
  const read = async (fn: (b: Buffer) => void | Promise<void>) => {
    for await (const b of createReadStream(file, { highWaterMark: 1 << 20 })) await fn(b as Buffer);
  };
  const repo = await Repository.init(new NullStore(), key);
  const chunk = await timeIt(async () => {
    const c = repo.newChunker();
    await read((b) => void c.push(b));
    c.finish();
  }, runs);
  const chunkHmac = await timeIt(async () => {
    const c = repo.newChunker();
    const id = (x: Buffer) => createHmac('sha256', repo.keys.idKey).update(x).digest();
    await read((b) => c.push(b).forEach(id));
    const l = c.finish();
    if (l) id(l);
  }, runs);
  let storedBytes = 0;
  const full = await timeIt(async () => {
    const store = new NullStore();
    const r = await Repository.init(store, key); // fresh index: every chunk is new
    const c = r.newChunker();
    await read(async (b) => {
      for (const x of c.push(b)) await r.addChunk(x);
    });
    const l = c.finish();
    if (l) await r.addChunk(l);
    await r.flush();
    storedBytes = store.bytes;
  }, runs);
  return { bytes, chunk, chunkHmac, full, storedBytes };
}

async function main() {
  const mib = Number(process.argv[2] ?? 256);
  const size = mib * 1024 * 1024;
  const dir = tmpdir();
  const files: Record<string, string> = { random: join(dir, `tdr-bench-random-${mib}`), mixed: join(dir, `tdr-bench-mixed-${mib}`) };
  if (!existsSync(files.random!) || statSync(files.random!).size !== size) await writeFile(files.random!, randomBytes(size));
  if (!existsSync(files.mixed!) || statSync(files.mixed!).size !== size) {
    execSync(`tar cf - /usr/share/doc /usr/lib /usr/share 2>/dev/null | head -c ${size} > ${files.mixed}`, { shell: '/bin/bash' });
  }
  const rows: string[][] = [];
  for (const [kind, file] of Object.entries(files)) {
    const bytes = statSync(file).size;
    const openssl = await timeIt(async () => {
      execFileSync('openssl', ['dgst', '-sha256', file]);
    });
    const r = await pipelineBench(file);
    const mbs = (t: StageTiming) => (bytes / t.s / 1e6).toFixed(0);
    const ratio = (t: StageTiming) => (openssl.s / t.s).toFixed(2);
    rows.push([kind, 'openssl dgst -sha256 (baseline)', mbs(openssl), '1.00']);
    rows.push([kind, 'read + chunk', mbs(r.chunk), ratio(r.chunk)]);
    rows.push([kind, 'read + chunk + HMAC id', mbs(r.chunkHmac), ratio(r.chunkHmac)]);
    rows.push([kind, `full write path (zstd-1, GCM, packs) → ${((r.storedBytes / bytes) * 100).toFixed(0)}% stored`, mbs(r.full), ratio(r.full)]);
  }
  const w = [6, 58, 8, 8];
  const line = (c: string[]) => c.map((x, i) => (i >= 2 ? x.padStart(w[i]!) : x.padEnd(w[i]!))).join(' | ');
  console.log(line(['data', 'stage', 'MB/s', 'ratio']));
  console.log(w.map((n) => '-'.repeat(n)).join('-|-'));
  rows.forEach((r) => console.log(line(r)));
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
