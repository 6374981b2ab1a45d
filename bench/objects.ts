/**
 * B7: restore of an application of 1,000 and of 10,000 Kubernetes objects, on the local stack (two
 * kwok clusters, a Temporal dev server, MinIO, the orchestrator worker and node agents as real
 * processes). Sizes: BENCH_OBJECTS_SIZES (default "1000,10000"), each in its own namespace
 * bench-src-<n> on "source" (filled with raw parallel server-side apply, not timed):
 *
 *   1,000:  400 ConfigMaps (1–4 KiB), 300 Secrets, 150 ClusterIP Services, 100 ServiceAccounts,
 *           50 Deployments (1 replica; kwok runs the pods)
 *   10,000: 4,200 ConfigMaps, 3,000 Secrets, 2,000 ServiceAccounts, 700 Services, 100 Deployments
 *           (other sizes scale the nearer mix)
 *
 * Baseline, same run, same manifests (namespace rewritten), fresh namespace on "target":
 *   `kubectl apply --server-side -f <dir>` ("apply only"), and that plus the time until every
 *   Deployment is available, with the readiness criterion of our wait-ready activity
 *   (availableReplicas and updatedReplicas ≥ spec.replicas), polled every 250 ms ("apply + ready").
 * Ceiling of the local API server: bench/apply-raw.ts, raw parallel server-side apply (PATCH
 *   application/apply-patch+yaml) of the same manifests with no logic, at our restore's
 *   concurrency (16, one kind after another like our waves) and at 64 (all kinds at once).
 * Ours: the `backup` workflow of bench-src-<n> (extra row, vs `kubectl get -o yaml`), then the
 * `restore` workflow to "target" into a fresh namespace (namespaceMapping), timed from start to
 * result (verify, plan, preflight, waves, wait-ready); also a dry run (planning + preflight) at
 * 1,000. The orchestrator worker's RSS is sampled (/proc/<pid>/status VmRSS, every 100 ms) during
 * each restore. Where the restore's time goes: per-activity durations from the workflow history,
 * and each wave's outcome from restores/<id>/waves/*.json in the store. Sizes above 1,000 run one
 * round (BENCH_REPEAT applies to the 1,000).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import YAML from 'yaml';
import type { WorkflowHandle } from '@temporalio/client';
import type { backup as backupWorkflow, restore as restoreWorkflow } from '../workflows';
import type { BackupReport } from '../workflows/backup';
import type { RestoreReport } from '../workflows/restore';
import { planToStoreRef, validatePlan, type Plan } from '../shared/plan';
import { restoreWaveResultKey, type RestoreRequest } from '../shared/restore-request';
import { ensureBucket, openStore } from '../activities/store/open-store';
import { startBenchStack } from './stack';
import { processCpuS, run, type Measured } from './measure';
import type { BenchContext } from './run';
import type { RawApplyRequest } from './apply-raw';
import type { BenchStack } from './stack';
import { fmt } from './table';

const KEY_ENV = 'TDR_BENCH_KEY';
type Counts = { configMaps: number; secrets: number; services: number; serviceAccounts: number; deployments: number };
const COUNTS: Counts = { configMaps: 400, secrets: 300, services: 150, serviceAccounts: 100, deployments: 50 };
const COUNTS_10K: Counts = { configMaps: 4200, secrets: 3000, services: 700, serviceAccounts: 2000, deployments: 100 };
const sumOf = (c: Counts) => Object.values(c).reduce((a, b) => a + b, 0);

/** The mix of `total` objects: the 1,000 or the 10,000 mix, scaled (the last kind takes the rounding). */
export function countsFor(total: number): Counts {
  const mix = total <= 3000 ? COUNTS : COUNTS_10K;
  const f = total / sumOf(mix);
  const c: Counts = {
    configMaps: Math.round(mix.configMaps * f),
    secrets: Math.round(mix.secrets * f),
    services: Math.round(mix.services * f),
    serviceAccounts: Math.round(mix.serviceAccounts * f),
    deployments: 0,
  };
  c.deployments = Math.max(1, total - sumOf(c));
  return c;
}
const READY_TIMEOUT_MS = 10 * 60_000;

type Obj = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; labels?: Record<string, string> }; [k: string]: unknown };

