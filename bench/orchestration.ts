/**
 * B9: orchestration at scale, on the local stack (bench/stack.ts: two kwok clusters, Temporal dev
 * server, MinIO, orchestrator worker and node agents as real processes).
 *
 * BENCH_PLANS (default 200) small applications, each a namespace b9-app-<i> on "source" with a
 * ConfigMap (1 KiB) and a Secret (plus the namespace's default ServiceAccount and root CA
 * ConfigMap); objects only, no volumes (the data path is B2–B5). One DRPlan per application, all on
 * one store (one bucket, one shared repository), no retention (GC is B10).
 *
 * Round "1 worker": all BENCH_PLANS backup workflows started at once, served by the one
 * orchestrator worker process of the stack. Round "2 workers": that worker stopped, two fresh
 * worker processes on the same task queue, all plans backed up again (another point each). Each
 * round starts after an unmeasured warm-up of 4 backups per worker (code loaded and compiled).
 * The worker runs with the SDK's default slots (100 activities, 40 workflow tasks at a time):
 * time queued (activity scheduled → started) shows when they, or the poll rate, bound a round.
 * Per round: completed points per minute (plans / (last completion − first start)), worker CPU-s
 * (utime+stime from /proc) and peak RSS (VmHWM, reset with clear_refs at the round's start, so the
 * worker's start-up bundling is not counted), Temporal history events per backup (every workflow's
 * history), the CPU-s of every other process of the stack over the round (Temporal, each
 * kube-apiserver/etcd/controller, MinIO, node agents) to show what bounds it, and per activity
 * type the mean time queued (scheduled → started: waiting for a worker slot or poll) and running.
 */
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import type { backup as backupWorkflow } from '../workflows';
import type { BackupReport } from '../workflows/backup';
import { validatePlan, planToStoreRef, type Plan } from '../shared/plan';
import { ensureBucket, openStore } from '../activities/store/open-store';
import { mapLimit } from '../activities/util/concurrency';
import { runningPid } from '../scripts/stack/local-stack';
import { startBenchStack, type BenchStack, type Proc } from './stack';
import { processCpuS, run } from './measure';
import type { BenchContext } from './run';

const KEY_ENV = 'TDR_BENCH_KEY';
const BUCKET = 'bench-orchestration';

const tsMs = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): number => (t ? Number(t.seconds ?? 0) * 1000 + (t.nanos ?? 0) / 1e6 : NaN);

function procStatus(pid: number | undefined, field: 'VmHWM' | 'VmRSS'): number | undefined {
  if (!pid) return undefined;
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Resets the peak RSS (VmHWM) of a process we own; false when the kernel refuses. */
function resetPeak(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** CPU-s per thread name of a process (MainThread: activities and the SDK; WorkerThread: workflow code; V8Worker: GC). */
function threadCpuS(pid: number | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  if (!pid) return out;
  try {
    for (const t of readdirSync(`/proc/${pid}/task`)) {
      try {
        const stat = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
        const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')).replace(/[-\d]+$/, '');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        out[name] = (out[name] ?? 0) + (Number(f[11]) + Number(f[12])) / 100;
      } catch {
        /* thread gone */
      }
    }
  } catch {
    /* process gone */
  }
  return out;
}

const diff = (a: Record<string, number>, b: Record<string, number>) => Object.fromEntries(Object.entries(a).map(([k, v]) => [k, +(v - (b[k] ?? 0)).toFixed(2)]));

/** Whole-machine busy and total jiffies from /proc/stat. */
function machineJiffies(): { busy: number; total: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = (f[3] ?? 0) + (f[4] ?? 0);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** The stack's other processes, by name, whose CPU is sampled around each round. */
function stackPids(stack: BenchStack, minioPid: number | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  const kwok = path.join(stack.clustersDir, 'kwok', 'clusters');
  if (existsSync(kwok)) {
    for (const cluster of readdirSync(kwok)) {
      const pids = path.join(kwok, cluster, 'pids');
      if (!existsSync(pids)) continue;
      for (const f of readdirSync(pids)) {
        const pid = Number(readFileSync(path.join(pids, f), 'utf8').trim());
        if (pid) out[`${cluster}/${f.replace(/\.pid$/, '')}`] = pid;
      }
    }
  }
  const temporal = runningPid(stack.stackDir, 'temporal');
  if (temporal) out.temporal = temporal;
  if (minioPid) out.minio = minioPid;
  // Node agents (children of this process running node-agent.js).
  let k = 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== process.pid) continue;
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes('node-agent.js')) out[`node-agent-${k++}`] = Number(d);
    } catch {
      /* gone */
    }
  }
  return out;
}

