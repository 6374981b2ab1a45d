/**
 * Crash tests: the orchestrator worker and then the node agent are SIGKILLed in the middle of a
 * backup. The run must still end with a complete point that verifies chunk by chunk and restores
 * to a PostgreSQL that starts cleanly with every row committed before the backup.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import { backup, restore } from '../../workflows';
import type { BackupReport } from '../../workflows/backup';
import { planToStoreRef, validatePlan, type Plan } from '../../shared/plan';
import { listPoints } from '../../activities/catalog/points';
import { verifyPoint } from '../../activities/catalog/verify-point';
import { openRepository } from '../../activities/store/open-repository';
import { openStore } from '../../activities/store/open-store';
import { generateMasterKey } from '../../activities/datapath/crypto';
import { attachTestEnv, uniqueId } from '../harness/temporal';
import { freshStore, readPlanCatalog } from '../harness/store';
import { execInPod, freshNamespace, type TestNamespace } from '../harness/clusters';
import { startAgentProcess, startWorkerProcess, type TestProcess } from '../harness/processes';
import { deployShop, hashTree, NODES, psql, pvcDir, restoreRequest, shopPlan } from './app-fixture';

const KEY_ENV = 'TDR_FAULT_KEY';

/**
 * Waits until a volume copy is running on an agent (a started backupVolume activity) that is not
 * one of `seen`, and returns its activity id.
 */
async function copyRunning(handle: WorkflowHandle, seen: Set<string>, timeoutMs = 120_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const d = await handle.describe();
    for (const a of d.raw.pendingActivities ?? []) {
      if (a.activityType?.name !== 'backupVolume' || !a.lastStartedTime || seen.has(a.activityId!)) continue;
      seen.add(a.activityId!);
      return a.activityId!;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('no new volume copy started in time');
}

describe('a backup survives the crash of its worker and of its node agent', () => {
  let env: TestWorkflowEnvironment;
  let ns: TestNamespace;
  let target: TestNamespace | undefined;
  let plan: Plan;
  let files: Record<string, string>;
  const procs: TestProcess[] = [];
  const procEnv = () => ({ [KEY_ENV]: process.env[KEY_ENV]! });

  beforeAll(async () => {
    process.env[KEY_ENV] = generateMasterKey();
    env = await attachTestEnv();
    ns = await freshNamespace('source', 'faults');
    files = await deployShop(ns.name, 384 * 1024 * 1024);
    for (let i = 1; i <= 20; i++) await execInPod('source', ns.name, 'db-0', 'postgres', psql(`INSERT INTO orders (id, item) VALUES (${i}, 'before-${i}');`));
    const { ref } = await freshStore('faults');
    plan = shopPlan(uniqueId('faults').toLowerCase(), ns.name, ref, KEY_ENV);
  });

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.kill('SIGKILL')));
    await target?.cleanup().catch(() => undefined);
    await ns?.cleanup().catch(() => undefined);
    await env?.teardown();
  });

  it('kills the worker, then the node agent, mid-copy, and still writes a complete, verifiable, consistent point', async () => {
    const taskQueue = uniqueId('faults');
    const worker1 = startWorkerProcess(taskQueue, procEnv());
    const agent1 = startAgentProcess('source', NODES, procEnv());
    procs.push(worker1, agent1);
    const handle = await env.client.workflow.start(backup, {
      taskQueue,
      workflowId: uniqueId('backup-faults'),
      args: [{ plan, agentHeartbeatTimeoutMs: 5_000, hookHeartbeatTimeoutMs: 5_000 }],
    });

    // Both die while the first copy of the 384 MiB volume is running.
    await copyRunning(handle, new Set());
    await new Promise((r) => setTimeout(r, 300));
    await worker1.kill('SIGKILL'); // takes the held psql session with it: PostgreSQL leaves backup mode
    await new Promise((r) => setTimeout(r, 300));
    await agent1.kill('SIGKILL'); // the copy stops part-way
    procs.push(startWorkerProcess(taskQueue, procEnv()), startAgentProcess('source', NODES, procEnv()));

    const report: BackupReport = await handle.result();
    const uploads = report.volumes.find((v) => v.pvc.endsWith('/uploads'))!;
    const db = report.volumes.find((v) => v.pvc.endsWith('/data-db-0'))!;
    expect(Math.max(uploads.attempts, db.attempts)).toBeGreaterThanOrEqual(2); // a copy was retried after the agent died
    expect(report.consistentCopyRetakes).toBeGreaterThanOrEqual(1); // the lost session forced a consistent retake
    expect(report.hooks.filter((h) => h.phase === 'post').every((h) => h.ok)).toBe(true);

    const catalog = await readPlanCatalog(plan, report.pointId);
    const repo = await openRepository(planToStoreRef(plan), { env: KEY_ENV }, { create: false });
    const verified = await verifyPoint(repo, catalog, { readData: true });
    expect(verified.problems).toEqual([]);

    // Consistent: PostgreSQL starts on the restored copy with every row committed before the backup.
    target = await freshNamespace('target', 'faults-restored');
    const restoreQueue = uniqueId('faults-restore');
    procs.push(startWorkerProcess(restoreQueue, procEnv()), startAgentProcess('target', NODES, procEnv()));
    await env.client.workflow.execute(restore, {
      taskQueue: restoreQueue,
      workflowId: uniqueId('restore-faults'),
      args: [restoreRequest(plan, report.pointId, KEY_ENV, { namespaceMapping: { [ns.name]: target.name }, existingPolicy: 'skip' })],
    });
    const rows = await execInPod('target', target.name, 'db-0', 'postgres', psql("SELECT count(*) FROM orders WHERE item LIKE 'before-%';"));
    expect(rows).toMatchObject({ exitCode: 0 });
    expect(Number(rows.stdout.trim())).toBe(20);
    expect(hashTree(await pvcDir('target', target.name, 'uploads'))).toEqual(files);
  });

  it('a backup cancelled mid-copy still runs the post hook, cleans up and leaves a point marked failed', async () => {
    const taskQueue = uniqueId('cancel');
    procs.push(startWorkerProcess(taskQueue, procEnv()), startAgentProcess('source', NODES, procEnv()));
    // Another plan over the same namespace, so nothing is reused from the first test's point.
    const other = validatePlan({ ...plan, metadata: { name: uniqueId('cancel').toLowerCase() } });
    const handle = await env.client.workflow.start(backup, { taskQueue, workflowId: uniqueId('backup-cancel'), args: [{ plan: other }] });
    await copyRunning(handle, new Set());
    await handle.cancel();
    const err = await handle.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);

    // The held psql session ran its post step (pg_backup_stop) and completed; none is left open.
    const history = await handle.fetchHistory();
    const holds = new Set(
      history.events!.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'holdHookSession').map((e) => String(e.eventId)),
    );
    const completed = history.events!.filter((e) => e.activityTaskCompletedEventAttributes && holds.has(String(e.activityTaskCompletedEventAttributes.scheduledEventId)));
    expect(completed).toHaveLength(holds.size);
    expect(holds.size).toBeGreaterThan(0);
    const open = await execInPod('source', ns.name, 'db-0', 'postgres', psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'psql' AND pid <> pg_backend_pid();"));
    expect(open.stdout.trim()).toBe('0');

    // The point is visibly failed, never complete.
    const points = await listPoints(openStore(planToStoreRef(other)), other.metadata.name);
    expect(points.map((p) => p.status)).toEqual(['failed']);
  });
});