/** Deterministic filler text of n characters (hex of a sha256 chain). */
function filler(seed: string, n: number): string {
  let out = '';
  let h = seed;
  while (out.length < n) {
    h = createHash('sha256').update(h).digest('hex');
    out += h;
  }
  return out.slice(0, n);
}

/** The objects (default: the 1,000), without a namespace (set when written). Deterministic. */
export function benchObjects(COUNTS: Counts = countsFor(1000)): Record<string, Obj[]> {
  const labels = (app: string) => ({ 'app.kubernetes.io/part-of': 'bench', 'app.kubernetes.io/name': app });
  const serviceAccounts = Array.from({ length: COUNTS.serviceAccounts }, (_, i): Obj => ({
    apiVersion: 'v1',
    kind: 'ServiceAccount',
    metadata: { name: `sa-${i}`, labels: labels(`sa-${i}`) },
  }));
  const secrets = Array.from({ length: COUNTS.secrets }, (_, i): Obj => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: `secret-${i}`, labels: labels(`secret-${i}`) },
    type: 'Opaque',
    data: {
      username: Buffer.from(`user-${i}`).toString('base64'),
      password: Buffer.from(filler(`pw-${i}`, 32)).toString('base64'),
      token: Buffer.from(filler(`tok-${i}`, 256 + ((i * 37) % 768))).toString('base64'),
    },
  }));
  const configMaps = Array.from({ length: COUNTS.configMaps }, (_, i): Obj => {
    const size = 1024 + ((i * 7919) % 3073); // 1–4 KiB
    return {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: `config-${i}`, labels: labels(`config-${i}`) },
      data: { 'app.properties': `# config ${i}\n` + filler(`cm-${i}`, size - 64).replace(/(.{63})/g, '$1\n'), mode: i % 2 ? 'a' : 'b' },
    };
  });
  const services = Array.from({ length: COUNTS.services }, (_, i): Obj => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: `svc-${i}`, labels: labels(`svc-${i}`) },
    spec: { type: 'ClusterIP', selector: { 'app.kubernetes.io/name': `app-${i % COUNTS.deployments}` }, ports: [{ name: 'http', port: 80 + (i % 3), targetPort: 8080 }] },
  }));
  const deployments = Array.from({ length: COUNTS.deployments }, (_, i): Obj => ({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: `app-${i}`, labels: labels(`app-${i}`) },
    spec: {
      replicas: 1,
      selector: { matchLabels: { 'app.kubernetes.io/name': `app-${i}` } },
      template: {
        metadata: { labels: labels(`app-${i}`) },
        spec: {
          containers: [
            {
              name: 'app',
              image: 'registry.example.com/bench/app:1.0',
              ports: [{ containerPort: 8080 }],
              envFrom: [{ configMapRef: { name: `config-${i}` } }],
              resources: { requests: { cpu: '1m', memory: '4Mi' } },
            },
          ],
        },
      },
    },
  }));
  return { serviceAccounts, secrets, configMaps, services, deployments };
}

/** Writes the objects into `dir` as multi-document YAML, in dependency order of the file names. */
function writeManifests(dir: string, namespace: string, objs: Record<string, Obj[]>): void {
  mkdirSync(dir, { recursive: true });
  const doc = (xs: Obj[]) => xs.map((o) => YAML.stringify({ ...o, metadata: { ...o.metadata, namespace } })).join('---\n');
  writeFileSync(path.join(dir, '00-namespace.yaml'), YAML.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } }));
  writeFileSync(path.join(dir, '10-serviceaccounts.yaml'), doc(objs.serviceAccounts!));
  writeFileSync(path.join(dir, '20-secrets.yaml'), doc(objs.secrets!));
  writeFileSync(path.join(dir, '21-configmaps.yaml'), doc(objs.configMaps!));
  writeFileSync(path.join(dir, '30-services.yaml'), doc(objs.services!));
  writeFileSync(path.join(dir, '40-deployments.yaml'), doc(objs.deployments!));
}

/** The same objects as JSON lines for bench/apply-raw.ts, in waves: namespace, then one kind after another. */
function writeRawManifests(file: string, namespace: string, objs: Record<string, Obj[]>): void {
  const lines = [JSON.stringify({ w: 0, o: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } } })];
  ['serviceAccounts', 'secrets', 'configMaps', 'services', 'deployments'].forEach((k, i) => {
    for (const o of objs[k]!) lines.push(JSON.stringify({ w: i + 1, o: { ...o, metadata: { ...o.metadata, namespace } } }));
  });
  writeFileSync(file, lines.join('\n') + '\n');
}

