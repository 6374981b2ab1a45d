/**
 * B11: disaster recovery on the local stack (bench/stack.ts): an application of 1,000 objects
 * (B7's) plus a volume of BENCH_SIZE_MIB (default 1 GiB) in namespace bench-dr on "source",
 * protected by a plan with one standby site "target" (its own bucket on the run's MinIO).
 *
 *  B11.rpo  replication under a steady write rate (files appended to the volume at 2 MiB/s): the
 *          achieved RPO sampled every 500 ms over 6 cycles, its maximum against the bound it must
 *          keep, interval + the longest cycle (one backup and one transfer). Target ≤ 1.0x.
 *  B11.rto  an unplanned failover to "target" (workflow start → result: preflight with a dry run,
 *          fence, restore of the newest point at the standby, activate, verify) against the sum
 *          of its restore parts measured alone in the same run: the restore workflow of the same
 *          point from the same store into the same namespace, until Ready. Target ≤ 1.1x.
 *
 *  B11.warm the same unplanned failover onto a warm standby (staged by one replication cycle)
 *          against the cold one.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import type { backup as backupWorkflow, restore as restoreWorkflow, replicate as replicateWorkflow } from '../workflows';
import type { BackupReport } from '../workflows/backup';
import type { RestoreReport } from '../workflows/restore';
import { replicateStatusQuery } from '../workflows/replicate';
import { standbySite, standbyStoreRef, validatePlan, type Plan } from '../shared/plan';
import { replicateWorkflowId, type ReplicateStatus } from '../shared/replication';
import { type FailoverReport } from '../shared/failover';
import { startFailover } from '../client/commands/failover';
import { shipPoint } from '../activities/replication/ship-point';
import { activateApplication } from '../activities/failover/fence';
import { ensureBucket, openStore } from '../activities/store/open-store';
import { generateVolume } from './dataset';
import { run } from './measure';
import { benchObjects } from './objects';
import { startBenchStack } from './stack';
import type { BenchContext } from './run';
import { MiB, fmt } from './table';

const KEY_ENV = 'TDR_BENCH_KEY';
const NS = 'bench-dr';
const READY_TIMEOUT_MS = 10 * 60_000;
const INTERVAL_MS = 15_000;
const CYCLES = 6;

export async function failoverBench(ctx: BenchContext): Promise<void> {
  const stack = await startBenchStack(ctx, 'B11', 'failover', KEY_ENV);
  const { client, taskQueue, kc, kubectl, minio, work } = stack;
  const raw: Record<string, unknown> = { sizeMiB: ctx.sizeMiB };
  ctx.raw.failover = raw;
  // The in-process ship opens both stores; re-activating the source talks to its cluster.
  Object.assign(process.env, stack.storeEnv, { TDR_KUBECONFIG: stack.kubeconfig });
  let writer: NodeJS.Timeout | undefined;
  try {
    // The application: B7's 1,000 objects, plus a claim holding the data and a Deployment mounting it.
    const dir = path.join(work, 'manifests', NS);
    mkdirSync(dir, { recursive: true });
    const objs = benchObjects();
    const docs = [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } },
      ...Object.values(objs).flat().map((o) => ({ ...o, metadata: { ...o.metadata, namespace: NS } })),
      { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'data', namespace: NS }, spec: { accessModes: ['ReadWriteOnce'], storageClassName: 'local-path', resources: { requests: { storage: '4Gi' } } } },
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'data-app', namespace: NS },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'data-app' } },
          template: { metadata: { labels: { app: 'data-app' } }, spec: { containers: [{ name: 'app', image: 'registry.example.com/bench/data:1.0', volumeMounts: [{ name: 'data', mountPath: '/data' }] }], volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'data' } }] } },
        },
      },
    ];
    const file = path.join(dir, 'app.yaml');
    const YAML = await import('yaml');
    appendFileSync(file, docs.map((d) => YAML.stringify(d)).join('---\n'));
    await run(...kubectl('source', 'apply', '--server-side', '--field-manager', 'bench', '-f', file), { label: 'kubectl apply (source)' });
    const srcApps = kc('source').makeApiClient(k8s.AppsV1Api);
    const srcCore = kc('source').makeApiClient(k8s.CoreV1Api);
    await waitAvailable(srcApps, NS, READY_TIMEOUT_MS);
    const pvc = await srcCore.readNamespacedPersistentVolumeClaim({ namespace: NS, name: 'data' });
    const pv = await srcCore.readPersistentVolume({ name: pvc.spec!.volumeName! });
    const volumeDir = pv.spec?.hostPath?.path ?? pv.spec?.local?.path;
    if (!volumeDir) throw new Error(`B11: PV ${pv.metadata?.name} has no hostPath/local path`);
    const ds = generateVolume(volumeDir, ctx.sizeMiB * MiB);
    ctx.log(`B11: ${Object.values(objs).flat().length + 3} objects and ${ctx.sizeMiB} MiB (${ds.files} files) in ${NS} on source`);

    const plan: Plan = validatePlan({
      apiVersion: 'temporal-dr/v1',
      kind: 'DRPlan',
      metadata: { name: 'bench-dr' },
      spec: {
        source: { context: 'source' },
        selector: { namespaces: [NS] },
        store: { url: 's3://bench-dr-primary/', endpoint: minio.endpoint, forcePathStyle: true, encryption: { keyFrom: { env: KEY_ENV } } },
        rpo: '10m',
        standbys: [{ name: 'target', context: 'target', store: { url: 's3://bench-dr-standby/', endpoint: minio.endpoint, forcePathStyle: true } }],
        failover: { waitReadyTimeout: '10m' },
      },
    });
    const standby = standbyStoreRef(standbySite(plan, 'target'));
    for (const ref of [{ bucket: 'bench-dr-primary' }, { bucket: 'bench-dr-standby' }]) await ensureBucket(openStore({ ...ref, prefix: '', endpoint: minio.endpoint, forcePathStyle: true }, stack.storeEnv));

    // The first point, shipped (not timed): the standby holds the whole application.
    const first: BackupReport = await (await client.workflow.start<typeof backupWorkflow>('backup', { taskQueue, workflowId: `backup/${plan.metadata.name}`, args: [{ plan }] })).result();
    await shipPoint({ planName: plan.metadata.name, pointId: first.pointId, source: { bucket: 'bench-dr-primary', prefix: '', endpoint: minio.endpoint, forcePathStyle: true }, standby, keyEnv: KEY_ENV });
    ctx.log(`B11: first point ${first.pointId} (${fmt(first.bytes / MiB, 'MiB')} MiB) at the standby`);

    // B11.rpo: replication every INTERVAL_MS while files are appended at a steady rate.
    let written = 0;
    const chunk = Buffer.alloc(512 * 1024, 7);
    writer = setInterval(() => {
      appendFileSync(path.join(volumeDir, `log-${Math.floor(written / (16 * MiB))}.bin`), chunk.map((b, i) => (b + written + i) & 0xff));
      written += chunk.length;
    }, 250);
    const loop = await client.workflow.start<typeof replicateWorkflow>('replicate', {
      taskQueue,
      workflowId: replicateWorkflowId(plan.metadata.name, 'target'),
      args: [{ plan, site: 'target', intervalMs: INTERVAL_MS }],
    });
    let s: ReplicateStatus = await loop.query(replicateStatusQuery);
    let maxRpo = 0;
    let maxCycle = 0;
    const shippedAtStart = s.pointsShipped;
    const deadline = Date.now() + CYCLES * INTERVAL_MS * 4 + 300_000;
    while (s.pointsShipped - shippedAtStart < CYCLES + 1) {
      await new Promise((r) => setTimeout(r, 500));
      s = await loop.query(replicateStatusQuery);
      // From the loop's first shipped point on: before it, the standby holds the older first point.
      if (s.newest && s.pointsShipped > shippedAtStart) maxRpo = Math.max(maxRpo, Date.now() - Date.parse(s.newest.capturedAt));
      if (s.lastCycle?.ok) maxCycle = Math.max(maxCycle, s.lastCycle.durationMs);
      if (Date.now() > deadline) throw new Error(`B11: replication shipped ${s.pointsShipped - shippedAtStart} of ${CYCLES} points in time: ${JSON.stringify(s.lastError)}`);
    }
    clearInterval(writer);
    writer = undefined;
    await loop.cancel();
    await loop.result().catch(() => undefined);
    const bound = INTERVAL_MS + maxCycle;
    raw.rpo = { intervalMs: INTERVAL_MS, cycles: CYCLES, maxAchievedRpoMs: maxRpo, maxCycleMs: maxCycle, boundMs: bound, writtenMiB: written / MiB, failures: s.failures };
    ctx.table.add({
      id: 'B11.rpo',
      name: `Achieved RPO under steady writes (2 MiB/s, ${CYCLES} intervals of ${INTERVAL_MS / 1000} s): worst case`,
      ours: maxRpo / 1000,
      baseline: bound / 1000,
      baselineName: 'interval + longest cycle (backup + transfer)',
      unit: 's',
      better: 'lower',
      note: `${fmt(written / MiB, 'MiB')} MiB written; longest cycle ${fmt(maxCycle / 1000, 's')} s; ${s.failures} failed cycles`,
    });

    // B11.rto baseline: the restore of the newest standby point alone, into the namespace the failover will use.
    const newest = s.newest!.pointId;
    const tgtCore = kc('target').makeApiClient(k8s.CoreV1Api);
    const r0 = Date.now();
    const restoreId = `bench-dr-alone-${Date.now()}`;
    const alone: RestoreReport = await (
      await client.workflow.start<typeof restoreWorkflow>('restore', {
        taskQueue,
        workflowId: `restore/${restoreId}`,
        args: [{ restoreId, store: standby, keyEnv: KEY_ENV, planName: plan.metadata.name, pointId: newest, target: { context: 'target', clusterName: 'target' }, existingPolicy: 'fail', dryRun: false, rollbackOnFailure: false, waitReadyTimeoutMs: READY_TIMEOUT_MS }],
      })
    ).result();
    const aloneMs = Date.now() - r0;
    ctx.log(`B11: restore alone ${fmt(aloneMs / 1000, 's')} s (rtoMs ${alone.rtoMs}); removing ${NS} from target`);
    await tgtCore.deleteNamespace({ name: NS });
    while (await tgtCore.readNamespace({ name: NS }).then(() => true, () => false)) await new Promise((r) => setTimeout(r, 500));

    // Ours: the unplanned failover of the same point (source reachable: fenced by scaling to zero).
    const f0 = Date.now();
    const report: FailoverReport = await (await startFailover(client, taskQueue, plan, { operation: 'failover', mode: 'unplanned', from: 'primary', to: 'target' })).handle.result();
    const failoverMs = Date.now() - f0;
    if (report.pointId !== newest) throw new Error(`B11: the failover brought up ${report.pointId}, not the newest point ${newest}`);
    raw.rto = { restoreAloneMs: aloneMs, restoreAloneRtoMs: alone.rtoMs, failoverMs, failoverRtoMs: report.rtoMs, steps: report.steps, objects: alone.plan.objects, volumeBytes: alone.volumes.reduce((n, v) => n + v.bytes, 0) };
    const steps = report.steps.map((st) => `${st.name} ${fmt(st.durationMs / 1000, 's')}`).join(', ');
    ctx.table.add({
      id: 'B11.rto',
      name: `Unplanned failover RTO, ${alone.plan.objects} objects + ${ctx.sizeMiB} MiB (start → Ready, traffic step included)`,
      ours: failoverMs / 1000,
      baseline: aloneMs / 1000,
      baselineName: 'the restore workflow alone, same point and store',
      unit: 's',
      better: 'lower',
      note: `report rtoMs ${fmt((report.rtoMs ?? 0) / 1000, 's')} s; steps: ${steps}`,
    });
    // B11.warm: the same failover onto a warm standby. Put the application back on source (not
    // timed), stage the standby with one replication cycle, then fail over again.
    for (const site of ['primary', 'target']) await client.workflow.getHandle(replicateWorkflowId(plan.metadata.name, site)).cancel().catch(() => undefined);
    await tgtCore.deleteNamespace({ name: NS });
    while (await tgtCore.readNamespace({ name: NS }).then(() => true, () => false)) await new Promise((r) => setTimeout(r, 500));
    await activateApplication('source', [NS]);
    await waitAvailable(srcApps, NS, READY_TIMEOUT_MS);
    const warmPlan = validatePlan({ ...plan, spec: { ...plan.spec, standbys: plan.spec.standbys!.map((x) => ({ ...x, standby: 'warm' as const })) } });
    const warmLoop = await client.workflow.start<typeof replicateWorkflow>('replicate', {
      taskQueue,
      workflowId: replicateWorkflowId(plan.metadata.name, 'target'),
      args: [{ plan: warmPlan, site: 'target', intervalMs: 10 * 60_000 }],
    });
    let w: ReplicateStatus = await warmLoop.query(replicateStatusQuery);
    while (!w.lastHydration) {
      await new Promise((r) => setTimeout(r, 1000));
      w = await warmLoop.query(replicateStatusQuery);
    }
    await warmLoop.cancel();
    if (!w.lastHydration.ok) throw new Error(`B11: warm standby hydration failed: ${w.lastHydration.error}`);
    ctx.log(`B11: warm standby staged in ${fmt(w.lastHydration.durationMs / 1000, 's')} s`);
    const w0 = Date.now();
    const warm: FailoverReport = await (await startFailover(client, taskQueue, warmPlan, { operation: 'failover', mode: 'unplanned', from: 'primary', to: 'target' })).handle.result();
    const warmMs = Date.now() - w0;
    raw.warm = { hydration: w.lastHydration, failoverMs: warmMs, rtoMs: warm.rtoMs, steps: warm.steps };
    ctx.table.add({
      id: 'B11.warm',
      name: '  the same failover onto a warm standby (staged by replication, fenced)',
      ours: warmMs / 1000,
      baseline: failoverMs / 1000,
      baselineName: 'the cold failover above',
      unit: 's',
      better: 'lower',
      note: `staging took ${fmt(w.lastHydration.durationMs / 1000, 's')} s after the ship; steps: ${warm.steps.map((st) => `${st.name} ${fmt(st.durationMs / 1000, 's')}`).join(', ')}`,
    });
    ctx.table.say(`B11: replication kept the worst RPO at ${fmt(maxRpo / 1000, 's')} s (bound ${fmt(bound / 1000, 's')} s); failover ${fmt(failoverMs / 1000, 's')} s vs restore alone ${fmt(aloneMs / 1000, 's')} s; onto a warm standby ${fmt(warmMs / 1000, 's')} s.`);
  } finally {
    if (writer) clearInterval(writer);
    await stack.close();
  }
}

async function waitAvailable(apps: k8s.AppsV1Api, namespace: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const items = (await apps.listNamespacedDeployment({ namespace })).items;
    if (items.length && items.every((d) => (d.status?.availableReplicas ?? 0) >= (d.spec?.replicas ?? 1))) return;
    if (Date.now() > deadline) throw new Error(`B11: deployments in ${namespace} not available after ${timeoutMs / 1000}s`);
    await new Promise((r) => setTimeout(r, 500));
  }
}
