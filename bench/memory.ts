/**
 * B8 (files part): peak RSS of the node agent's data path backing up and restoring a volume of
 * many empty or tiny files, at several file counts, against restic and kopia on the same tree.
 * The goal is memory flat in the number of files; the flatness row is RSS(largest) / RSS(smallest).
 *
 * Environment:
 *   BENCH_MEMORY_FILES      comma-separated file counts, default "100000,1000000,2000000"
 *                           (the levels; the 2,000,000 level alone takes the longest, see
 *                           the README). Small counts (e.g. 10000,50000) for a quick check.
 *   BENCH_MEMORY_HEAP_PROF=1  also run our side with `node --heap-prof` (profiles kept under the
 *                           run's temp dir; set BENCH_KEEP=1 to keep them)
 *   KOPIA_BIN               kopia binary (scripts/bench.sh exports it from scripts/stack/build-kopia.sh);
 *                           when unset the kopia column fails with that message, the rest still runs
 *
 * Tree (deterministic, grown in place from one level to the next, so file i is the same at every
 * level): <root>/dNNNNN/fNNN, 1,000 files per directory; even-numbered files are empty, odd ones
 * hold their own number and a newline (2–8 bytes, all distinct, so every non-empty file is its
 * own chunk and the chunk index grows with the tree, as it does for real small files).
 *
 * Per level, each tool gets a fresh repository (a full backup) and restores into an empty dir:
 * ours (activities/datapath backupTree / restoreTree in a child process, bench/memory-ours.ts),
 * `restic backup` / `restic restore`, `kopia snapshot create` / `kopia snapshot restore`, all to the
 * run's MinIO. Every restore is checked by counting the files it wrote (ours also checks every
 * file's SHA-256 itself).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ensureBucket } from '../activities/store/open-store';
import { S3ObjectStore } from '../activities/store/s3-object-store';
import type { MemoryOursRequest, MemoryPeaks } from './memory-ours';
import { run, type Measured } from './measure';
import type { BenchContext } from './run';
import { fmt } from './table';

const FILES_PER_DIR = 1000;
const DEFAULT_LEVELS = '100000,1000000,2000000';

type Tool = 'ours' | 'restic' | 'kopia';
type Op = 'backup' | 'restore';

interface OpResult {
  wallS?: number;
  cpuS?: number;
  rssMiB?: number;
  files?: number;
  error?: string;
  extra?: Record<string, unknown>;
}

interface Level {
  files: number;
  genS: number;
  totalS: number;
  results: Record<Tool, Record<Op, OpResult>>;
}

export function countLabel(n: number): string {
  if (n % 1_000_000 === 0) return `${n / 1_000_000}M`;
  if (n % 1_000 === 0) return `${n / 1_000}k`;
  return String(n);
}

/** Grows the tree under `root` from `from` to `to` files (file i is the same whatever the history). */
export function growTree(root: string, from: number, to: number): void {
  for (let i = from; i < to; i++) {
    const d = Math.floor(i / FILES_PER_DIR);
    const f = i % FILES_PER_DIR;
    const dir = path.join(root, `d${String(d).padStart(5, '0')}`);
    if (f === 0 || i === from) mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, `f${String(f).padStart(3, '0')}`), i % 2 ? `${i}\n` : '');
  }
}

/** Regular files under `dir` (find, no per-file work in this process). */
function countFiles(dir: string): number {
  const out = execFileSync('bash', ['-c', 'find "$1" -type f | wc -l', '_', dir], { encoding: 'utf8', maxBuffer: 1024 * 1024 });
  return Number(out.trim());
}

function strip(m: Measured): OpResult {
  return { wallS: m.wallS, cpuS: m.cpuS, rssMiB: m.rssMiB };
}