/** Samples a process's VmRSS every intervalMs until stopped; returns the peak in MiB. */
function rssSampler(pid: number | undefined, intervalMs = 100): { stop(): number } {
  let peakKiB = 0;
  const sample = () => {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) peakKiB = Math.max(peakKiB, Number(m[1]));
    } catch {
      /* gone */
    }
  };
  sample();
  const t = setInterval(sample, intervalMs);
  return {
    stop() {
      clearInterval(t);
      sample();
      return peakKiB / 1024;
    },
  };
}

function vmHwmMiB(pid: number | undefined): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Our wait-ready criterion (activities/restore/wait-ready.ts) for Deployments, polled every intervalMs. */
async function waitDeploymentsAvailable(apps: k8s.AppsV1Api, namespace: string, want: number, timeoutMs: number, intervalMs = 250): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const items = (await apps.listNamespacedDeployment({ namespace })).items;
    const pending = items.filter((d) => {
      const r = d.spec?.replicas ?? 1;
      return (d.status?.availableReplicas ?? 0) < r || (d.status?.updatedReplicas ?? 0) < r;
    });
    if (items.length >= want && pending.length === 0) return;
    last = `${items.length - pending.length}/${want} available`;
    if (Date.now() > deadline) throw new Error(`deployments in ${namespace} not available after ${timeoutMs / 1000}s: ${last}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Deletes a namespace and waits until it is gone (frees its Services' cluster IPs: kwok's range is a /24). */
async function deleteNamespace(core: k8s.CoreV1Api, name: string, timeoutMs = 5 * 60_000): Promise<number> {
  const t0 = Date.now();
  await core.deleteNamespace({ name });
  for (;;) {
    const gone = await core.readNamespace({ name }).then(
      () => false,
      (e: unknown) => (e as { code?: number }).code === 404,
    );
    if (gone) return Date.now() - t0;
    if (Date.now() - t0 > timeoutMs) throw new Error(`namespace ${name} not deleted within ${timeoutMs / 1000}s`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

const tsMs = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): number => (t ? Number(t.seconds ?? 0) * 1000 + (t.nanos ?? 0) / 1e6 : NaN);

interface ActivitySpan {
  activity: string;
  arg?: unknown;
  scheduledMs: number;
  startedMs: number;
  closedMs: number;
  attempt: number;
}

/** Activity spans of a finished workflow, relative to the workflow's start, from its history. */
async function activitySpans(handle: WorkflowHandle): Promise<{ spans: ActivitySpan[]; totalMs: number }> {
  const history = await handle.fetchHistory();
  const events = history.events ?? [];
  const t0 = tsMs(events[0]?.eventTime);
  const byScheduled = new Map<string, ActivitySpan>();
  for (const e of events) {
    const id = String(e.eventId);
    const at = tsMs(e.eventTime) - t0;
    const s = e.activityTaskScheduledEventAttributes;
    if (s) {
      let arg: unknown;
      try {
        const p = s.input?.payloads?.[1]?.data;
        arg = p ? JSON.parse(Buffer.from(p).toString('utf8')) : undefined;
      } catch {
        arg = undefined;
      }
      byScheduled.set(id, { activity: s.activityType?.name ?? '?', arg, scheduledMs: at, startedMs: NaN, closedMs: NaN, attempt: 1 });
    }
    const st = e.activityTaskStartedEventAttributes;
    if (st) {
      const span = byScheduled.get(String(st.scheduledEventId));
      if (span) (span.startedMs = at), (span.attempt = st.attempt ?? 1);
    }
    const done = e.activityTaskCompletedEventAttributes ?? e.activityTaskFailedEventAttributes ?? e.activityTaskTimedOutEventAttributes;
    if (done) {
      const span = byScheduled.get(String(done.scheduledEventId));
      if (span) span.closedMs = at;
    }
  }
  return { spans: [...byScheduled.values()], totalMs: tsMs(events[events.length - 1]?.eventTime) - t0 };
}

export async function objects(ctx: BenchContext): Promise<void> {
  const sizes = (process.env.BENCH_OBJECTS_SIZES ?? '1000,10000').split(',').map(Number).filter((n) => n > 0);
  const stack = await startBenchStack(ctx, 'B7', 'objects', KEY_ENV);
  const raw: Record<string, unknown> = { workdir: stack.work, sizes };
  ctx.raw.objects = raw;
  try {
    for (const total of sizes) await objectsOfSize(ctx, stack, total, raw);
  } finally {
    await stack.close();
  }
}

async function objectsOfSize(ctx: BenchContext, stack: BenchStack, TOTAL: number, rawAll: Record<string, unknown>): Promise<void> {
  const { work, client, kubectl, kc, minio, taskQueue, worker, kubeconfig } = stack;
  const COUNTS = countsFor(TOTAL);
  const SRC_NS = `bench-src-${TOTAL}`;
  const idp = TOTAL === 1000 ? 'B7' : `B7.${TOTAL >= 1000 && TOTAL % 1000 === 0 ? `${TOTAL / 1000}k` : TOTAL}`;
  const repeat = TOTAL <= 1000 ? ctx.repeat : 1;
  const raw: Record<string, unknown> = { counts: COUNTS, total: TOTAL };
  rawAll[String(TOTAL)] = raw;
  const secs = (ms: number) => ms / 1000;
  const rawApply = (file: string, concurrency: number, barrier: boolean, context: string, label: string) => {
    const req: RawApplyRequest = { kubeconfig, context, file, method: 'apply', concurrency, barrier, fieldManager: 'bench' };
    return run(process.execPath, [path.join(__dirname, 'apply-raw.js'), JSON.stringify(req)], { label });
  };
  {
    const srcApps = kc('source').makeApiClient(k8s.AppsV1Api);
    const tgtApps = kc('target').makeApiClient(k8s.AppsV1Api);
    const tgtCore = kc('target').makeApiClient(k8s.CoreV1Api);
    const objs = benchObjects(COUNTS);
    const srcFile = path.join(work, 'manifests', `${SRC_NS}.jsonl`);
    mkdirSync(path.dirname(srcFile), { recursive: true });
    writeRawManifests(srcFile, SRC_NS, objs);
    const tApply = Date.now();
    await rawApply(srcFile, 32, true, 'source', 'raw apply (source)');
    await waitDeploymentsAvailable(srcApps, SRC_NS, COUNTS.deployments, READY_TIMEOUT_MS);
    ctx.log(`B7: ${TOTAL} objects in ${SRC_NS} on source, deployments available, in ${secs(Date.now() - tApply).toFixed(1)} s`);

    // The plan and its store.
    const bucket = `bench-objects-${TOTAL}`;
    const plan: Plan = validatePlan({
      apiVersion: 'temporal-dr/v1',
      kind: 'DRPlan',
      metadata: { name: `bench-objects-${TOTAL}` },
      spec: {
        source: { context: 'source' },
        selector: { namespaces: [SRC_NS] },
        store: { url: `s3://${bucket}/`, endpoint: minio.endpoint, forcePathStyle: true, encryption: { keyFrom: { env: KEY_ENV } } },
        target: { context: 'target' },
      },
    });
    const storeRef = planToStoreRef(plan);
    const store = openStore(storeRef, stack.storeEnv);
    await ensureBucket(store);

    // Extra row: our backup vs exporting the same objects with kubectl get -o yaml.
    const exportOut = path.join(work, `export-${TOTAL}.yaml`);
    const exp = await run('bash', ['-c', `"$@" > ${exportOut}`, '_', ...kubectl('source', 'get', 'serviceaccounts,secrets,configmaps,services,deployments', '-n', SRC_NS, '-o', 'yaml').flat()], {
      label: 'kubectl get -o yaml',
    });
    const wCpu0 = processCpuS(worker.child.pid);
    const b0 = process.hrtime.bigint();
    const bHandle = await client.workflow.start<typeof backupWorkflow>('backup', { taskQueue, workflowId: `bench-backup-${Date.now()}`, args: [{ plan, agentHeartbeatTimeoutMs: 10_000 }] });
    const point: BackupReport = await bHandle.result();
    const backupS = Number(process.hrtime.bigint() - b0) / 1e9;
    const backupCpu = (processCpuS(worker.child.pid) ?? NaN) - (wCpu0 ?? NaN);
    ctx.log(`B7: backup ${point.pointId}: ${point.resources} resources in ${backupS.toFixed(1)} s`);
    raw.backup = { wallS: backupS, workerCpuS: backupCpu, report: { ...point, volumes: point.volumes.length, hooks: point.hooks.length }, exportS: exp.wallS };
    ctx.table.add({
      id: `${idp}.backup`,
      name: `Backup of ${TOTAL} objects (namespace ${SRC_NS}) to MinIO (workflow, start → result)`,
      ours: backupS,
      baseline: exp.wallS,
      baselineName: 'kubectl get -o yaml',
      unit: 's',
      better: 'lower',
      note: `not like for like (ours: discovery, capture, encrypt, catalog, retention); ${point.resources} resources captured; worker CPU-s ${backupCpu.toFixed(1)}`,
      oursCost: { cpuS: backupCpu },
      baselineCost: { cpuS: exp.cpuS, rssMiB: exp.rssMiB },
    });

    const restoreReq = (restoreId: string, targetNs: string, dryRun: boolean): RestoreRequest => ({
      restoreId,
      store: storeRef,
      keyEnv: KEY_ENV,
      planName: plan.metadata.name,
      pointId: point.pointId,
      target: { context: 'target', clusterName: 'target' },
      namespaceMapping: { [SRC_NS]: targetNs },
      existingPolicy: 'fail',
      dryRun,
      rollbackOnFailure: false,
      waitReadyTimeoutMs: READY_TIMEOUT_MS,
      agentHeartbeatTimeoutMs: 10_000,
    });

    // Rounds: baseline then ours, each into fresh namespaces; the best wall time of each counts.
    interface Base { applyS: number; readyS: number; apply: Measured; ns: string }
    interface Ours { wallS: number; rtoMs: number; workerCpuS: number; workerPeakRssMiB: number; report: RestoreReport; restoreId: string; spans: ActivitySpan[]; historyMs: number; ns: string }
    const bases: Base[] = [];
    const ourRuns: Ours[] = [];
    let dryBase: Measured | undefined;
    for (let r = 0; r < repeat; r++) {
      const baseNs = `bench-kubectl-${TOTAL}-${r}`;
      const baseDir = path.join(work, 'manifests', baseNs);
      writeManifests(baseDir, baseNs, objs);
      const k0 = process.hrtime.bigint();
      const apply = await run(...kubectl('target', 'apply', '--server-side', '--field-manager', 'bench', '-f', baseDir), { label: 'kubectl apply (target)' });
      await waitDeploymentsAvailable(tgtApps, baseNs, COUNTS.deployments, READY_TIMEOUT_MS);
      const readyS = Number(process.hrtime.bigint() - k0) / 1e9;
      bases.push({ applyS: apply.wallS, readyS, apply, ns: baseNs });
      ctx.log(`${idp} round ${r + 1}: kubectl apply ${apply.wallS.toFixed(1)} s, + ready ${readyS.toFixed(1)} s`);
      if (r === 0 && TOTAL <= 1000) {
        // Baseline of the dry-run row: a server-side dry run of the same manifests into the populated namespace.
        dryBase = await run(...kubectl('target', 'apply', '--server-side', '--dry-run=server', '--field-manager', 'bench', '-f', baseDir), { label: 'kubectl apply --dry-run=server' });
      }
      // Each side starts from the same target: the other side's namespace is deleted first (not timed).
      ctx.log(`${idp} round ${r + 1}: ${baseNs} deleted in ${(await deleteNamespace(tgtCore, baseNs)) / 1000} s`);

      const oursNs = `bench-restored-${TOTAL}-${r}`;
      const restoreId = `bench-objects-${TOTAL}-${Date.now()}-${r}`;
      const c0 = processCpuS(worker.child.pid);
      const sampler = rssSampler(worker.child.pid);
      const o0 = process.hrtime.bigint();
      const h = await client.workflow.start<typeof restoreWorkflow>('restore', { taskQueue, workflowId: `restore/${restoreId}`, args: [restoreReq(restoreId, oursNs, false)] });
      const report = await h.result();
      const wallS = Number(process.hrtime.bigint() - o0) / 1e9;
      const workerPeakRssMiB = sampler.stop();
      const workerCpuS = (processCpuS(worker.child.pid) ?? NaN) - (c0 ?? NaN);
      const { spans, totalMs } = await activitySpans(h);
      ourRuns.push({ wallS, rtoMs: report.rtoMs, workerCpuS, workerPeakRssMiB, report, restoreId, spans, historyMs: totalMs, ns: oursNs });
      ctx.log(`${idp} round ${r + 1}: our restore ${wallS.toFixed(1)} s (rtoMs ${report.rtoMs}), ${report.created} created, ${report.skipped} skipped, worker peak RSS ${workerPeakRssMiB.toFixed(0)} MiB`);
      ctx.log(`${idp} round ${r + 1}: ${oursNs} deleted in ${(await deleteNamespace(tgtCore, oursNs)) / 1000} s`);
    }
    const base = bases.reduce((a, b) => (b.readyS < a.readyS ? b : a));
    const baseApply = bases.reduce((a, b) => (b.applyS < a.applyS ? b : a));
    const ours = ourRuns.reduce((a, b) => (b.wallS < a.wallS ? b : a));
    const all = (xs: number[]) => xs.map((x) => x.toFixed(1)).join('/');

    // Where our restore's time went (best round): activities from the history, outcomes per wave.
    const waves = ours.report.plan.waves;
    const waveFiles = await Promise.all(
      waves.map(async (_, i) => {
        const body = await store.get(restoreWaveResultKey(ours.restoreId, i));
        return body ? (JSON.parse(body.toString('utf8')) as { phase: string; created: number; updated: number; skipped: number }) : undefined;
      }),
    );
    const breakdown = ours.spans.map((s) => {
      const wave = s.activity === 'applyRestoreWave' && typeof s.arg === 'number' ? s.arg : undefined;
      const wf = wave !== undefined ? waveFiles[wave] : undefined;
      return {
        activity: wave !== undefined ? `applyRestoreWave ${wave} (${waves[wave]?.phase}, ${waves[wave]?.objects} objects${wf ? `, ${wf.created} created, ${wf.skipped} skipped` : ''})` : s.activity,
        queuedMs: Math.round(s.startedMs - s.scheduledMs),
        runMs: Math.round(s.closedMs - s.startedMs),
        atMs: Math.round(s.scheduledMs),
        attempt: s.attempt,
      };
    });
    const inActivities = breakdown.reduce((a, b) => a + b.runMs, 0);
    raw.rounds = {
      kubectl: bases.map((b) => ({ ns: b.ns, applyS: b.applyS, readyS: b.readyS, cpuS: b.apply.cpuS, rssMiB: b.apply.rssMiB })),
      ours: ourRuns.map((o) => ({ ns: o.ns, restoreId: o.restoreId, wallS: o.wallS, rtoMs: o.rtoMs, workerCpuS: o.workerCpuS, workerPeakRssMiB: o.workerPeakRssMiB, created: o.report.created, skipped: o.report.skipped, planObjects: o.report.plan.objects, waves: o.report.plan.waves, historyMs: o.historyMs })),
    };
    raw.breakdown = { restoreId: ours.restoreId, historyMs: ours.historyMs, activities: breakdown, waveFiles };
    ctx.log(`${idp} restore breakdown (${ours.restoreId}, workflow ${ours.historyMs} ms, ${inActivities} ms in activities):`);
    for (const b of breakdown) ctx.log(`  +${(b.atMs / 1000).toFixed(1).padStart(6)} s  ${b.activity}: ${b.runMs} ms (queued ${b.queuedMs} ms${b.attempt > 1 ? `, attempt ${b.attempt}` : ''})`);

    // Ceiling of the target API server: raw parallel server-side apply of the same manifests, no logic.
    interface Ceil { concurrency: number; barrier: boolean; m: Measured; out: { objects: number; inProcessS: number; retries: number } }
    const ceilings: Ceil[] = [];
    for (const [concurrency, barrier] of [[16, true], [64, false]] as const) {
      const ns = `bench-ceiling-${TOTAL}-${concurrency}`;
      const file = path.join(work, 'manifests', `${ns}.jsonl`);
      writeRawManifests(file, ns, objs);
      const m = await rawApply(file, concurrency, barrier, 'target', `raw apply ${concurrency}`);
      const out = JSON.parse(m.stdout.trim().split('\n').pop()!) as Ceil['out'];
      ceilings.push({ concurrency, barrier, m, out });
      ctx.log(`${idp} ceiling: raw server-side apply of ${out.objects} objects at ${concurrency}${barrier ? ' (kind after kind)' : ''}: ${m.wallS.toFixed(1)} s (${(out.objects / m.wallS).toFixed(0)} obj/s, in-process ${out.inProcessS.toFixed(1)} s, ${m.cpuS?.toFixed(1)} CPU-s, ${out.retries} retries)`);
      ctx.log(`${idp} ceiling: ${ns} deleted in ${(await deleteNamespace(tgtCore, ns)) / 1000} s`);
    }
    raw.ceiling = ceilings.map((c) => ({ concurrency: c.concurrency, barrier: c.barrier, wallS: c.m.wallS, cpuS: c.m.cpuS, rssMiB: c.m.rssMiB, ...c.out }));
    raw.workerVmHwmMiB = vmHwmMiB(worker.child.pid);

    const plan1 = ours.report.plan;
    ctx.table.add({
      id: `${idp}.restore`,
      name: `Restore of ${TOTAL} objects to another cluster + namespace, until workloads ready`,
      ours: ours.wallS,
      baseline: base.readyS,
      baselineName: 'kubectl apply --server-side + ready',
      unit: 's',
      better: 'lower',
      note:
        `ours: workflow start → result, incl. verify, plan, preflight, ${waves.length} waves, wait-ready; rtoMs ${fmt(ours.rtoMs / 1000, 's')} s; ` +
        `${plan1.objects} objects planned, ${ours.report.created} created, ${ours.report.skipped} skipped; ` +
        `best of ${repeat} (ours ${all(ourRuns.map((o) => o.wallS))} s, kubectl ${all(bases.map((b) => b.readyS))} s); ` +
        `CPU-s: ours = worker process only, kubectl = the kubectl process`,
      oursCost: { cpuS: ours.workerCpuS },
      baselineCost: { cpuS: base.apply.cpuS, rssMiB: base.apply.rssMiB },
    });
    ctx.table.add({
      id: `${idp}.rto`,
      name: '  restore RTO as the report measures it (rtoMs)',
      ours: ours.rtoMs / 1000,
      baseline: base.readyS,
      baselineName: 'kubectl apply --server-side + ready',
      unit: 's',
      better: 'lower',
    });
    ctx.table.add({
      id: `${idp}.apply-only`,
      name: `  vs kubectl apply alone (no readiness wait)`,
      ours: ours.wallS,
      baseline: baseApply.applyS,
      baselineName: 'kubectl apply --server-side',
      unit: 's',
      better: 'lower',
      note: `kubectl apply ${all(bases.map((b) => b.applyS))} s; the ready wait added ${(base.readyS - base.applyS).toFixed(1)} s`,
      oursCost: { cpuS: ours.workerCpuS },
      baselineCost: { cpuS: baseApply.apply.cpuS, rssMiB: baseApply.apply.rssMiB },
    });
    ctx.table.add({
      id: `${idp}.objects/s`,
      name: '  objects restored per second (to workloads ready)',
      ours: plan1.objects / ours.wallS,
      baseline: (TOTAL + 1) / base.readyS,
      baselineName: 'kubectl apply --server-side + ready',
      unit: 'obj/s',
      better: 'higher',
      note: `kubectl apply alone ${((TOTAL + 1) / baseApply.applyS).toFixed(0)} obj/s`,
    });

    const applyMs = breakdown.filter((x) => x.activity.startsWith('applyRestoreWave')).reduce((a, x) => a + x.runMs, 0);
    const best = ceilings.reduce((a, c) => (c.out.inProcessS < a.out.inProcessS ? c : a));
    const same = ceilings[0]!;
    ctx.table.add({
      id: `${idp}.ceiling`,
      name: `  objects/s vs the API server's ceiling (raw parallel server-side apply, no logic)`,
      ours: plan1.objects / ours.wallS,
      baseline: best.out.objects / best.out.inProcessS,
      baselineName: `raw apply at ${best.concurrency}`,
      unit: 'obj/s',
      better: 'higher',
      note:
        `ours start → result incl. wait-ready; our apply waves alone ${((TOTAL + 1) / (applyMs / 1000)).toFixed(0)} obj/s (${(applyMs / 1000).toFixed(1)} s); ` +
        `raw apply (in-process, without node start-up) ${ceilings.map((c) => `at ${c.concurrency}${c.barrier ? ' kind by kind' : ''} ${(c.out.objects / c.out.inProcessS).toFixed(0)} obj/s`).join(', ')}; ` +
        `our apply waves reach ${((same.out.inProcessS / (applyMs / 1000)) * 100).toFixed(0)}% of raw apply at the same concurrency`,
      oursCost: { cpuS: ours.workerCpuS },
      baselineCost: { cpuS: best.m.cpuS, rssMiB: best.m.rssMiB },
    });
    ctx.table.add({
      id: `${idp}.worker-rss`,
      name: `  orchestrator worker peak RSS during the restore (VmRSS sampled every 100 ms)`,
      ours: ours.workerPeakRssMiB,
      baseline: base.apply.rssMiB ?? NaN,
      baselineName: 'kubectl apply peak RSS',
      unit: 'MiB',
      better: 'lower',
      note: `worker VmHWM over its life so far ${raw.workerVmHwmMiB === undefined ? '?' : (raw.workerVmHwmMiB as number).toFixed(0)} MiB`,
    });

    // Dry run: planning + preflight only, vs a server-side dry-run apply of the same manifests.
    if (TOTAL > 1000) {
      ctx.table.say(
        `${idp}: restore of ${plan1.objects} objects: ${fmt(ours.wallS, 's')} s start → result (${(plan1.objects / ours.wallS).toFixed(0)} obj/s), kubectl apply ${fmt(baseApply.applyS, 's')} s, ` +
          `+ ready ${fmt(base.readyS, 's')} s; raw apply ceiling ${(best.out.objects / best.out.inProcessS).toFixed(0)} obj/s (ours ${((plan1.objects / ours.wallS) / (best.out.objects / best.out.inProcessS) * 100).toFixed(0)}% of it, apply waves alone ${((same.out.inProcessS / (applyMs / 1000)) * 100).toFixed(0)}% of raw at 16); worker peak RSS ${ours.workerPeakRssMiB.toFixed(0)} MiB. ` +
          `Restore activities: ${breakdown.map((x) => `${x.activity.split(' (')[0]} ${(x.runMs / 1000).toFixed(1)} s`).join(', ')}.`,
      );
      return;
    }
    const dryId = `bench-objects-dry-${Date.now()}`;
    const d0 = process.hrtime.bigint();
    const dh = await client.workflow.start<typeof restoreWorkflow>('restore', { taskQueue, workflowId: `restore/${dryId}`, args: [restoreReq(dryId, 'bench-dry', true)] });
    const dry = await dh.result();
    const dryS = Number(process.hrtime.bigint() - d0) / 1e9;
    if (!dryBase) throw new Error('no kubectl dry run measured');
    const drySpans = await activitySpans(dh);
    raw.dryRun = { wallS: dryS, problems: dry.plan.problems, objects: dry.plan.objects, spans: drySpans, kubectlDryRunS: dryBase.wallS };
    ctx.table.add({
      id: `${idp}.dry-run`,
      name: '  restore dry run (verify + plan + preflight, changes nothing)',
      ours: dryS,
      baseline: dryBase.wallS,
      baselineName: 'kubectl apply --server-side --dry-run=server',
      unit: 's',
      better: 'lower',
      note: `${(dryS / ours.wallS * 100).toFixed(0)}% of our full restore; kubectl's dry run goes into the populated ${bases[0]!.ns}, so every object is validated by the server`,
      baselineCost: { cpuS: dryBase.cpuS, rssMiB: dryBase.rssMiB },
    });

    const phases = breakdown.map((b) => `${b.activity.split(' (')[0]} ${(b.runMs / 1000).toFixed(1)} s`).join(', ');
    ctx.table.say(
      `B7: restore of ${plan1.objects} objects (${Object.entries(COUNTS).map(([k, v]) => `${v} ${k}`).join(', ')}) from a recovery point to another cluster: ` +
        `${fmt(ours.wallS, 's')} s start → result (rtoMs ${fmt(ours.rtoMs / 1000, 's')} s), kubectl apply + ready ${fmt(base.readyS, 's')} s (apply alone ${fmt(baseApply.applyS, 's')} s); ` +
        `dry run ${fmt(dryS, 's')} s; backup ${fmt(backupS, 's')} s. Restore activities: ${phases}.`,
    );
  }
}
