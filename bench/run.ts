/**
 * `npm run bench`: the benchmark suite. Every figure is a ratio against a baseline measured in the
 * same run on the same data (the machine is shared and noisy; absolute numbers are not comparable
 * between runs, ratios roughly are). See docs / datapath-perf.md §5 for the targets.
 *
 * Environment:
 *   BENCH_SIZE_MIB  volume size for B2–B5 (default 2048 there, 1024 elsewhere); B1 uses min(256, size) MiB per file
 *   BENCH_SMALL_FILES  files of 1–16 KiB in B2's small-file backup (default 100000; quick 5000; 0 skips it)
 *   BENCH_QUICK=1   128 MiB volume, 5,000 small files, 64 MiB B1 files, 1 run per B1 stage
 *   KOPIA_BIN       kopia for B2–B4 (scripts/bench.sh builds it: scripts/stack/build-kopia.sh)
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
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { S3ObjectStore } from '../activities/store/s3-object-store';
import { ensureBucket } from '../activities/store/open-store';
import { REPO_ROOT, findBinaries, runningPid, startMinio, stopServer, type MinioServer } from '../scripts/stack/local-stack';
import { diffHashes, generateFile, generateSmallFiles, generateVolume, hashTree, scatteredChange, type VolumeDataset } from './dataset';
import { bucketRequests, evictPageCache, processCpuS, requestDiff, run, type Measured } from './measure';
import type { OursRequest } from './ours';
import { BenchTable, MiB, fmt, mbPerS, type Cost } from './table';
import { objects } from './objects';
import { failoverBench } from './failover';
import { storeScale } from './store-scale';
import { discoveryBench } from './discovery';
import { memoryBench } from './memory';
import { orchestrationBench } from './orchestration';

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
      note: `${stored}% stored; goal ≥ 0.35×`,
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
// B2–B5: a volume directory backed up to MinIO by us, restic and kopia (each in its own buckets),
// then changed, re-run and restored. Goals (issue 13) are in each row's note.

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

/** The kopia binary (scripts/stack/build-kopia.sh, exported as KOPIA_BIN by scripts/bench.sh), if any. */
function kopiaBin(): string | undefined {
  if (process.env.KOPIA_BIN) return process.env.KOPIA_BIN;
  try {
    return execFileSync('bash', ['-c', 'command -v kopia'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}

type Tool = 'ours' | 'restic' | 'kopia';
interface BackupRun extends Measured {
  tool: Tool;
  serverCpuS?: number;
  /** Bucket growth (bytes, objects) and the bucket's size after the run. */
  added: number;
  objectsAdded: number;
  stored: number;
  /** S3 requests MinIO served for the tool's bucket during the run (server-side count) and the bytes it received. */
  requests: number;
  requestsByApi: Record<string, number>;
  uploaded: number;
  /** Snapshot id (restic, kopia) for the restore. */
  snapshot?: string;
  summary?: ResticSummary;
  out?: BackupOut;
}

async function volume(ctx: BenchContext): Promise<void> {
  const minio = await ctx.minio();
  const creds = { AWS_ACCESS_KEY_ID: minio.accessKeyId, AWS_SECRET_ACCESS_KEY: minio.secretAccessKey };
  const mkStore = (bucket: string) =>
    new S3ObjectStore({ endpoint: minio.endpoint, region: 'us-east-1', bucket, prefix: '', forcePathStyle: true, ...{ accessKeyId: minio.accessKeyId, secretAccessKey: minio.secretAccessKey } });
  // The volume rows default to the issue's 2 GiB (the other benchmarks keep BENCH_SIZE_MIB's 1024).
  const sizeMiB = process.env.BENCH_SIZE_MIB ? ctx.sizeMiB : ctx.quick ? 128 : 2048;
  const smallCount = Number(process.env.BENCH_SMALL_FILES ?? (ctx.quick ? 5000 : 100_000));
  if (!Number.isInteger(smallCount) || smallCount < 0) throw new Error(`BENCH_SMALL_FILES must be a whole number, got ${process.env.BENCH_SMALL_FILES}`);
  // A fixed key: our chunk boundaries are keyed (gear table from the key), so a fixed key keeps B3's
  // bytes reproducible between runs. restic's chunker polynomial is random per repository, so its
  // B3 figure varies by ±20% from run to run.
  const key = createHash('sha256').update('tdr-bench-master-key').digest('base64');
  const resticVersion = execFileSync('restic', ['version'], { encoding: 'utf8' }).trim().split(' compiled')[0]!;
  const kopia = kopiaBin();
  const kopiaVersion = kopia ? `kopia ${execFileSync(kopia, ['--version'], { encoding: 'utf8' }).trim().split(/\s+/)[0]}` : 'kopia (missing)';
  if (!kopia) ctx.log('kopia not found (set KOPIA_BIN or run via npm run bench, which builds it): the kopia columns are skipped');
  const minioData = path.join(ctx.tmp, 'minio-data');
  const port = new URL(minio.endpoint).port;

  /** One repository per tool for a dataset and round, each in its own bucket. */
  interface Repos {
    tag: string;
    ours: { bucket: string; store: S3ObjectStore };
    restic: { bucket: string; store: S3ObjectStore; env: NodeJS.ProcessEnv };
    kopia?: { bucket: string; store: S3ObjectStore; env: NodeJS.ProcessEnv };
  }
  const freshRepos = async (tag: string): Promise<Repos> => {
    const b = (t: Tool) => `bench-${t}-${tag}`;
    const repos: Repos = {
      tag,
      ours: { bucket: b('ours'), store: mkStore(b('ours')) },
      restic: {
        bucket: b('restic'),
        store: mkStore(b('restic')),
        env: { ...creds, RESTIC_REPOSITORY: `s3:${minio.endpoint}/${b('restic')}`, RESTIC_PASSWORD: 'bench-password', RESTIC_CACHE_DIR: ctx.dir(`restic-cache-${tag}`) },
      },
    };
    await ensureBucket(repos.ours.store);
    await ensureBucket(repos.restic.store);
    await run('restic', ['init'], { env: repos.restic.env, label: 'restic init' });
    if (kopia) {
      const dir = ctx.dir(`kopia-${tag}`);
      const env = {
        KOPIA_PASSWORD: 'bench-password',
        KOPIA_CONFIG_PATH: path.join(dir, 'repository.config'),
        KOPIA_CACHE_DIRECTORY: path.join(dir, 'cache'),
        KOPIA_LOG_DIR: path.join(dir, 'logs'),
        KOPIA_CHECK_FOR_UPDATES: 'false',
      };
      repos.kopia = { bucket: b('kopia'), store: mkStore(b('kopia')), env };
      await ensureBucket(repos.kopia.store);
      await run(
        kopia,
        ['repository', 'create', 's3', `--endpoint=127.0.0.1:${port}`, '--disable-tls', `--bucket=${b('kopia')}`, `--access-key=${minio.accessKeyId}`, `--secret-access-key=${minio.secretAccessKey}`, '--override-hostname=bench', '--override-username=bench'],
        { env, label: 'kopia repository create' },
      );
      // Its periodic maintenance would otherwise run a full GC right after the first snapshot
      // (due at creation); off, kopia's times are snapshot work only (the stricter baseline).
      await run(kopia, ['maintenance', 'set', '--enable-quick=false', '--enable-full=false'], { env, label: 'kopia maintenance set' });
    }
    return repos;
  };

  const minioCpu = () => processCpuS(minio.pid);
  const reqs = (bucket: string) => bucketRequests(minio.endpoint, minio.accessKeyId, minio.secretAccessKey, bucket);
  /** Runs one tool's backup of `root` into its bucket, measuring the process, MinIO's CPU, the bucket's growth and the requests. */
  const backup = async (tool: Tool, repos: Repos, root: string, name: string, parent?: string): Promise<BackupRun> => {
    const store = repos[tool]!.store;
    const bucket = repos[tool]!.bucket;
    warm(root);
    const before = await bucketUsage(store);
    syncDisks();
    const q0 = await reqs(bucket);
    const c0 = minioCpu();
    let m: Measured;
    let snapshot: string | undefined;
    let summary: ResticSummary | undefined;
    let out: BackupOut | undefined;
    if (tool === 'ours') {
      const o = await ours<BackupOut>(
        { op: 'backup', endpoint: minio.endpoint, bucket, key, root, manifestKey: `points/${name}/volume.snap`, sessionId: name, ...(parent ? { parentManifestKey: `points/${parent}/volume.snap` } : {}) },
        creds,
      );
      m = o;
      out = o.out;
      snapshot = `points/${name}/volume.snap`;
    } else if (tool === 'restic') {
      m = await run('restic', ['backup', '--json', '--host', 'bench', root], { env: repos.restic.env, label: 'restic backup' });
      const lines = m.stdout.trim().split('\n').filter((l) => l.includes('"summary"'));
      summary = JSON.parse(lines.pop() ?? '{}') as ResticSummary;
      snapshot = summary.snapshot_id;
    } else {
      m = await run(kopia!, ['snapshot', 'create', root, '--json'], { env: repos.kopia!.env, label: 'kopia snapshot create' });
      snapshot = (JSON.parse(m.stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop() ?? '{}') as { id?: string }).id;
    }
    const c1 = minioCpu();
    const q = requestDiff(q0, await reqs(bucket));
    const after = await bucketUsage(store);
    ctx.log(`${tool} backup ${repos.tag}/${name}: ${m.wallS.toFixed(2)} s, ${q.total} requests, ${after.bytes - before.bytes} bytes added`);
    return {
      ...m,
      tool,
      serverCpuS: c0 !== undefined && c1 !== undefined ? c1 - c0 : undefined,
      added: after.bytes - before.bytes,
      objectsAdded: after.objects - before.objects,
      stored: after.bytes,
      requests: q.total,
      requestsByApi: q.byApi,
      uploaded: q.uploaded,
      snapshot,
      summary,
      out,
    };
  };
  const strip = <T extends Measured>(m: T): Omit<T, 'stdout' | 'stderr'> => {
    const { stdout: _o, stderr: _e, ...rest } = m;
    return rest;
  };
  const best = <T extends { wallS: number }>(xs: T[]) => xs.reduce((a, b) => (b.wallS < a.wallS ? b : a));
  const allTimes = (xs: { wallS: number }[]) => xs.map((x) => x.wallS.toFixed(1)).join('/');
  const gibOf = (bytes: number) => bytes / (1024 * MiB);
  const perGiB = (m: { cpuS?: number }, bytes: number) => (m.cpuS === undefined ? '–' : (m.cpuS / gibOf(bytes)).toFixed(1));
  const tools: Tool[] = kopia ? ['ours', 'restic', 'kopia'] : ['ours', 'restic'];
  const toolName = (t: Tool) => (t === 'ours' ? 'ours' : t === 'restic' ? resticVersion : kopiaVersion);

  /** B2 on one dataset: ctx.repeat rounds (each into fresh buckets, tools alternating); returns every round and the last round's repos. */
  const fullRounds = async (label: string, root: string) => {
    const rounds: Record<Tool, BackupRun[]> = { ours: [], restic: [], kopia: [] };
    let repos!: Repos;
    for (let r = 0; r < ctx.repeat; r++) {
      repos = await freshRepos(`${label}-${r}`);
      for (const t of tools) rounds[t].push(await backup(t, repos, root, 'full'));
    }
    const bestOf = Object.fromEntries(tools.map((t) => [t, best(rounds[t])])) as Record<Tool, BackupRun>;
    const baseTool: Tool = kopia && bestOf.kopia.wallS < bestOf.restic.wallS ? 'kopia' : 'restic';
    return { rounds, best: bestOf, baseTool, repos, last: Object.fromEntries(tools.map((t) => [t, rounds[t][rounds[t].length - 1]!])) as Record<Tool, BackupRun> };
  };
  const fullNote = (f: Awaited<ReturnType<typeof fullRounds>>, rate: (m: BackupRun) => number, unit: string, bytes: number, goal: string) =>
    `goal ≥ ${goal}× the faster of restic and kopia; ` +
    tools.map((t) => `${t} ${rate(f.best[t]).toFixed(0)} ${unit} (${allTimes(f.rounds[t])} s, ${perGiB(f.best[t], bytes)} CPU-s/GiB, MinIO CPU-s ${f.best[t].serverCpuS?.toFixed(1) ?? '–'})`).join('; ') +
    `; best of ${ctx.repeat}`;

  // ---- B2 (large files)
  let t0 = Date.now();
  const root = path.join(ctx.dir('volume'), 'data');
  const ds: VolumeDataset = generateVolume(root, sizeMiB * MiB);
  const want = await hashTree(root);
  ctx.log(`generated ${ds.files} files, ${(ds.bytes / MiB).toFixed(0)} MiB in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const raw: Record<string, unknown> = { files: ds.files, bytes: ds.bytes, smallFiles: smallCount, resticVersion, kopiaVersion, repeat: ctx.repeat };
  ctx.raw.volume = raw;

  const large = await fullRounds('large', root);
  const stripRounds = (rounds: Record<Tool, BackupRun[]>) => Object.fromEntries(tools.map((t) => [t, rounds[t].map(strip)]));
  raw.B2 = { large: stripRounds(large.rounds), largeBaseline: large.baseTool };
  const mbps = (m: BackupRun) => mbPerS(ds.bytes, m.wallS);
  ctx.table.add({
    id: 'B2.large',
    name: `Full backup of ${sizeMiB} MiB / ${ds.files} files to MinIO`,
    ours: mbps(large.best.ours),
    baseline: mbps(large.best[large.baseTool]),
    baselineName: toolName(large.baseTool),
    unit: 'MB/s',
    better: 'higher',
    note: fullNote(large, mbps, 'MB/s', ds.bytes, '1.5'),
    oursCost: cost(large.best.ours),
    baselineCost: cost(large.best[large.baseTool]),
  });
  ctx.table.add({
    id: 'B2.stored',
    name: 'Full backup: bytes stored in the bucket',
    ours: large.last.ours.stored,
    baseline: large.last.restic.stored,
    baselineName: resticVersion,
    unit: 'bytes',
    better: 'lower',
    note:
      tools.map((t) => `${t} ${((large.last[t].stored / ds.bytes) * 100).toFixed(1)}% of the source in ${large.last[t].objectsAdded} objects, ${large.last[t].requests} requests`).join('; ') +
      ' (restic zstd auto, kopia no compression by default, ours zstd-1)',
  });

  // ---- B2 (small files): a separate tree, full backup only.
  if (smallCount > 0) {
    t0 = Date.now();
    const smallRoot = path.join(ctx.dir('volume'), 'small');
    const sds = generateSmallFiles(smallRoot, smallCount);
    ctx.log(`generated ${sds.files} small files, ${(sds.bytes / MiB).toFixed(0)} MiB in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const small = await fullRounds('small', smallRoot);
    raw.B2small = { files: sds.files, bytes: sds.bytes, rounds: stripRounds(small.rounds), baseline: small.baseTool };
    const fps = (m: BackupRun) => sds.files / m.wallS;
    ctx.table.add({
      id: 'B2.small',
      name: `Full backup of ${sds.files.toLocaleString('en-US')} files of 1–16 KiB (${(sds.bytes / MiB).toFixed(0)} MiB)`,
      ours: fps(small.best.ours),
      baseline: fps(small.best[small.baseTool]),
      baselineName: toolName(small.baseTool),
      unit: 'files/s',
      better: 'higher',
      note: fullNote(small, fps, 'files/s', sds.bytes, '1.5') + `; peak RSS ${tools.map((t) => `${t} ${small.best[t].rssMiB?.toFixed(0) ?? '–'}`).join(', ')} MiB`,
      oursCost: cost(small.best.ours),
      baselineCost: cost(small.best[small.baseTool]),
    });
    rmSync(smallRoot, { recursive: true, force: true });
  }

  // ---- B3: 1% scattered change (16 writes), then an incremental of each tool (ours names its parent).
  const repos = large.repos;
  const writeSize = Math.max(4096, Math.floor((ds.bytes * 0.01) / 16 / 4096) * 4096);
  const changed = scatteredChange(ds, 16, writeSize);
  ctx.log(`changed ${changed} bytes (16 × ${writeSize / 1024} KiB)`);
  const incr = {} as Record<Tool, BackupRun>;
  for (const t of tools) incr[t] = await backup(t, repos, root, 'incr-1pct', t === 'ours' ? 'full' : undefined);
  raw.B3 = { changedBytes: changed, writeSize, ...Object.fromEntries(tools.map((t) => [t, strip(incr[t])])) };
  const ampl = (t: Tool) => `${t} ${(incr[t].uploaded / changed).toFixed(2)}×`;
  ctx.table.add({
    id: 'B3.vs-changed',
    name: `Incremental after 1% scattered change (16 × ${writeSize / 1024} KiB): bytes uploaded`,
    ours: incr.ours.uploaded,
    baseline: changed,
    baselineName: 'changed bytes',
    unit: 'bytes',
    better: 'lower',
    note: `goal ≤ 3×; bytes MinIO received for the bucket; ${tools.slice(1).map(ampl).join(', ')}; ours bucket grew ${fmt(incr.ours.added, 'bytes')}`,
  });
  for (const t of tools.slice(1)) {
    ctx.table.add({
      id: `B3.vs-${t}`,
      name: 'Incremental after 1% change: bytes uploaded',
      ours: incr.ours.uploaded,
      baseline: incr[t].uploaded,
      baselineName: toolName(t),
      unit: 'bytes',
      better: 'lower',
      note:
        `goal < 1× (below ${t}); bucket grew ${fmt(incr.ours.added, 'bytes')} vs ${fmt(incr[t].added, 'bytes')}; requests ${incr.ours.requests} vs ${incr[t].requests}` +
        (t === 'restic' ? `; restic data_added ${incr.restic.summary?.data_added}` : ''),
    });
  }
  ctx.table.add({
    id: 'B3.time',
    name: 'Incremental after 1% change: time',
    ours: incr.ours.wallS,
    baseline: incr.restic.wallS,
    baselineName: resticVersion,
    unit: 's',
    better: 'lower',
    note: `no goal; ${kopia ? `kopia ${incr.kopia.wallS.toFixed(2)} s; ` : ''}restic re-read ${incr.restic.summary?.files_changed} changed files, skipped ${incr.restic.summary?.files_unmodified}`,
    oursCost: cost(incr.ours),
    baselineCost: cost(incr.restic),
  });

  // ---- B4: re-run with no change.
  const none = {} as Record<Tool, BackupRun>;
  for (const t of tools) none[t] = await backup(t, repos, root, 'incr-none', t === 'ours' ? 'incr-1pct' : undefined);
  raw.B4 = Object.fromEntries(tools.map((t) => [t, strip(none[t])]));
  const apis = (m: BackupRun) =>
    Object.entries(m.requestsByApi)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
  ctx.table.add({
    id: 'B4.time',
    name: 'Re-run with no change: time',
    ours: none.ours.wallS,
    baseline: none.restic.wallS,
    baselineName: resticVersion,
    unit: 's',
    better: 'lower',
    note: `goal ≤ 0.5×; ${kopia ? `kopia ${none.kopia.wallS.toFixed(2)} s; ` : ''}ours in-process ${none.ours.out!.inProcessS.toFixed(2)} s`,
    oursCost: cost(none.ours),
    baselineCost: cost(none.restic),
  });
  for (const t of tools.slice(1)) {
    ctx.table.add({
      id: `B4.req-${t}`,
      name: 'Re-run with no change: S3 requests (counted by MinIO)',
      ours: none.ours.requests,
      baseline: none[t].requests,
      baselineName: toolName(t),
      unit: 'requests',
      better: 'lower',
      note: `goal: fewer; ours: ${apis(none.ours)}; ${t}: ${apis(none[t])}`,
    });
  }
  ctx.table.add({
    id: 'B4.bytes',
    name: 'Re-run with no change: bytes added',
    ours: none.ours.added,
    baseline: none.restic.added,
    baselineName: resticVersion,
    unit: 'bytes',
    better: 'lower',
    note: `objects added ${tools.map((t) => `${t} ${none[t].objectsAdded}`).join(', ')}${kopia ? `; kopia ${fmt(none.kopia.added, 'bytes')} bytes` : ''}`,
  });

  // ---- B5: restore of the full point into empty dirs, vs restic restore and vs cat of the dataset.
  // All start cold: the page cache of the tool's bucket (MinIO's files) or of the dataset is
  // dropped first (per file, posix_fadvise), so each side reads from the disk. Best of ctx.repeat.
  const restoreRoot = ctx.dir('restore');
  const bucketDir = (b: string) => (existsSync(path.join(minioData, b)) ? path.join(minioData, b) : minioData);
  const cats: Measured[] = [];
  const oRess: (Measured & { out: RestoreOut })[] = [];
  const rRess: Measured[] = [];
  let oDiff: string[] = [];
  let rDiff: string[] = [];
  const restoreReqs = {} as Record<'ours' | 'restic', ReturnType<typeof requestDiff>>;
  for (let r = 0; r < ctx.repeat; r++) {
    await evictPageCache(root);
    cats.push(await run('bash', ['-c', 'find "$1" -type f -exec cat {} + > /dev/null', '_', root], { label: 'cat' }));
    const oursDst = path.join(restoreRoot, 'ours');
    await evictPageCache(bucketDir(repos.ours.bucket));
    let q0 = await reqs(repos.ours.bucket);
    oRess.push(await ours<RestoreOut>({ op: 'restore', endpoint: minio.endpoint, bucket: repos.ours.bucket, key, manifestKey: 'points/full/volume.snap', target: oursDst }, creds));
    restoreReqs.ours = requestDiff(q0, await reqs(repos.ours.bucket));
    ctx.log(`ours restore ${oRess[oRess.length - 1]!.wallS.toFixed(2)} s`);
    oDiff = oDiff.length ? oDiff : diffHashes(want, await hashTree(oursDst));
    rmSync(oursDst, { recursive: true, force: true });
    const resticDst = path.join(restoreRoot, 'restic');
    await evictPageCache(bucketDir(repos.restic.bucket));
    q0 = await reqs(repos.restic.bucket);
    rRess.push(await run('restic', ['restore', large.last.restic.snapshot!, '--target', resticDst], { env: repos.restic.env, label: 'restic restore' }));
    restoreReqs.restic = requestDiff(q0, await reqs(repos.restic.bucket));
    ctx.log(`restic restore ${rRess[rRess.length - 1]!.wallS.toFixed(2)} s`);
    rDiff = rDiff.length ? rDiff : diffHashes(want, await hashTree(path.join(resticDst, root)));
    rmSync(resticDst, { recursive: true, force: true });
  }
  const cat = best(cats);
  const oRes = best(oRess);
  const rRes = best(rRess);
  raw.B5 = { cat: cats.map(strip), ours: oRess.map(strip), restic: rRess.map(strip), oursDiff: oDiff, resticDiff: rDiff, requests: restoreReqs };
  const getNote = (t: 'ours' | 'restic') => `${t} ${restoreReqs[t].total} requests (${restoreReqs[t].byApi.GetObject ?? 0} GETs, ${fmt(restoreReqs[t].downloaded, 'bytes')} B read)`;
  const verdict = (d: string[]) => (d.length ? `MISMATCH: ${d.join(', ')}` : 'sha256 identical');
  const rate = (m: { wallS: number }) => mbPerS(ds.bytes, m.wallS);
  ctx.table.add({
    id: 'B5.vs-restic',
    name: 'Restore of the full point to an empty dir (cold cache)',
    ours: rate(oRes),
    baseline: rate(rRes),
    baselineName: `${resticVersion} restore`,
    unit: 'MB/s',
    better: 'higher',
    note: `goal ≥ 1.0×; best of ${ctx.repeat} (ours ${allTimes(oRess)} s, restic ${allTimes(rRess)} s); CPU-s/GiB ${perGiB(oRes, ds.bytes)} vs ${perGiB(rRes, ds.bytes)}; ${getNote('ours')}, ${getNote('restic')}; ours ${verdict(oDiff)}, restic ${verdict(rDiff)}`,
    oursCost: cost(oRes),
    baselineCost: cost(rRes),
  });
  ctx.table.add({
    id: 'B5.vs-cat',
    name: 'Restore of the full point vs reading the dataset (cold cache)',
    ours: rate(oRes),
    baseline: rate(cat),
    baselineName: 'find -exec cat > /dev/null',
    unit: 'MB/s',
    better: 'higher',
    note: `goal ≥ 0.5×; cat ${allTimes(cats)} s; restic ${(rate(rRes) / rate(cat)).toFixed(2)}× cat`,
    oursCost: cost(oRes),
    baselineCost: cost(cat),
  });
  if (oDiff.length || rDiff.length) throw new Error(`B5 restore verification failed: ours ${verdict(oDiff)}; restic ${verdict(rDiff)}`);

  const b = (n: number) => `${fmt(n, 'bytes')} bytes`;
  const line = (t: Tool) =>
    `${toolName(t)}: full ${fmt(large.best[t].wallS, 's')} s (${b(large.last[t].stored)} stored); incremental (1% changed, ${b(changed)}): ${fmt(incr[t].wallS, 's')} s, ${b(incr[t].uploaded)} uploaded; ` +
    `unchanged re-run: ${fmt(none[t].wallS, 's')} s, ${none[t].requests} requests`;
  ctx.table.say(`${fmt(gibOf(ds.bytes), '')} GiB volume (${ds.files} files). ${tools.map(line).join('. ')}. Restore: ours ${fmt(oRes.wallS, 's')} s, restic ${fmt(rRes.wallS, 's')} s, cat ${fmt(cat.wallS, 's')} s.`);
}

// ---------------------------------------------------------------------------------------------

export const BENCHMARKS: Benchmark[] = [
  { name: 'pipeline', title: 'B1 CPU pipeline per core', run: pipeline },
  { name: 'volume', title: 'B2–B5 volume backup / incremental / rerun / restore vs restic and kopia', run: volume },
  { name: 'discovery', title: 'B6 discovery of a namespace of 100,000 objects over 60 kinds vs a kubectl list loop (local clusters)', run: discoveryBench },
  { name: 'objects', title: 'B7 restore of 1,000 and 10,000 objects vs kubectl apply and the API server ceiling (local clusters)', run: objects },
  { name: 'memory', title: 'B8 peak RSS of a node agent at 100k, 1M and 2M files, vs restic and kopia', run: memoryBench },
  { name: 'orchestration', title: 'B9 200 plans backed up concurrently by one, then two orchestrator workers (local clusters)', run: orchestrationBench },
  { name: 'store-scale', title: 'B10 latest point of a plan with 1,000 points; GC of 50 plans x 100 points', run: storeScale },
  { name: 'failover', title: 'B11 replication RPO under writes and failover RTO vs its restore alone (local clusters)', run: failoverBench },
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