interface ActivityStat {
  n: number;
  queuedMs: number;
  runMs: number;
  maxQueuedMs: number;
}

interface HistoryStats {
  events: number;
  workflowTasks: number;
  wftQueuedMs: number;
  /** Workflow task started → completed (or timed out): the worker's time to run the workflow code. */
  wftRunMs: number;
  wftTimedOut: number;
  activities: Record<string, ActivityStat>;
}

async function historyStats(handle: WorkflowHandle): Promise<HistoryStats> {
  const events = (await handle.fetchHistory()).events ?? [];
  const scheduled = new Map<string, { name: string; at: number; started?: number }>();
  const wft = new Map<string, number>();
  const out: HistoryStats = { events: events.length, workflowTasks: 0, wftQueuedMs: 0, wftRunMs: 0, wftTimedOut: 0, activities: {} };
  const wftStarted = new Map<string, number>();
  for (const e of events) {
    const at = tsMs(e.eventTime);
    const id = String(e.eventId);
    if (e.workflowTaskScheduledEventAttributes) wft.set(id, at);
    const ws = e.workflowTaskStartedEventAttributes;
    if (ws) {
      out.workflowTasks++;
      out.wftQueuedMs += at - (wft.get(String(ws.scheduledEventId)) ?? at);
      wftStarted.set(id, at);
    }
    const wEnd = e.workflowTaskCompletedEventAttributes ?? e.workflowTaskTimedOutEventAttributes ?? e.workflowTaskFailedEventAttributes;
    if (wEnd) {
      out.wftRunMs += at - (wftStarted.get(String(wEnd.startedEventId)) ?? at);
      if (e.workflowTaskTimedOutEventAttributes) out.wftTimedOut++;
    }
    const s = e.activityTaskScheduledEventAttributes;
    if (s) scheduled.set(id, { name: s.activityType?.name ?? '?', at });
    const st = e.activityTaskStartedEventAttributes;
    if (st) {
      const x = scheduled.get(String(st.scheduledEventId));
      if (x) x.started = at;
    }
    const done = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes;
    if (done) {
      const x = scheduled.get(String(done.scheduledEventId));
      if (x && x.started !== undefined) {
        const a = (out.activities[x.name] ??= { n: 0, queuedMs: 0, runMs: 0, maxQueuedMs: 0 });
        a.n++;
        a.queuedMs += x.started - x.at;
        a.runMs += at - x.started;
        a.maxQueuedMs = Math.max(a.maxQueuedMs, x.started - x.at);
      }
    }
  }
  return out;
}

interface Round {
  label: string;
  workers: number;
  plans: number;
  wallS: number;
  pointsPerMin: number;
  latencyS: { p50: number; p95: number; max: number };
  workerCpuS: number[];
  /** Per worker, CPU-s by thread name over the round. */
  workerThreadCpuS: Record<string, number>[];
  workerPeakRssMiB: (number | undefined)[];
  peakResetOk: boolean;
  historyEvents: { mean: number; min: number; max: number };
  workflowTasksPerBackup: number;
  wftQueuedMsMean: number;
  wftRunMsMean: number;
  wftTimedOut: number;
  activities: Record<string, { n: number; queuedMsMean: number; runMsMean: number; maxQueuedMs: number }>;
  stackCpuS: Record<string, number>;
  benchCpuS: number;
  machineBusyPct: number;
  failed: number;
}

