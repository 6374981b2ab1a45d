/**
 * `npm run bench`: the benchmark suite. Every figure is a ratio against a baseline measured in the
 * same run on the same data (the machine is shared and noisy; absolute numbers are not comparable
 * between runs, ratios roughly are). See docs / datapath-perf.md §5 for the targets.
 *
 * Environment:
 *   BENCH_SIZE_MIB  volume size for B2–B5 (default 1024); B1 uses min(256, size) MiB per file
 *   BENCH_QUICK=1   128 MiB volume, 64 MiB B1 files, 1 run per B1 stage
 *   BENCH_REPEAT   rounds of the full backup and restore comparisons, best counts (default 2; quick 1)
 *   BENCH_ONLY      comma-separated benchmark names (see BENCHMARKS below), default all
 *   BENCH_KEEP=1    keep the temp dir (data, MinIO) for inspection; B7 also keeps its clusters' state
 *                   and workdir (/tmp/tdr-bench-objects-*), processes are stopped either way
 *   BENCH_OUT       JSON output path (default bench/results/latest.json)
 *
 * Adding a benchmark: write `async function myBench(ctx: BenchContext)` that adds rows with
 * `ctx.table.add({...})` (ours, baseline, unit, better) and raw figures to `ctx.raw`, register it
 * in BENCHMARKS. Use `ctx.minio()` for an S3 server, `ctx.dir(name)` for scratch space under the
 * run's temp dir, and `run()` from ./measure to time a child process (CPU-s, peak RSS included).
 *
 * B8 (`failover`, bench/failover.ts) does the same for replication and failover.
 * B7 (`objects`, bench/objects.ts) starts its own local clusters, Temporal dev server, worker and
 * node agents (needs dist/worker/*.js, built by bench/tsconfig.json) and fails if they cannot start.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { S3ObjectStore } from '../activities/store/s3-object-store';
import { ensureBucket } from '../activities/store/open-store';
import { REPO_ROOT, findBinaries, runningPid, startMinio, stopServer, type MinioServer } from '../scripts/stack/local-stack';
import { diffHashes, generateFile, generateVolume, hashTree, scatteredChange, type VolumeDataset } from './dataset';
import { processCpuS, run, type Measured } from './measure';
import type { OursRequest } from './ours';
import { BenchTable, MiB, fmt, mbPerS, type Cost } from './table';
import { objects } from './objects';
import { failoverBench } from './failover';
import { storeScale } from './store-scale';

export interface BenchContext {
  table: BenchTable;
  sizeMiB: number;
  quick: boolean;
  /** Rounds of the timed comparisons that are cheap to repeat (best wall time counts). */
  repeat: number;
  /** Run-wide temp dir (under /tmp), removed at the end. */
  tmp: string;
  dir(name: string): string;
  /** Starts MinIO on first use (stopped at the end of the run, also on failure). */
  minio(): Promise<MinioServer & { pid?: number }>;
  /** Raw figures per benchmark, written to the JSON. */
  raw: Record<string, unknown>;
  log(msg: string): void;
}

export interface Benchmark {
  name: string;
  title: string;
  run(ctx: BenchContext): Promise<void>;
}

const NODE = process.execPath;
const OURS_JS = path.join(__dirname, 'ours.js');

async function ours<T>(req: OursRequest, env: NodeJS.ProcessEnv = {}): Promise<Measured & { out: T }> {
  const m = await run(NODE, [OURS_JS, JSON.stringify(req)], { env, label: `ours ${req.op}` });
  const last = m.stdout.trim().split('\n').pop() ?? '';
  return { ...m, out: JSON.parse(last) as T };
}

const cost = (m: { cpuS?: number; rssMiB?: number }): Cost => ({ cpuS: m.cpuS, rssMiB: m.rssMiB });
const syncDisks = () => execFileSync('sync');