export async function memoryBench(ctx: BenchContext): Promise<void> {
  const levels = (process.env.BENCH_MEMORY_FILES ?? DEFAULT_LEVELS)
    .split(',')
    .map((s) => Number(s.trim()))
    .filter((n) => n > 0);
  if (!levels.length || levels.some((n) => !Number.isInteger(n))) throw new Error(`BENCH_MEMORY_FILES must be comma-separated file counts, got "${process.env.BENCH_MEMORY_FILES}"`);
  levels.sort((a, b) => a - b);
  const heapProf = process.env.BENCH_MEMORY_HEAP_PROF === '1';
  const kopiaBin = process.env.KOPIA_BIN;

  const minio = await ctx.minio();
  const creds = { AWS_ACCESS_KEY_ID: minio.accessKeyId, AWS_SECRET_ACCESS_KEY: minio.secretAccessKey };
  const mkStore = (bucket: string) =>
    new S3ObjectStore({ endpoint: minio.endpoint, region: 'us-east-1', bucket, prefix: '', forcePathStyle: true, accessKeyId: minio.accessKeyId, secretAccessKey: minio.secretAccessKey });
  const key = createHash('sha256').update('tdr-bench-master-key').digest('base64');
  const base = ctx.dir('memory');
  const root = path.join(base, 'tree');
  mkdirSync(root, { recursive: true });
  const profDir = path.join(base, 'heap-prof');
  const oursJs = path.join(__dirname, 'memory-ours.js');
  const hostPort = minio.endpoint.replace(/^https?:\/\//, '').replace(/\/+$/, '');

  const ours = async (req: MemoryOursRequest) => {
    const flags = heapProf ? ['--heap-prof', `--heap-prof-dir=${profDir}`] : [];
    const m = await run(process.execPath, [...flags, oursJs, JSON.stringify(req)], { env: creds, label: `ours ${req.op}` });
    const out = JSON.parse(m.stdout.trim().split('\n').pop() ?? '{}') as { result: { files: number; manifestBytes?: number }; peaks: MemoryPeaks; indexedChunks: number; afterOpen?: MemoryPeaks };
    return { m, out };
  };

  const raw: Record<string, unknown> = { levels, filesPerDir: FILES_PER_DIR, heapProf, kopiaBin };
  ctx.raw.memory = raw;
  const done: Level[] = [];
  let have = 0;
  for (const n of levels) {
    const label = countLabel(n);
    const t0 = Date.now();
    growTree(root, have, n);
    have = n;
    const counted = countFiles(root); // also warms the dentry and inode caches for every tool alike
    if (counted !== n) throw new Error(`B8 tree at ${root} holds ${counted} files, expected ${n}`);
    const genS = (Date.now() - t0) / 1000;
    ctx.log(`memory ${label}: tree of ${n} files ready in ${genS.toFixed(1)} s`);
    const results = { ours: {}, restic: {}, kopia: {} } as Level['results'];
    const attempt = async (tool: Tool, op: Op, fn: () => Promise<OpResult>) => {
      try {
        results[tool][op] = await fn();
        const r = results[tool][op];
        ctx.log(`memory ${label}: ${tool} ${op} ${r.wallS?.toFixed(1)} s, peak RSS ${r.rssMiB?.toFixed(0)} MiB`);
      } catch (e) {
        const msg = (e as Error).message.split('\n').filter(Boolean).slice(0, 3).join(' / ').slice(0, 400);
        results[tool][op] = { error: msg };
        ctx.log(`memory ${label}: ${tool} ${op} FAILED: ${msg}`);
      }
    };
    const restoreDir = (tool: Tool) => {
      const d = path.join(base, `restore-${tool}`);
      rmSync(d, { recursive: true, force: true });
      return d;
    };
    const checkCount = (tool: Tool, dir: string) => {
      const c = countFiles(dir);
      rmSync(dir, { recursive: true, force: true });
      if (c !== n) throw new Error(`${tool} restored ${c} files, expected ${n}`);
      return c;
    };

    // ours
    const bucket = `mem-tdr-${n}`;
    await attempt('ours', 'backup', async () => {
      await ensureBucket(mkStore(bucket));
      const { m, out } = await ours({ op: 'backup', endpoint: minio.endpoint, bucket, key, root, manifestKey: 'points/mem/volume.snap', sessionId: `mem-${n}` });
      if (out.result.files !== n) throw new Error(`ours backed up ${out.result.files} files, expected ${n}`);
      return { ...strip(m), files: out.result.files, extra: { peaks: out.peaks, indexedChunks: out.indexedChunks, manifestBytes: out.result.manifestBytes } };
    });
    if (!results.ours.backup.error) {
      await attempt('ours', 'restore', async () => {
        const dst = restoreDir('ours');
        const { m, out } = await ours({ op: 'restore', endpoint: minio.endpoint, bucket, key, manifestKey: 'points/mem/volume.snap', target: dst });
        return { ...strip(m), files: checkCount('ours', dst), extra: { peaks: out.peaks, afterOpen: out.afterOpen, indexedChunks: out.indexedChunks } };
      });
    } else results.ours.restore = { error: 'no backup to restore' };

    // restic
    const resticEnv = {
      ...creds,
      RESTIC_REPOSITORY: `s3:${minio.endpoint}/mem-restic-${n}`,
      RESTIC_PASSWORD: 'bench-password',
      RESTIC_CACHE_DIR: path.join(base, `restic-cache-${n}`),
    };
    let resticSnap = '';
    await attempt('restic', 'backup', async () => {
      await ensureBucket(mkStore(`mem-restic-${n}`));
      await run('restic', ['init'], { env: resticEnv, label: 'restic init' });
      const m = await run('restic', ['backup', '--json', '--host', 'bench', root], { env: resticEnv, label: 'restic backup' });
      const summary = JSON.parse(m.stdout.trim().split('\n').filter((l) => l.includes('"summary"')).pop() ?? '{}') as { snapshot_id?: string; files_new?: number };
      if (!summary.snapshot_id) throw new Error('restic backup printed no summary');
      resticSnap = summary.snapshot_id;
      return { ...strip(m), files: summary.files_new };
    });
    if (resticSnap) {
      await attempt('restic', 'restore', async () => {
        const dst = restoreDir('restic');
        const m = await run('restic', ['restore', resticSnap, '--target', dst], { env: resticEnv, label: 'restic restore' });
        return { ...strip(m), files: checkCount('restic', dst) };
      });
    } else results.restic.restore = { error: 'no backup to restore' };

    // kopia
    const kopiaEnv = { KOPIA_PASSWORD: 'bench-password', KOPIA_CHECK_FOR_UPDATES: 'false' };
    const kopiaCfg = path.join(base, `kopia-${n}`);
    const kopiaGlobal = [`--config-file=${path.join(kopiaCfg, 'repository.config')}`, `--log-dir=${path.join(kopiaCfg, 'logs')}`];
    let kopiaSnap = '';
    await attempt('kopia', 'backup', async () => {
      if (!kopiaBin) throw new Error('KOPIA_BIN is not set: scripts/bench.sh exports it from scripts/stack/build-kopia.sh (run `npm run bench`, or set KOPIA_BIN to a kopia binary)');
      if (!existsSync(kopiaBin)) throw new Error(`KOPIA_BIN=${kopiaBin} does not exist`);
      mkdirSync(kopiaCfg, { recursive: true });
      await ensureBucket(mkStore(`mem-kopia-${n}`));
      await run(
        kopiaBin,
        [
          ...kopiaGlobal,
          'repository',
          'create',
          's3',
          `--bucket=mem-kopia-${n}`,
          `--endpoint=${hostPort}`,
          '--disable-tls',
          `--access-key=${minio.accessKeyId}`,
          `--secret-access-key=${minio.secretAccessKey}`,
          `--cache-directory=${path.join(kopiaCfg, 'cache')}`,
        ],
        { env: kopiaEnv, label: 'kopia repository create' },
      );
      const m = await run(kopiaBin, [...kopiaGlobal, 'snapshot', 'create', root], { env: kopiaEnv, label: 'kopia snapshot create' });
      const list = await run(kopiaBin, [...kopiaGlobal, 'snapshot', 'list', root, '--json'], { env: kopiaEnv, label: 'kopia snapshot list' });
      const snaps = JSON.parse(list.stdout) as { id: string; stats?: { fileCount?: number } }[];
      const last = snaps[snaps.length - 1];
      if (!last?.id) throw new Error('kopia snapshot list shows no snapshot');
      kopiaSnap = last.id;
      return { ...strip(m), files: last.stats?.fileCount };
    });
    if (kopiaSnap) {
      await attempt('kopia', 'restore', async () => {
        const dst = restoreDir('kopia');
        const m = await run(kopiaBin!, [...kopiaGlobal, 'snapshot', 'restore', kopiaSnap, dst], { env: kopiaEnv, label: 'kopia snapshot restore' });
        return { ...strip(m), files: checkCount('kopia', dst) };
      });
    } else results.kopia.restore = { error: results.kopia.backup?.error ?? 'no backup to restore' };

    const level: Level = { files: n, genS, totalS: (Date.now() - t0) / 1000, results };
    done.push(level);
    raw[label] = level;
    ctx.log(`memory ${label}: level done in ${level.totalS.toFixed(0)} s (tree ${genS.toFixed(0)} s)`);

    for (const op of ['backup', 'restore'] as const) {
      const o = results.ours[op];
      const r = results.restic[op];
      const k = results.kopia[op];
      const rate = (x: OpResult) => (x.wallS ? `${fmt(n / x.wallS, '')} files/s` : '');
      const side = (name: string, x: OpResult) => (x.error ? `${name} FAILED (${x.error})` : `${name} ${x.rssMiB?.toFixed(0)} MiB, ${fmt(x.wallS ?? NaN, 's')} s, ${rate(x)}`);
      const peaks = o.extra?.peaks as MemoryPeaks | undefined;
      const heap = peaks ? `; ours V8 heap peak ${peaks.heapUsedMiB.toFixed(0)} MiB, external ${peaks.externalMiB.toFixed(0)} MiB` : '';
      const kRatio = o.rssMiB && k.rssMiB ? ` (ours/kopia ${(o.rssMiB / k.rssMiB).toFixed(2)}×)` : '';
      ctx.table.add({
        id: `B8.${label}.${op}`,
        name: `Peak RSS, ${op} of ${n.toLocaleString('en-US')} empty/tiny files`,
        ours: o.rssMiB ?? NaN,
        baseline: r.rssMiB ?? NaN,
        baselineName: 'restic',
        unit: 'MiB',
        better: 'lower',
        note: `${side('ours', o)}; ${side('restic', r)}; ${side('kopia', k)}${kRatio}${heap}`,
        oursCost: { cpuS: o.cpuS, rssMiB: o.rssMiB },
        baselineCost: { cpuS: r.cpuS, rssMiB: r.rssMiB },
      });
    }
  }

  // Flatness: RSS at the largest level over RSS at the smallest.
  if (done.length >= 2) {
    const lo = done[0]!;
    const hi = done[done.length - 1]!;
    for (const op of ['backup', 'restore'] as const) {
      const flat = (t: Tool) => {
        const a = lo.results[t][op].rssMiB;
        const b = hi.results[t][op].rssMiB;
        return a && b ? b / a : NaN;
      };
      ctx.table.add({
        id: `B8.flat.${op}`,
        name: `Peak RSS of our ${op}: ${countLabel(hi.files)} vs ${countLabel(lo.files)} files (flat = 1.0×)`,
        ours: hi.results.ours[op].rssMiB ?? NaN,
        baseline: lo.results.ours[op].rssMiB ?? NaN,
        baselineName: `ours at ${countLabel(lo.files)}`,
        unit: 'MiB',
        better: 'lower',
        note: `restic ${flat('restic').toFixed(2)}×, kopia ${flat('kopia').toFixed(2)}× over the same levels; ${(hi.files / lo.files).toFixed(0)}× the files`,
      });
    }
  }
  ctx.table.say(
    `B8 files: ` +
      done
        .map((l) => {
          const r = l.results;
          const mib = (x: OpResult) => (x.rssMiB ? x.rssMiB.toFixed(0) : 'failed');
          return `${countLabel(l.files)} files (level ${l.totalS.toFixed(0)} s, tree ${l.genS.toFixed(0)} s): peak RSS MiB backup/restore ours ${mib(r.ours.backup)}/${mib(r.ours.restore)}, restic ${mib(r.restic.backup)}/${mib(r.restic.restore)}, kopia ${mib(r.kopia.backup)}/${mib(r.kopia.restore)}`;
        })
        .join('; ') +
      '.',
  );
  if (heapProf) ctx.log(`memory: heap profiles in ${profDir}: ${existsSync(profDir) ? readdirSync(profDir).join(', ') : 'none'}`);
  const failures = done.flatMap((l) =>
    (['ours', 'restic', 'kopia'] as const).flatMap((t) => (['backup', 'restore'] as const).filter((op) => l.results[t][op].error).map((op) => `${countLabel(l.files)} ${t} ${op}: ${l.results[t][op].error}`)),
  );
  if (failures.length) throw new Error(`B8 memory: ${failures.join('; ')}`);
}