async function backupRound(ctx: BenchContext, stack: BenchStack, label: string, workers: Proc[], plans: Plan[], others: Record<string, number>): Promise<Round> {
  // Warm-up (not measured): a few backups, so that every worker has loaded and compiled its code
  // (workflow bundle, activities, SDK clients) before the round, as a long-running worker has.
  const warm = plans.slice(0, Math.min(plans.length, 4 * workers.length));
  await Promise.all(
    warm.map(async (plan, i) =>
      (await stack.client.workflow.start<typeof backupWorkflow>('backup', { taskQueue: stack.taskQueue, workflowId: `bench-b9-warmup-${plan.metadata.name}-${Date.now()}-${i}`, args: [{ plan }] })).result(),
    ),
  );
  const wPids = workers.map((w) => w.child.pid);
  const peakResetOk = wPids.every((p) => resetPeak(p));
  // VmHWM fallback when clear_refs is refused: VmRSS sampled every 250 ms.
  const sampled = wPids.map(() => 0);
  const sampler = setInterval(() => wPids.forEach((p, i) => (sampled[i] = Math.max(sampled[i]!, procStatus(p, 'VmRSS') ?? 0))), 250);
  const cpu0 = wPids.map((p) => processCpuS(p) ?? NaN);
  const threads0 = wPids.map((p) => threadCpuS(p));
  const other0 = Object.fromEntries(Object.entries(others).map(([k, p]) => [k, processCpuS(p) ?? NaN]));
  const bench0 = process.cpuUsage();
  const m0 = machineJiffies();
  const t0 = Date.now();
  const stamp = Date.now().toString(36);
  const handles = await Promise.all(
    plans.map((plan) =>
      stack.client.workflow.start<typeof backupWorkflow>('backup', {
        taskQueue: stack.taskQueue,
        workflowId: `bench-b9-${label.replace(/\W+/g, '')}-${plan.metadata.name}-${stamp}`,
        args: [{ plan, agentHeartbeatTimeoutMs: 30_000 }],
      }),
    ),
  );
  ctx.log(`B9 ${label}: ${handles.length} backups started in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const doneAt: number[] = [];
  let failed = 0;
  let firstError: string | undefined;
  const progress = setInterval(() => ctx.log(`B9 ${label}: ${doneAt.length + failed}/${plans.length} done`), 15_000);
  await Promise.all(
    handles.map((h) =>
      h.result().then(
        (_r: BackupReport) => void doneAt.push(Date.now() - t0),
        (e: Error) => {
          failed++;
          firstError ??= `${h.workflowId}: ${e.message} ${(e.cause as Error | undefined)?.message ?? ''}`;
        },
      ),
    ),
  );
  clearInterval(progress);
  const wallS = (Date.now() - t0) / 1000;
  const m1 = machineJiffies();
  const benchCpu = process.cpuUsage(bench0);
  const cpu = wPids.map((p, i) => (processCpuS(p) ?? NaN) - cpu0[i]!);
  const threads = wPids.map((p, i) => diff(threadCpuS(p), threads0[i]!));
  const stackCpuS = Object.fromEntries(Object.entries(others).map(([k, p]) => [k, (processCpuS(p) ?? NaN) - other0[k]!]));
  clearInterval(sampler);
  const peaks = wPids.map((p, i) => (peakResetOk ? procStatus(p, 'VmHWM') : sampled[i]));
  if (failed) ctx.log(`B9 ${label}: ${failed} backups failed, first: ${firstError}`);
  if (doneAt.length === 0) throw new Error(`B9 ${label}: no backup completed; first error ${firstError}`);

  const stats = await mapLimit(handles, 16, (h) => historyStats(h));
  const ev = stats.map((s) => s.events);
  const acts: Round['activities'] = {};
  for (const s of stats) {
    for (const [name, a] of Object.entries(s.activities)) {
      const t = (acts[name] ??= { n: 0, queuedMsMean: 0, runMsMean: 0, maxQueuedMs: 0 });
      t.queuedMsMean += a.queuedMs;
      t.runMsMean += a.runMs;
      t.n += a.n;
      t.maxQueuedMs = Math.round(Math.max(t.maxQueuedMs, a.maxQueuedMs));
    }
  }
  for (const a of Object.values(acts)) (a.queuedMsMean = Math.round(a.queuedMsMean / a.n)), (a.runMsMean = Math.round(a.runMsMean / a.n));
  const sorted = [...doneAt].sort((a, b) => a - b);
  const q = (f: number) => sorted[Math.min(sorted.length - 1, Math.floor(f * sorted.length))]! / 1000;
  const totalWft = stats.reduce((a, s) => a + s.workflowTasks, 0);
  const round: Round = {
    label,
    workers: workers.length,
    plans: plans.length,
    wallS,
    pointsPerMin: (doneAt.length / (sorted[sorted.length - 1]! / 1000)) * 60,
    latencyS: { p50: q(0.5), p95: q(0.95), max: sorted[sorted.length - 1]! / 1000 },
    workerCpuS: cpu,
    workerThreadCpuS: threads,
    workerPeakRssMiB: peaks,
    peakResetOk,
    historyEvents: { mean: ev.reduce((a, b) => a + b, 0) / ev.length, min: Math.min(...ev), max: Math.max(...ev) },
    workflowTasksPerBackup: totalWft / stats.length,
    wftQueuedMsMean: Math.round(stats.reduce((a, s) => a + s.wftQueuedMs, 0) / Math.max(1, totalWft)),
    wftRunMsMean: Math.round(stats.reduce((a, s) => a + s.wftRunMs, 0) / Math.max(1, totalWft)),
    wftTimedOut: stats.reduce((a, s) => a + s.wftTimedOut, 0),
    activities: acts,
    stackCpuS,
    benchCpuS: (benchCpu.user + benchCpu.system) / 1e6,
    machineBusyPct: ((m1.busy - m0.busy) / Math.max(1, m1.total - m0.total)) * 100,
    failed,
  };
  const top = Object.entries(stackCpuS)
    .filter(([, v]) => v > 0.05 * wallS)
    .sort((a, b) => b[1] - a[1])
    .map(([k, v]) => `${k} ${v.toFixed(1)}`)
    .join(', ');
  ctx.log(
    `B9 ${label}: ${doneAt.length} points in ${sorted[sorted.length - 1]! / 1000} s = ${round.pointsPerMin.toFixed(0)}/min; worker CPU-s ${cpu.map((c) => c.toFixed(1)).join('+')}, ` +
      `peak RSS ${peaks.map((p) => p?.toFixed(0)).join('/')} MiB; machine busy ${round.machineBusyPct.toFixed(0)}% of ${wallS.toFixed(0)} s; other CPU-s: ${top}; history ${round.historyEvents.mean.toFixed(1)} events/backup`,
  );
  for (const [name, a] of Object.entries(acts)) ctx.log(`  ${name}: ${a.n}× queued ${a.queuedMsMean} ms (max ${a.maxQueuedMs}), running ${a.runMsMean} ms`);
  ctx.log(`  worker threads CPU-s: ${threads.map((t) => Object.entries(t).filter(([, v]) => v >= 0.1).map(([k, v]) => `${k} ${v}`).join(', ')).join(' | ')}`);
  ctx.log(`  workflow tasks: ${round.workflowTasksPerBackup.toFixed(1)}/backup, queued ${round.wftQueuedMsMean} ms, ran ${round.wftRunMsMean} ms mean; ${round.wftTimedOut} timed out (10 s)`);
  return round;
}

export async function orchestrationBench(ctx: BenchContext): Promise<void> {
  const n = Math.max(1, Number(process.env.BENCH_PLANS ?? 200));
  const stack = await startBenchStack(ctx, 'B9', 'orchestration', KEY_ENV);
  const raw: Record<string, unknown> = { plans: n, workdir: stack.work };
  ctx.raw.orchestration = raw;
  try {
    // The applications: one namespace each, a ConfigMap and a Secret.
    const docs: string[] = [];
    for (let i = 0; i < n; i++) {
      const ns = `b9-app-${i}`;
      docs.push(
        JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }),
        JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'config', namespace: ns, labels: { app: ns } }, data: { 'app.properties': `app=${i}\n` + 'x'.repeat(1024) } }),
        JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'creds', namespace: ns, labels: { app: ns } }, type: 'Opaque', stringData: { password: `pw-${i}-${'s'.repeat(32)}` } }),
      );
    }
    const file = path.join(stack.work, 'b9-apps.json');
    writeFileSync(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: docs.map((d) => JSON.parse(d)) }));
    const a0 = Date.now();
    await run(...stack.kubectl('source', 'apply', '--server-side', '--field-manager', 'bench', '-f', file), { label: 'kubectl apply (B9 apps)' });
    ctx.log(`B9: ${n} namespaces with a ConfigMap and a Secret on source in ${((Date.now() - a0) / 1000).toFixed(1)} s`);

    const plans: Plan[] = Array.from({ length: n }, (_, i) =>
      validatePlan({
        apiVersion: 'temporal-dr/v1',
        kind: 'DRPlan',
        metadata: { name: `b9-app-${i}` },
        spec: {
          source: { context: 'source' },
          selector: { namespaces: [`b9-app-${i}`] },
          store: { url: `s3://${BUCKET}/`, endpoint: stack.minio.endpoint, forcePathStyle: true, encryption: { keyFrom: { env: KEY_ENV } } },
        },
      }),
    );
    await ensureBucket(openStore(planToStoreRef(plans[0]!), stack.storeEnv));
    // One backup first (creates the shared repository), so neither round pays the creation race.
    const w0 = await stack.client.workflow.start<typeof backupWorkflow>('backup', { taskQueue: stack.taskQueue, workflowId: `bench-b9-init-${Date.now()}`, args: [{ plan: plans[0]! }] });
    await w0.result();

    const minioPid = (await ctx.minio()).pid;
    const others = () => {
      const o = stackPids(stack, minioPid);
      o['bench (this process)'] = process.pid;
      return o;
    };

    const one = await backupRound(ctx, stack, '1 worker', [stack.worker], plans, others());
    await stack.worker.stop();
    const [wa, wb] = await Promise.all([stack.addWorker('worker-a'), stack.addWorker('worker-b')]);
    const two = await backupRound(ctx, stack, '2 workers', [wa!, wb!], plans, others());
    raw.rounds = [one, two];

    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    const rss = (r: Round) => r.workerPeakRssMiB.map((x) => (x === undefined ? '?' : x.toFixed(0))).join('+');
    const cpuShare = (r: Round) => {
      const all = { ...r.stackCpuS, workers: sum(r.workerCpuS) };
      delete (all as Record<string, number>)['bench (this process)'];
      const total = sum(Object.values(all));
      return Object.entries(all)
        .sort((a, b) => b[1] - a[1])
        .slice(0, 4)
        .map(([k, v]) => `${k} ${((v / total) * 100).toFixed(0)}%`)
        .join(', ');
    };
    ctx.table.add({
      id: 'B9.points/min',
      name: `${n} plans backed up at once (objects only), 2 workers vs 1 (scale-out)`,
      ours: two.pointsPerMin,
      baseline: one.pointsPerMin,
      baselineName: '1 worker process',
      unit: 'points/min',
      better: 'higher',
      note:
        `1 worker: ${one.pointsPerMin.toFixed(0)}/min (p50 ${one.latencyS.p50.toFixed(0)} s, max ${one.latencyS.max.toFixed(0)} s), 2 workers: ${two.pointsPerMin.toFixed(0)}/min; ` +
        `machine busy ${one.machineBusyPct.toFixed(0)}% / ${two.machineBusyPct.toFixed(0)}% of 2 cores; stack CPU (1 worker): ${cpuShare(one)}` +
        (one.failed || two.failed ? `; FAILED ${one.failed}/${two.failed}` : ''),
      oursCost: { cpuS: sum(two.workerCpuS), rssMiB: Math.max(...two.workerPeakRssMiB.map((x) => x ?? 0)) },
      baselineCost: { cpuS: sum(one.workerCpuS), rssMiB: one.workerPeakRssMiB[0] },
    });
    ctx.table.add({
      id: 'B9.cpu/point',
      name: '  worker CPU-s per point',
      ours: sum(two.workerCpuS) / two.plans,
      baseline: sum(one.workerCpuS) / one.plans,
      baselineName: '1 worker process',
      unit: 'CPU-s',
      better: 'lower',
      note: `worker CPU-s ${two.workerCpuS.map((c) => c.toFixed(1)).join('+')} vs ${one.workerCpuS[0]!.toFixed(1)}; peak RSS ${rss(two)} vs ${rss(one)} MiB${one.peakResetOk ? '' : ' (sampled VmRSS)'}`,
    });
    ctx.table.add({
      id: 'B9.history',
      name: '  Temporal history events per backup',
      ours: two.historyEvents.mean,
      baseline: one.historyEvents.mean,
      baselineName: '1 worker process',
      unit: 'events',
      better: 'lower',
      note:
        `min–max ${one.historyEvents.min}–${one.historyEvents.max}; ${one.workflowTasksPerBackup.toFixed(1)} workflow tasks per backup, queued ${one.wftQueuedMsMean} / ${two.wftQueuedMsMean} ms and ` +
        `ran ${one.wftRunMsMean} / ${two.wftRunMsMean} ms mean (1 / 2 workers), ${one.wftTimedOut} / ${two.wftTimedOut} timed out`,
    });
    const slowest = (r: Round) =>
      Object.entries(r.activities)
        .sort((a, b) => b[1].queuedMsMean + b[1].runMsMean - (a[1].queuedMsMean + a[1].runMsMean))
        .slice(0, 3)
        .map(([k, a]) => `${k} queued ${(a.queuedMsMean / 1000).toFixed(1)} s + ran ${(a.runMsMean / 1000).toFixed(1)} s`)
        .join(', ');
    ctx.table.say(
      `B9: ${n} plans at once: 1 worker ${one.pointsPerMin.toFixed(0)} points/min, 2 workers ${two.pointsPerMin.toFixed(0)} points/min (${(two.pointsPerMin / one.pointsPerMin).toFixed(2)}×). ` +
        `Per backup (1 worker): ${slowest(one)}. Stack CPU-s over the round (1 worker): ${cpuShare(one)}.`,
    );
  } finally {
    await stack.close();
  }
}