/** Reads every file once so that both sides of a comparison start with the same warm page cache. */
function warm(root: string): void {
  execFileSync('bash', ['-c', 'find "$1" -type f -print0 | xargs -0 cat > /dev/null', '_', root]);
}

// ---------------------------------------------------------------------------------------------
// B1: CPU pipeline per core vs openssl dgst -sha256

interface Stage {
  s: number;
  cpuS: number;
}
interface PipelineOut {
  bytes: number;
  chunk: Stage;
  chunkHmac: Stage;
  full: Stage;
  storedBytes: number;
}

async function pipeline(ctx: BenchContext): Promise<void> {
  const mib = ctx.quick ? 64 : Math.min(256, ctx.sizeMiB);
  const runs = ctx.quick ? 1 : 3;
  const dir = ctx.dir('pipeline');
  const raw: Record<string, unknown> = { mib, runs };
  for (const kind of ['random', 'mixed'] as const) {
    const file = path.join(dir, `${kind}.bin`);
    generateFile(file, mib * MiB, kind);
    warm(file);
    let best: Measured | undefined;
    for (let i = 0; i < runs; i++) {
      const m = await run('openssl', ['dgst', '-sha256', file]);
      if (!best || m.wallS < best.wallS) best = m;
    }
    const o = await ours<PipelineOut>({ op: 'pipeline', file, runs });
    const bytes = o.out.bytes;
    const base = mbPerS(bytes, best!.wallS);
    const stored = ((o.out.storedBytes / bytes) * 100).toFixed(0);
    ctx.table.add({
      id: `B1.${kind}`,
      name: `CPU pipeline, ${mib} MiB ${kind} (chunk+id+zstd-1+GCM, 1 core)`,
      ours: mbPerS(bytes, o.out.full.s),
      baseline: base,
      baselineName: 'openssl dgst -sha256',
      unit: 'MB/s',
      better: 'higher',
      note: `${stored}% stored; target ≥ 0.25×`,
      oursCost: { cpuS: o.out.full.cpuS, rssMiB: o.rssMiB },
      baselineCost: cost(best!),
    });
    ctx.table.add({
      id: `B1.${kind}.chunk+id`,
      name: `  chunk + HMAC id only, ${kind}`,
      ours: mbPerS(bytes, o.out.chunkHmac.s),
      baseline: base,
      baselineName: 'openssl dgst -sha256',
      unit: 'MB/s',
      better: 'higher',
      note: `chunking alone ${mbPerS(bytes, o.out.chunk.s).toFixed(0)} MB/s`,
    });
    raw[kind] = { ours: o.out, opensslS: best!.wallS, opensslCpuS: best!.cpuS };
    rmSync(file, { force: true });
  }
  ctx.raw.pipeline = raw;
}

// ---------------------------------------------------------------------------------------------
// B2–B5: a volume directory backed up to MinIO, by us and by restic, then changed, re-run, restored

interface BackupOut {
  inProcessS: number;
  result: { newBytesUploaded: number; manifestBytes: number; newChunkBytes: number; dedupedBytes: number; packsUploaded: number; files: number; bytes: number };
  stats: { putRequests: number; bytesUploaded: number };
}
interface RestoreOut {
  inProcessS: number;
  result: { files: number; bytes: number };
  stats: { bytesRead: number; chunksRead: number };
}
interface ResticSummary {
  snapshot_id: string;
  data_added: number;
  files_new: number;
  files_changed: number;
  files_unmodified: number;
  total_bytes_processed: number;
}

async function bucketUsage(s: S3ObjectStore): Promise<{ bytes: number; objects: number }> {
  let bytes = 0;
  let objects = 0;
  for await (const o of s.list('')) (bytes += o.size), objects++;
  return { bytes, objects };
}

