/**
 * Micro-benchmark of the volume data path's CPU pipeline (no network): FastCDC chunking,
 * HMAC-SHA256 chunk ids, zstd-1 compression, AES-256-GCM, pack assembly, against
 * `openssl dgst -sha256` of the same file measured in the same run.
 *
 *   node -r <ts loader> bench/datapath.ts [sizeMiB=256]
 * Prints a table of MB/s and the ratio to the openssl baseline. Not a test.
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

class NullStore implements ObjectStore {
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

async function timeIt(fn: () => Promise<void>, runs = 3): Promise<number> {
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    await fn();
    best = Math.min(best, Number(process.hrtime.bigint() - t) / 1e9);
  }
  return best;
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
  const key = randomBytes(32);
  const rows: string[][] = [];
  for (const [kind, file] of Object.entries(files)) {
    const bytes = statSync(file).size;
    const openssl = await timeIt(async () => {
      execFileSync('openssl', ['dgst', '-sha256', file]);
    });
    const read = async (fn: (b: Buffer) => void | Promise<void>) => {
      for await (const b of createReadStream(file, { highWaterMark: 1 << 20 })) await fn(b as Buffer);
    };
    const repo = await Repository.init(new NullStore(), key);
    const chunkOnly = await timeIt(async () => {
      const c = repo.newChunker();
      await read((b) => void c.push(b));
      c.finish();
    });
    const chunkHmac = await timeIt(async () => {
      const c = repo.newChunker();
      const id = (x: Buffer) => createHmac('sha256', repo.keys.idKey).update(x).digest();
      await read((b) => c.push(b).forEach(id));
      const l = c.finish();
      if (l) id(l);
    });
    let stored = 0;
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
      stored = store.bytes;
    });
    const mbs = (s: number) => (bytes / s / 1e6).toFixed(0);
    rows.push([kind, 'openssl dgst -sha256 (baseline)', mbs(openssl), '1.00']);
    rows.push([kind, 'read + chunk', mbs(chunkOnly), (openssl / chunkOnly).toFixed(2)]);
    rows.push([kind, 'read + chunk + HMAC id', mbs(chunkHmac), (openssl / chunkHmac).toFixed(2)]);
    rows.push([kind, `full write path (zstd-1, GCM, packs) → ${((stored / bytes) * 100).toFixed(0)}% stored`, mbs(full), (openssl / full).toFixed(2)]);
  }
  const w = [6, 58, 8, 8];
  const line = (c: string[]) => c.map((x, i) => (i >= 2 ? x.padStart(w[i]!) : x.padEnd(w[i]!))).join(' | ');
  console.log(line(['data', 'stage', 'MB/s', 'ratio']));
  console.log(w.map((n) => '-'.repeat(n)).join('-|-'));
  rows.forEach((r) => console.log(line(r)));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
