/**
 * Retention and garbage collection as workflows on the worker, on the real Temporal dev server and
 * MinIO: `drctl points prune` (dry run and real) runs the `prune` workflow, never the GC in its
 * own process; a GC over a store of 100 points completes with every activity on its first attempt
 * under a short heartbeat timeout; and the store's GC lock (the workflow gc/<store>) makes a
 * prune wait while another GC of the same store runs, then run after it.
 */
import { execFile, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { prune, storeGc } from '../../workflows';
import { gcWorkflowId } from '../../workflows/prune';
import type { RetentionResult } from '../../activities/backup/retention';
import { listAll, type ObjectStore } from '../../activities/store/object-store';
import { manifestChunkIds, readVolumeManifest } from '../../activities/datapath/manifest';
import { Repository } from '../../activities/datapath';
import { pointId, volumeSnapshotKey } from '../../shared/catalog';
import type { Plan } from '../../shared/plan';
import { attachTestEnv, replayHistory, startOrchestratorWorker, uniqueId } from '../harness/temporal';
import { completePoints, retentionPlan, storeWithRepository, type PointStore } from './point-fixture';
import { recordHistory, saveHistory } from '../harness/histories';

// Generous: these wait on real servers on a shared 2-core machine; nothing here measures time.
jest.setTimeout(600_000);

const KEY_ENV = 'TDR_PRUNE_TEST_KEY';
const DRCTL = path.resolve(__dirname, '../../dist/client/drctl.js');
const HOUR = 3600_000;
const EventType = temporal.api.enums.v1.EventType;

const keysUnder = async (store: ObjectStore, prefix = '') => (await listAll(store, prefix)).map((o) => o.key).sort();

/** Every activity attempt and timeout in a workflow's history. */
async function activityAttempts(history: temporal.api.history.v1.IHistory): Promise<{ started: number[]; timedOut: number; failed: number }> {
  const events = history.events ?? [];
  return {
    started: events.filter((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED).map((e) => e.activityTaskStartedEventAttributes!.attempt!),
    timedOut: events.filter((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT).length,
    failed: events.filter((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED).length,
  };
}

function writePlanFile(plan: Plan): string {
  const file = path.join(process.env.TDR_TEST_STACK_DIR ?? '/tmp', `${plan.metadata.name}.yaml`);
  writeFileSync(file, stringify({ apiVersion: plan.apiVersion, kind: plan.kind, metadata: plan.metadata, spec: plan.spec }));
  return file;
}

describe('prune as workflows, one GC per store', () => {
  let env: TestWorkflowEnvironment;
  let w: Awaited<ReturnType<typeof startOrchestratorWorker>>;
  let cliEnv: NodeJS.ProcessEnv;
  const drctl = (...args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [DRCTL, ...args], { env: cliEnv, timeout: 300_000, maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      });
    });

  // The 100-point store, shared by the dry run and the real GC.
  let s: PointStore;
  let plan: Plan;
  let ids: string[];

  beforeAll(async () => {
    env = await attachTestEnv();
    w = await startOrchestratorWorker(env);
    s = await storeWithRepository(KEY_ENV);
    cliEnv = { ...process.env, TEMPORAL_TASK_QUEUE: w.taskQueue };
    plan = retentionPlan(uniqueId('hundred').toLowerCase(), s.ref, KEY_ENV, { keepLast: 10 });
    const now = Date.now();
    // 100 complete points, one an hour, each with its own data (so expiring one frees its pack).
    ids = Array.from({ length: 100 }, (_, i) => pointId(new Date(now - (100 - i) * HOUR), `p${String(i).padStart(3, '0')}`));
    const t0 = Date.now();
    await completePoints(s, plan, ids, 1000);
    console.log(`100 points written in ${Date.now() - t0} ms`);
  });

  afterAll(async () => {
    await w?.stop();
    await env?.teardown();
  });

  it('drctl points prune --dry-run runs the prune workflow on the worker and deletes nothing', async () => {
    const before = await keysUnder(s.store);
    const r = await drctl('points', 'prune', '--plan', writePlanFile(plan), '--dry-run', '--json', '--gc-grace', '0s');
    expect(r.stderr).toMatch(/started prune prune\//);
    expect(r.code).toBe(0);
    const result = JSON.parse(r.stdout) as RetentionResult;
    expect(result.dryRun).toBe(true);
    expect(result.kept).toEqual(ids.slice(-10).reverse());
    expect(result.expired).toHaveLength(90);
    expect(result.gc).toMatchObject({ ran: true, manifests: 10 });
    expect(result.gc.packsDeleted).toBeGreaterThanOrEqual(90);
    expect(await keysUnder(s.store)).toEqual(before);

    // It ran as a workflow on the worker: the prune and its store-lock child completed there.
    const workflowId = /started prune (\S+)/.exec(r.stderr)![1];
    const d = await env.client.workflow.getHandle(workflowId).describe();
    expect(d.type).toBe('prune');
    expect(d.status.name).toBe('COMPLETED');
    expect(d.taskQueue).toBe(w.taskQueue);
    const lock = await env.client.workflow.getHandle(gcWorkflowId(s.ref)).describe();
    expect(lock.type).toBe('storeGc');
    expect(lock.status.name).toBe('COMPLETED');
  });

  it('collects garbage over a store of 100 points with every activity on its first attempt (30 s heartbeat timeout)', async () => {
    const started = Date.now();
    const handle = await env.client.workflow.start(prune, {
      taskQueue: w.taskQueue,
      workflowId: uniqueId('prune-hundred'),
      args: [{ plan, gcGraceMs: 0, heartbeatTimeoutMs: 30_000 }],
    });
    const r = await handle.result();
    const tookMs = Date.now() - started;
    expect(r.expired).toEqual(ids.slice(0, 90).reverse());
    expect(r.kept).toHaveLength(10);
    expect(r.gc).toMatchObject({ ran: true, manifests: 10, activeSessions: 0 });
    expect(r.gc.packsDeleted).toBeGreaterThanOrEqual(90);
    expect(r.gc.problem).toBeUndefined();
    console.log(`GC over 100 points (90 expired, ${r.gc.packsDeleted} packs deleted) took ${tookMs} ms`);

    // No retry and no heartbeat timeout, in the prune and in the lock-holding child that did the work.
    const gc = await activityAttempts(await env.client.workflow.getHandle(gcWorkflowId(s.ref)).fetchHistory());
    expect(gc.started).toEqual([1]);
    expect(gc.timedOut).toBe(0);
    expect(gc.failed).toBe(0);

    // Expired points are gone, kept ones whole: every chunk of every kept snapshot is still indexed.
    for (const id of ids.slice(0, 90)) expect(await keysUnder(s.store, `points/${plan.metadata.name}/${id}/`)).toEqual([]);
    const repo = await Repository.open(s.store, s.key);
    for (const id of ids.slice(90)) {
      const chunks = new Set<string>();
      manifestChunkIds(await readVolumeManifest(repo, volumeSnapshotKey(plan.metadata.name, id, 'shop', 'data')), chunks);
      for (const c of chunks) expect(repo.lookup(c)).toBeTruthy();
    }
    expect(await keysUnder(s.store, 'repo/locks/')).toEqual([]);

    const history = await handle.fetchHistory();
    await replayHistory(history, 'prune');
    saveHistory(history, 'prune-v1');
    await recordHistory(env.client.workflow.getHandle(gcWorkflowId(s.ref)), 'store-gc-v1');
  });

  it('drctl points prune waits while another GC holds the store, then runs after it', async () => {
    const t = await storeWithRepository(KEY_ENV);
    const p = retentionPlan(uniqueId('locked').toLowerCase(), t.ref, KEY_ENV, { keepLast: 2 });
    const now = Date.now();
    const pts = Array.from({ length: 5 }, (_, i) => pointId(new Date(now - (5 - i) * HOUR), `l${i}`));
    await completePoints(t, p, pts, 2000);

    // Another GC of the same store holds the lock: a storeGc on a queue no worker serves yet.
    const idleQueue = uniqueId('idle');
    const holder = await env.client.workflow.start(storeGc, { taskQueue: idleQueue, workflowId: gcWorkflowId(t.ref), args: [{ plan: p, gcGraceMs: 0 }] });
    const before = await keysUnder(t.store);

    const cli = spawn(process.execPath, [DRCTL, 'points', 'prune', '--plan', writePlanFile(p), '--gc-grace', '0s', '--json'], { env: cliEnv });
    let stdout = '';
    let stderr = '';
    cli.stdout.on('data', (d) => (stdout += d));
    const waiting = new Promise<void>((resolve) =>
      cli.stderr.on('data', (d) => {
        stderr += d;
        if (/another garbage collection of this store is running/.test(stderr)) resolve();
      }),
    );
    const exited = new Promise<number>((resolve) => cli.once('exit', (code) => resolve(code ?? 1)));
    await Promise.race([waiting, exited]);
    expect(stderr).toMatch(/another garbage collection of this store is running \(gc\/.*\); waiting/);
    // While the lock is held the waiting prune changed nothing.
    expect(await keysUnder(t.store)).toEqual(before);

    // The holder gets a worker and finishes; then the waiting prune takes the lock and runs.
    const w2 = await startOrchestratorWorker(env, idleQueue);
    try {
      const first = await holder.result();
      expect(first.expired).toEqual([pts[2], pts[1], pts[0]]);
      expect(await exited).toBe(0);
    } finally {
      await w2.stop();
    }
    const second = JSON.parse(stdout) as RetentionResult;
    expect(second.expired).toEqual([]);
    expect(second.kept).toEqual([pts[4], pts[3]]);
    expect(second.gc.ran).toBe(true);

    // The history proves the order: the prune's child start was refused while the holder ran, and
    // its own GC started only after the holder had closed.
    const pruneId = /started prune (\S+)/.exec(stderr)![1];
    const events = (await env.client.workflow.getHandle(pruneId).fetchHistory()).events ?? [];
    expect(events.filter((e) => e.eventType === EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_FAILED).length).toBeGreaterThanOrEqual(1);
    const childStarted = events.find((e) => e.eventType === EventType.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED)!;
    const childRunId = childStarted.childWorkflowExecutionStartedEventAttributes!.workflowExecution!.runId!;
    expect(childRunId).not.toBe(holder.firstExecutionRunId);
    const holderClosed = (await env.client.workflow.getHandle(gcWorkflowId(t.ref), holder.firstExecutionRunId).describe()).closeTime!.getTime();
    const childStart = (await env.client.workflow.getHandle(gcWorkflowId(t.ref), childRunId).describe()).startTime.getTime();
    expect(childStart).toBeGreaterThanOrEqual(holderClosed);
  });
});