async function volume(ctx: BenchContext): Promise<void> {
  const minio = await ctx.minio();
  const creds = { AWS_ACCESS_KEY_ID: minio.accessKeyId, AWS_SECRET_ACCESS_KEY: minio.secretAccessKey };
  const mkStore = (bucket: string) =>
    new S3ObjectStore({ endpoint: minio.endpoint, region: 'us-east-1', bucket, prefix: '', forcePathStyle: true, ...{ accessKeyId: minio.accessKeyId, secretAccessKey: minio.secretAccessKey } });
  // A fixed key: our chunk boundaries are keyed (gear table from the key), so a fixed key keeps B3's
  // bytes reproducible between runs. restic's chunker polynomial is random per repository, so its
  // B3 figure varies by ±20% from run to run.
  const key = createHash('sha256').update('tdr-bench-master-key').digest('base64');
  const resticVersion = execFileSync('restic', ['version'], { encoding: 'utf8' }).trim();
  /** Round r backs up into fresh buckets; the last round's repositories go on to B3–B5. */
  let ourName = '';
  let ourBucket!: S3ObjectStore;
  let resticBucket!: S3ObjectStore;
  let resticEnv: NodeJS.ProcessEnv = {};
  const freshRepos = async (r: number) => {
    ourName = `bench-tdr-${r}`;
    ourBucket = mkStore(ourName);
    resticBucket = mkStore(`bench-restic-${r}`);
    await ensureBucket(ourBucket);
    await ensureBucket(resticBucket);
    resticEnv = {
      ...creds,
      RESTIC_REPOSITORY: `s3:${minio.endpoint}/bench-restic-${r}`,
      RESTIC_PASSWORD: 'bench-password',
      RESTIC_CACHE_DIR: ctx.dir(`restic-cache-${r}`),
    };
    await run('restic', ['init'], { env: resticEnv, label: 'restic init' });
  };

  const t0 = Date.now();
  const root = path.join(ctx.dir('volume'), 'data');
  const ds: VolumeDataset = generateVolume(root, ctx.sizeMiB * MiB);
  const want = await hashTree(root);
  ctx.log(`generated ${ds.files} files, ${(ds.bytes / MiB).toFixed(0)} MiB in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const raw: Record<string, unknown> = { files: ds.files, bytes: ds.bytes, resticVersion, repeat: ctx.repeat };
  ctx.raw.volume = raw;

  const minioCpu = () => processCpuS(minio.pid);
  const phase = async <T>(label: string, fn: () => Promise<T>): Promise<T & { serverCpuS?: number }> => {
    syncDisks();
    const c0 = minioCpu();
    const r = await fn();
    const c1 = minioCpu();
    ctx.log(`${label} done`);
    return { ...r, serverCpuS: c0 !== undefined && c1 !== undefined ? c1 - c0 : undefined };
  };
  /** `parent`: the previous point of the volume (as the operator passes it for incrementals). */
  const oursBackup = async (name: string, parent?: string) => {
    warm(root);
    const before = await bucketUsage(ourBucket);
    const m = await phase(`ours backup ${name}`, () =>
      ours<BackupOut>({ op: 'backup', endpoint: minio.endpoint, bucket: ourName, key, root, manifestKey: `points/${name}/volume.snap`, sessionId: name, ...(parent ? { parentManifestKey: `points/${parent}/volume.snap` } : {}) }, creds),
    );
    const after = await bucketUsage(ourBucket);
    return { ...m, added: after.bytes - before.bytes, objectsAdded: after.objects - before.objects, stored: after.bytes };
  };
  const resticBackup = async (name: string) => {
    warm(root);
    const before = await bucketUsage(resticBucket);
    const m = await phase(`restic backup ${name}`, () => run('restic', ['backup', '--json', '--host', 'bench', root], { env: resticEnv, label: 'restic backup' }));
    const after = await bucketUsage(resticBucket);
    const lines = m.stdout.trim().split('\n').filter((l) => l.includes('"summary"'));
    const summary = JSON.parse(lines.pop() ?? '{}') as ResticSummary;
    return { ...m, summary, added: after.bytes - before.bytes, objectsAdded: after.objects - before.objects, stored: after.bytes };
  };
  const strip = <T extends Measured>(m: T): Omit<T, 'stdout' | 'stderr'> => {
    const { stdout: _o, stderr: _e, ...rest } = m;
    return rest;
  };

  // B2: full backup, best wall time of ctx.repeat rounds (alternating, each into fresh buckets).
  const fulls: { ours: Awaited<ReturnType<typeof oursBackup>>; restic: Awaited<ReturnType<typeof resticBackup>> }[] = [];
  for (let r = 0; r < ctx.repeat; r++) {
    await freshRepos(r);
    fulls.push({ ours: await oursBackup('full'), restic: await resticBackup('full') });
  }
  const best = <T extends { wallS: number }>(xs: T[]) => xs.reduce((a, b) => (b.wallS < a.wallS ? b : a));
  const oFull = best(fulls.map((f) => f.ours));
  const rFull = best(fulls.map((f) => f.restic));
  const rLastFull = fulls[fulls.length - 1]!.restic;
  const allTimes = (xs: { wallS: number }[]) => xs.map((x) => x.wallS.toFixed(1)).join('/');
  raw.B2 = { ours: fulls.map((f) => strip(f.ours)), restic: fulls.map((f) => strip(f.restic)) };
  ctx.table.add({
    id: 'B2.time',
    name: `Full backup of ${ctx.sizeMiB} MiB / ${ds.files} files to MinIO`,
    ours: oFull.wallS,
    baseline: rFull.wallS,
    baselineName: 'restic',
    unit: 's',
    better: 'lower',
    note: `${mbPerS(ds.bytes, oFull.wallS).toFixed(0)} vs ${mbPerS(ds.bytes, rFull.wallS).toFixed(0)} MB/s; best of ${ctx.repeat} (ours ${allTimes(fulls.map((f) => f.ours))} s, restic ${allTimes(fulls.map((f) => f.restic))} s); MinIO CPU-s ${oFull.serverCpuS?.toFixed(1)} vs ${rFull.serverCpuS?.toFixed(1)}`,
    oursCost: cost(oFull),
    baselineCost: cost(rFull),
  });
  ctx.table.add({
    id: 'B2.stored',
    name: 'Full backup: bytes stored in the bucket',
    ours: oFull.stored,
    baseline: rFull.stored,
    baselineName: 'restic',
    unit: 'bytes',
    better: 'lower',
    note: `${((oFull.stored / ds.bytes) * 100).toFixed(1)}% vs ${((rFull.stored / ds.bytes) * 100).toFixed(1)}% of the source; ${oFull.objectsAdded} vs ${rFull.objectsAdded} objects`,
  });

  // B3: 1% scattered change (16 writes), then incremental.
  const writeSize = Math.max(4096, Math.floor((ds.bytes * 0.01) / 16 / 4096) * 4096);
  const changed = scatteredChange(ds, 16, writeSize);
  ctx.log(`changed ${changed} bytes (16 × ${writeSize / 1024} KiB)`);
  const oIncr = await oursBackup('incr-1pct', 'full');
  const rIncr = await resticBackup('incr-1pct');
  raw.B3 = { changedBytes: changed, writeSize, ours: strip(oIncr), restic: strip(rIncr) };
  ctx.table.add({
    id: 'B3.vs-changed',
    name: `Incremental after 1% scattered change (16 × ${writeSize / 1024} KiB): bytes added`,
    ours: oIncr.added,
    baseline: changed,
    baselineName: 'changed bytes',
    unit: 'bytes',
    better: 'lower',
    note: `write amplification; restic ${(rIncr.added / changed).toFixed(2)}×; target ≤ 8×`,
  });
  ctx.table.add({
    id: 'B3.vs-restic',
    name: 'Incremental after 1% change: bytes added',
    ours: oIncr.added,
    baseline: rIncr.added,
    baselineName: 'restic',
    unit: 'bytes',
    better: 'lower',
    note: `ours PUT ${oIncr.out.result.newBytesUploaded + oIncr.out.result.manifestBytes} B in ${oIncr.out.stats.putRequests} PUTs; restic data_added ${rIncr.summary.data_added}`,
  });
  ctx.table.add({
    id: 'B3.time',
    name: 'Incremental after 1% change: time',
    ours: oIncr.wallS,
    baseline: rIncr.wallS,
    baselineName: 'restic',
    unit: 's',
    better: 'lower',
    note: `restic re-read ${rIncr.summary.files_changed} changed files, skipped ${rIncr.summary.files_unmodified}`,
    oursCost: cost(oIncr),
    baselineCost: cost(rIncr),
  });

  // B4: re-run with no change.
  const oNone = await oursBackup('incr-none', 'incr-1pct');
  const rNone = await resticBackup('incr-none');
  raw.B4 = { ours: strip(oNone), restic: strip(rNone) };
  ctx.table.add({
    id: 'B4.time',
    name: 'Re-run with no change: time',
    ours: oNone.wallS,
    baseline: rNone.wallS,
    baselineName: 'restic',
    unit: 's',
    better: 'lower',
    note: `target ≤ 1.0×; ours in-process ${oNone.out.inProcessS.toFixed(2)} s`,
    oursCost: cost(oNone),
    baselineCost: cost(rNone),
  });
  ctx.table.add({
    id: 'B4.bytes',
    name: 'Re-run with no change: bytes added',
    ours: oNone.added,
    baseline: rNone.added,
    baselineName: 'restic',
    unit: 'bytes',
    better: 'lower',
    note: `objects added ${oNone.objectsAdded} vs ${rNone.objectsAdded}; ours ${oNone.out.stats.putRequests} PUTs`,
  });

  // B5: restore of the full point into empty dirs, vs restic restore and vs cp -r.
  const restoreRoot = ctx.dir('restore');
  const cpDst = path.join(restoreRoot, 'cp');
  warm(root);
  // Each side restores ctx.repeat times (alternating); the best wall time counts, every copy is verified.
  const cps: Measured[] = [];
  const oRess: (Measured & { out: RestoreOut; serverCpuS?: number })[] = [];
  const rRess: (Measured & { serverCpuS?: number })[] = [];
  let oDiff: string[] = [];
  let rDiff: string[] = [];
  for (let r = 0; r < ctx.repeat; r++) {
    cps.push(await phase('cp -r', () => run('cp', ['-r', root, cpDst])));
    rmSync(cpDst, { recursive: true, force: true });
    const oursDst = path.join(restoreRoot, 'ours');
    oRess.push(
      await phase('ours restore', () =>
        ours<RestoreOut>({ op: 'restore', endpoint: minio.endpoint, bucket: ourName, key, manifestKey: 'points/full/volume.snap', target: oursDst }, creds),
      ),
    );
    oDiff = oDiff.length ? oDiff : diffHashes(want, await hashTree(oursDst));
    rmSync(oursDst, { recursive: true, force: true });
    const resticDst = path.join(restoreRoot, 'restic');
    rRess.push(
      await phase('restic restore', () => run('restic', ['restore', rLastFull.summary.snapshot_id, '--target', resticDst], { env: resticEnv, label: 'restic restore' })),
    );
    rDiff = rDiff.length ? rDiff : diffHashes(want, await hashTree(path.join(resticDst, root)));
    rmSync(resticDst, { recursive: true, force: true });
  }
  const cp = best(cps);
  const oRes = best(oRess);
  const rRes = best(rRess);
  raw.B5 = { cp: cps.map(strip), ours: oRess.map(strip), restic: rRess.map(strip), oursDiff: oDiff, resticDiff: rDiff };
  const verdict = (d: string[]) => (d.length ? `MISMATCH: ${d.join(', ')}` : 'sha256 identical');
  ctx.table.add({
    id: 'B5.vs-restic',
    name: 'Restore of the full point to an empty dir: time',
    ours: oRes.wallS,
    baseline: rRes.wallS,
    baselineName: 'restic restore',
    unit: 's',
    better: 'lower',
    note: `${mbPerS(ds.bytes, oRes.wallS).toFixed(0)} vs ${mbPerS(ds.bytes, rRes.wallS).toFixed(0)} MB/s; best of ${ctx.repeat} (ours ${allTimes(oRess)} s, restic ${allTimes(rRess)} s); ours ${verdict(oDiff)}, restic ${verdict(rDiff)}`,
    oursCost: cost(oRes),
    baselineCost: cost(rRes),
  });
  ctx.table.add({
    id: 'B5.vs-cp',
    name: 'Restore of the full point: time vs a local copy (floor)',
    ours: oRes.wallS,
    baseline: cp.wallS,
    baselineName: 'cp -r',
    unit: 's',
    better: 'lower',
    note: `cp ${mbPerS(ds.bytes, cp.wallS).toFixed(0)} MB/s; restic ${(rRes.wallS / cp.wallS).toFixed(2)}× cp`,
    oursCost: cost(oRes),
    baselineCost: cost(cp),
  });
  if (oDiff.length || rDiff.length) throw new Error(`B5 restore verification failed: ours ${verdict(oDiff)}; restic ${verdict(rDiff)}`);

  const gib = ds.bytes / (1024 * MiB);
  const b = (n: number) => `${fmt(n, 'bytes')} bytes`;
  ctx.table.say(
    `full point of a ${fmt(gib, '')} GiB volume (${ds.files} files): ${fmt(oFull.wallS, 's')} s, ${b(oFull.out.result.newBytesUploaded + oFull.out.result.manifestBytes)} uploaded (${b(oFull.stored)} stored); ` +
      `incremental (1% changed, ${b(changed)}): ${fmt(oIncr.wallS, 's')} s, ${b(oIncr.added)} added; incremental (unchanged): ${fmt(oNone.wallS, 's')} s, ${b(oNone.added)} added; ` +
      `restore: ${fmt(oRes.wallS, 's')} s.`,
  );
  ctx.table.say(
    `${resticVersion.split(' compiled')[0]} full/incremental: full ${fmt(rFull.wallS, 's')} s, ${b(rFull.stored)} stored; ` +
      `incremental (1% changed): ${fmt(rIncr.wallS, 's')} s, ${b(rIncr.added)} added; incremental (unchanged): ${fmt(rNone.wallS, 's')} s, ${b(rNone.added)} added; ` +
      `restore: ${fmt(rRes.wallS, 's')} s. cp -r: ${fmt(cp.wallS, 's')} s.`,
  );
}

// ---------------------------------------------------------------------------------------------

export const BENCHMARKS: Benchmark[] = [
  { name: 'pipeline', title: 'B1 CPU pipeline per core', run: pipeline },
  { name: 'volume', title: 'B2–B5 volume backup / incremental / rerun / restore vs restic', run: volume },
  { name: 'objects', title: 'B7 restore of an application of 1,000 objects vs kubectl apply (local clusters)', run: objects },
  { name: 'failover', title: 'B8 replication RPO under writes and failover RTO vs its restore alone (local clusters)', run: failoverBench },
  { name: 'store-scale', title: 'B10 latest point of a plan with 1,000 points vs one listing', run: storeScale },
];

async function main(): Promise<void> {
  // The SDK's "node >= 22" notice would be printed by every child; it says nothing about the figures.
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const quick = process.env.BENCH_QUICK === '1';
  const sizeMiB = Number(process.env.BENCH_SIZE_MIB ?? (quick ? 128 : 1024));
  if (!Number.isFinite(sizeMiB) || sizeMiB < 32) throw new Error(`BENCH_SIZE_MIB must be a number ≥ 32, got ${process.env.BENCH_SIZE_MIB}`);
  const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim()).filter(Boolean);
  const selected = BENCHMARKS.filter((b) => !only?.length || only.includes(b.name));
  if (only?.length && selected.length !== only.length) throw new Error(`BENCH_ONLY: unknown benchmark in ${only.join(',')}; known: ${BENCHMARKS.map((b) => b.name).join(', ')}`);

  const tmp = mkdtempSync(path.join(os.tmpdir(), 'tdr-bench-'));
  const stackDir = path.join(tmp, 'stack');
  let minio: (MinioServer & { pid?: number }) | undefined;
  let cleaned = false;
  const cleanup = async () => {
    if (cleaned) return;
    cleaned = true;
    if (minio) await stopServer(stackDir, 'minio').catch((e) => console.error(`stopping MinIO: ${e}`));
    if (process.env.BENCH_KEEP === '1') console.log(`[bench] kept ${tmp}`);
    else rmSync(tmp, { recursive: true, force: true });
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      console.error(`[bench] ${sig}: cleaning up`);
      void cleanup().finally(() => process.exit(130));
    });
  }

  const table = new BenchTable();
  const raw: Record<string, unknown> = {};
  const ctx: BenchContext = {
    table,
    sizeMiB,
    quick,
    repeat: Math.max(1, Number(process.env.BENCH_REPEAT ?? (quick ? 1 : 2))),
    tmp,
    raw,
    dir: (name) => {
      const d = path.join(tmp, name);
      mkdirSync(d, { recursive: true });
      return d;
    },
    minio: async () => {
      if (!minio) {
        const bins = findBinaries();
        const m = await startMinio({ bin: bins.minio, dir: stackDir, dataDir: path.join(tmp, 'minio-data'), accessKeyId: 'bench', secretAccessKey: 'bench-secret-key' });
        minio = { ...m, pid: runningPid(stackDir, 'minio') };
        ctx.log(`MinIO ${m.endpoint} (pid ${minio.pid})`);
      }
      return minio;
    },
    log: (msg) => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}`),
  };

  const started = new Date();
  const failures: string[] = [];
  ctx.log(`size ${sizeMiB} MiB${quick ? ' (quick)' : ''}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model}), load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}, temp ${tmp}`);
  try {
    for (const b of selected) {
      ctx.log(`${b.name}: ${b.title}`);
      try {
        await b.run(ctx);
      } catch (e) {
        failures.push(`${b.name}: ${(e as Error).message}`);
        console.error(`[bench] ${b.name} failed:`, e);
      }
    }
  } finally {
    await cleanup();
  }

  console.log('\n' + table.markdown() + '\n');
  console.log('ratio = ours / baseline; ↓ lower is better, ↑ higher is better. CPU-s and RSS are whole processes (GNU time); MinIO runs on the same 2 cores.\n');
  for (const l of table.summary) console.log(l);
  if (failures.length) console.log(`\nFAILED: ${failures.join('; ')}`);

  const out = process.env.BENCH_OUT ?? path.join(REPO_ROOT, 'bench', 'results', 'latest.json');
  mkdirSync(path.dirname(out), { recursive: true });
  writeFileSync(
    out,
    JSON.stringify(
      {
        started: started.toISOString(),
        finished: new Date().toISOString(),
        sizeMiB,
        quick,
        repeat: ctx.repeat,
        machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, memGiB: os.totalmem() / 1024 ** 3, loadavgAtEnd: os.loadavg(), node: process.version },
        gitRev: gitRev(),
        rows: table.rows,
        summary: table.summary,
        failures,
        raw,
      },
      null,
      2,
    ) + '\n',
  );
  console.log(`\nresults: ${out}`);
  if (failures.length) process.exitCode = 1;
}

function gitRev(): string | undefined {
  try {
    return execFileSync('git', ['-C', REPO_ROOT, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
