/**
 * The quiesce keeps its promises, on the real stack (PostgreSQL in a pod, hooks over exec, real
 * worker processes that are SIGKILLed):
 * - backup_label is stored exactly as pg_backup_stop returned it, and a restore starts from it;
 * - a two-command hook (the fsfreeze preset) and a session hook (the postgresql preset) held past
 *   their maxHold fail the backup with a named error after their post step ran: no complete point;
 * - the workflow's worker killed while a session holds the quiesce does not end it: it is released
 *   by the workflow, after the copy ended;
 * - the worker that holds the session killed mid-copy: the quiesce is lost, the copy is taken
 *   again, and the point's quiesce was held to its end.
 */
import { readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { backup, restore } from '../../workflows';
import type { BackupInput, BackupReport } from '../../workflows/backup';
import { planToStoreRef, validatePlan, type Plan } from '../../shared/plan';
import { MAX_HOLD_EXCEEDED_ERROR, type HookHoldResult } from '../../shared/hooks';
import { listPoints } from '../../activities/catalog/points';
import { verifyPoint } from '../../activities/catalog/verify-point';
import { openRepository } from '../../activities/store/open-repository';
import { openStore } from '../../activities/store/open-store';
import { generateMasterKey } from '../../activities/datapath/crypto';
import { recordHistory } from '../harness/histories';
import { attachTestEnv, decodePayload, uniqueId } from '../harness/temporal';
import { freshStore, readPlanCatalog } from '../harness/store';
import { execInPod, freshNamespace, type TestNamespace } from '../harness/clusters';
import { startAgentProcess, startWorkerProcess, type TestProcess } from '../harness/processes';
import { deployShop, NODES, psql, pvcDir, restoreRequest, shopPlan } from './app-fixture';

jest.setTimeout(600_000);

const KEY_ENV = 'TDR_QUIESCE_KEY';
const DATA_DIR = '/var/lib/postgresql/data/pgdata';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type History = temporal.api.history.v1.IHistory;


/** Results of completed activities of one type, decrypted and decoded as a client would. */
function completedResults<T>(history: History, activityType: string): Promise<T[]> {
  const scheduled = new Set(history.events!.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === activityType).map((e) => String(e.eventId)));
  const results = history.events!.flatMap((e) => {
    const c = e.activityTaskCompletedEventAttributes;
    return c && scheduled.has(String(c.scheduledEventId)) ? [c.result!.payloads![0]!] : [];
  });
  return Promise.all(results.map((p) => decodePayload<T>(p)));
}

/** When the last volume copy's activity completed, by the server's clock. */
function lastCopyEnd(history: History): number {
  const scheduled = new Set(history.events!.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'backupVolume').map((e) => String(e.eventId)));
  const ends = history.events!.filter((e) => e.activityTaskCompletedEventAttributes && scheduled.has(String(e.activityTaskCompletedEventAttributes.scheduledEventId)));
  const ms = (t: { seconds?: unknown; nanos?: number | null }) => Number(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
  return Math.max(...ends.map((e) => ms(e.eventTime as { seconds?: unknown; nanos?: number | null })));
}

/** Waits until a volume copy runs on an agent (a started backupVolume activity). */
async function copyRunning(handle: WorkflowHandle, timeoutMs = 300_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let pending: string[] = [];
  while (Date.now() < deadline) {
    const d = await handle.describe();
    const activities = d.raw.pendingActivities ?? [];
    if (activities.some((a) => a.activityType?.name === 'backupVolume' && a.lastStartedTime)) return;
    pending = activities.map((a) => `${a.activityType?.name}${a.lastStartedTime ? ' (started)' : ''}${a.lastFailure?.message ? `: ${a.lastFailure.message}` : ''}`);
    await sleep(100);
  }
  throw new Error(`no volume copy started in time; status ${(await handle.describe()).status.name}, pending: ${pending.join('; ') || 'none'}`);
}

describe('a quiesce that keeps its promises', () => {
  let env: TestWorkflowEnvironment;
  let ns: TestNamespace;
  let target: TestNamespace | undefined;
  let base: Plan;
  let storeRef: ReturnType<typeof planToStoreRef>;
  let queue: string;
  const procs: TestProcess[] = [];
  const procEnv = (extra: Record<string, string> = {}) => ({ [KEY_ENV]: process.env[KEY_ENV]!, ...extra });
  const plan = (name: string, hooks?: Record<string, unknown>[]) =>
    validatePlan({ ...base, metadata: { name: uniqueId(name).toLowerCase() }, spec: { ...base.spec, ...(hooks ? { hooks } : {}) } });
  const dbPods = () => ({ namespace: ns.name, matchLabels: { 'app.kubernetes.io/name': 'db' } });
  const failure = async (p: Plan, input: Partial<BackupInput> = {}, record?: string) => {
    const handle = await env.client.workflow.start(backup, { taskQueue: queue, workflowId: uniqueId('backup-quiesce'), args: [{ plan: p, ...input }] });
    const err = await handle.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause as Error & { type?: string; cause?: Error & { type?: string } };
    const leaf = cause.cause ?? cause;
    const points = await listPoints(openStore(planToStoreRef(p)), p.metadata.name);
    if (record) await recordHistory(handle, record);
    return { type: (leaf as { type?: string }).type ?? cause.type, message: leaf.message, points, history: await handle.fetchHistory() };
  };

  beforeAll(async () => {
    process.env[KEY_ENV] = generateMasterKey();
    env = await attachTestEnv();
    ns = await freshNamespace('source', 'quiesce');
    await deployShop(ns.name, 128 * 1024 * 1024);
    for (let i = 1; i <= 20; i++) await execInPod('source', ns.name, 'db-0', 'postgres', psql(`INSERT INTO orders (id, item) VALUES (${i}, 'before-${i}');`));
    const { ref } = await freshStore('quiesce');
    storeRef = ref;
    base = shopPlan(uniqueId('quiesce').toLowerCase(), ns.name, ref, KEY_ENV);
    queue = uniqueId('quiesce');
    procs.push(startWorkerProcess(queue, procEnv()), startAgentProcess('source', NODES, procEnv()));
  });

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.kill('SIGKILL')));
    await target?.cleanup().catch(() => undefined);
    await ns?.cleanup().catch(() => undefined);
    await env?.teardown();
  });

  it('stores backup_label byte for byte as pg_backup_stop returned it, and PostgreSQL starts from it', async () => {
    const handle = await env.client.workflow.start(backup, { taskQueue: queue, workflowId: uniqueId('backup-label'), args: [{ plan: base }] });
    const report: BackupReport = await handle.result();
    await recordHistory(handle, 'backup-v3');
    expect(report.quiesce?.holds.map((h) => h.releasedBy)).toEqual(['workflow']);

    // What pg_backup_stop returned: the post step's stdout as the holding activity read it from
    // psql (in the run's history, before the workflow did anything with it). PostgreSQL's own
    // backup history file cannot serve: without WAL archiving it deletes it at once.
    const [hold] = await completedResults<HookHoldResult>(await handle.fetchHistory(), 'holdHookSession');
    const expected = hold.post!.stdout!;
    // A whole label, ending with its own single newline: nothing trimmed, added or cut.
    expect(expected).toMatch(/^START WAL LOCATION: .*\nCHECKPOINT LOCATION: .*\nBACKUP METHOD: streamed\nBACKUP FROM: primary\nSTART TIME: .*\nLABEL: temporal-dr\nSTART TIMELINE: 1\n$/);
    // The catalog shows stdout and stderr (psql prints pg_backup_stop's NOTICE there); the file gets stdout only.
    const catalog = await readPlanCatalog(base, report.pointId);
    const post = catalog.hooks.find((h) => h.hook === 'postgres' && h.step === 'post')!;
    expect(post.output.startsWith(expected.trimEnd())).toBe(true);
    const artifact = catalog.volumes.flatMap((v) => v.hookArtifacts ?? [])[0];
    expect(artifact.size).toBe(Buffer.byteLength(expected));

    // Restored: the file in the volume is exactly that, and PostgreSQL recovered from it.
    target = await freshNamespace('target', 'quiesce-restored');
    procs.push(startAgentProcess('target', NODES, procEnv()));
    await env.client.workflow.execute(restore, {
      taskQueue: queue,
      workflowId: uniqueId('restore-label'),
      args: [restoreRequest(base, report.pointId, KEY_ENV, { namespaceMapping: { [ns.name]: target.name }, existingPolicy: 'skip' })],
    });
    const restoredDir = path.join(await pvcDir('target', target.name, 'data-db-0'), 'pgdata');
    // PostgreSQL renames backup_label once it has read it.
    const stored = ['backup_label', 'backup_label.old'].map((f) => path.join(restoredDir, f)).find((f) => existsSync(f))!;
    expect(readFileSync(stored).toString('utf8')).toBe(expected);
    const rows = await execInPod('target', target.name, 'db-0', 'postgres', psql("SELECT count(*) FROM orders WHERE item LIKE 'before-%';"));
    expect(rows.stdout.trim()).toBe('20');
  });

  it('fsfreeze (two commands) held past its maxHold: thawed, and the backup fails with no complete point', async () => {
    const log = path.join(process.env.TDR_TEST_STACK_DIR!, `${uniqueId('fsfreeze')}.log`);
    // The preset's own commands, with a stand-in for the fsfreeze program: exec runs on this
    // machine, where a real freeze would freeze the machine's filesystem.
    const fsfreeze = ['sh', '-c', `echo "$1 $2" >> ${log}`, 'fsfreeze'];
    const r = await failure(
      plan('fsfreeze', [
        { name: 'freeze', podSelector: dbPods(), container: 'postgres', preset: 'fsfreeze', presetOptions: { mountPath: DATA_DIR, command: fsfreeze }, maxHold: '2s' },
        // Holds the quiesce phase past freeze's maxHold.
        { name: 'slow', podSelector: dbPods(), container: 'postgres', pre: { command: ['sleep', '5'], timeout: '30s' } },
      ]),
      {},
      'backup-v3-fsfreeze-max-hold',
    );
    expect(r.type).toBe(MAX_HOLD_EXCEEDED_ERROR);
    expect(r.message).toMatch(/hook freeze in pod db-0 \(maxHold 2s\).*post step ran/);
    expect(readFileSync(log, 'utf8')).toBe(`-f ${DATA_DIR}\n-u ${DATA_DIR}\n`);
    expect(r.points.map((p) => p.status)).toEqual(['failed']);
  });

  it('a session hook (postgresql) held past its maxHold: pg_backup_stop ran in its session, and the backup fails', async () => {
    const r = await failure(
      plan('pg-max-hold', [
        { ...base.spec.hooks[0], maxHold: '2s' },
        { name: 'slow', podSelector: dbPods(), container: 'postgres', pre: { command: ['sleep', '5'], timeout: '30s' } },
      ]),
      {},
      'backup-v3-session-max-hold',
    );
    expect(r.type).toBe(MAX_HOLD_EXCEEDED_ERROR);
    expect(r.message).toMatch(/hook postgres in pod db-0 \(maxHold 2s\)/);
    const [hold] = await completedResults<HookHoldResult>(r.history, 'holdHookSession');
    expect(hold.releasedBy).toBe('max-hold');
    expect(hold.heldMs).toBeGreaterThanOrEqual(2000);
    expect(hold.heldMs).toBeLessThan(4000); // released at maxHold, not when the workflow got to it
    expect(hold.post).toMatchObject({ ok: true });
    expect(hold.post!.output).toMatch(/LABEL: temporal-dr/);
    expect(r.points.map((p) => p.status)).toEqual(['failed']);
    // No session is left open, none is left in backup mode.
    const open = await execInPod('source', ns.name, 'db-0', 'postgres', psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'psql' AND pid <> pg_backend_pid();"));
    expect(open.stdout.trim()).toBe('0');
  });

  it("the workflow's worker killed while a session holds: the quiesce holds on and is released after the copy ended", async () => {
    const q = uniqueId('split');
    // Workflows and activities in separate processes, as a deployment may run them.
    const workflows1 = startWorkerProcess(q, procEnv({ TDR_WORKER_ROLE: 'workflows' }));
    const activities = startWorkerProcess(q, procEnv({ TDR_WORKER_ROLE: 'activities' }));
    procs.push(workflows1, activities);
    const p = plan('split');
    const handle = await env.client.workflow.start(backup, { taskQueue: q, workflowId: uniqueId('backup-split'), args: [{ plan: p, hookHeartbeatTimeoutMs: 5_000 }] });
    await copyRunning(handle);
    await workflows1.kill('SIGKILL');
    await sleep(15_000); // the holder's questions to the workflow fail meanwhile
    procs.push(startWorkerProcess(q, procEnv({ TDR_WORKER_ROLE: 'workflows' })));

    const report: BackupReport = await handle.result();
    expect(report.consistentCopyRetakes).toBe(0);
    expect(report.quiesce!.holds.map((h) => h.releasedBy)).toEqual(['workflow']);
    // Released after the last copy ended (same machine, same clock), not when a question failed.
    const history = await handle.fetchHistory();
    expect(Date.parse(report.quiesce!.holds[0].releasedAt!)).toBeGreaterThanOrEqual(lastCopyEnd(history));
    // The worker logs one JSON object per line, with the run it belongs to.
    const holding = activities
      .log()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((e) => String(e.message).startsWith('cannot ask the workflow whether to release; still holding'));
    expect(holding).toMatchObject({ level: 'WARN', workflowId: handle.workflowId, workflowRunId: expect.any(String), activityType: 'holdHookSession', holdId: expect.any(String) });
    const catalog = await readPlanCatalog(p, report.pointId);
    expect(catalog.hooks.filter((h) => h.step === 'post').map((h) => h.result)).toEqual(['ok']);
  });

  it('the worker holding the session killed mid-copy: the quiesce is lost, the copy is taken again, and the point was quiesced to its end', async () => {
    const q = uniqueId('kill-holder');
    const worker1 = startWorkerProcess(q, procEnv());
    procs.push(worker1);
    const p = plan('kill-holder');
    const handle = await env.client.workflow.start(backup, { taskQueue: q, workflowId: uniqueId('backup-kill-holder'), args: [{ plan: p, hookHeartbeatTimeoutMs: 5_000 }] });
    await copyRunning(handle);
    await worker1.kill('SIGKILL'); // takes the psql session with it: PostgreSQL leaves backup mode
    procs.push(startWorkerProcess(q, procEnv()));

    const report: BackupReport = await handle.result();
    await recordHistory(handle, 'backup-v3-lost-retake');
    expect(report.consistentCopyRetakes).toBeGreaterThanOrEqual(1);
    expect(report.quiesce!.holds.map((h) => h.releasedBy)).toEqual(['workflow']);
    const history = await handle.fetchHistory();
    expect(Date.parse(report.quiesce!.holds[0].releasedAt!)).toBeGreaterThanOrEqual(lastCopyEnd(history));
    // The lost hold's post step ran in a new session (nothing is left quiesced).
    expect(history.events!.some((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'runSessionHookStep')).toBe(true);

    const catalog = await readPlanCatalog(p, report.pointId);
    const repo = await openRepository(storeRef, { env: KEY_ENV }, { create: false });
    expect((await verifyPoint(repo, catalog, { readData: false })).problems).toEqual([]);
    expect(catalog.hooks.filter((h) => h.step === 'post').map((h) => h.result)).toEqual(['ok']);
  });

  it('a quiesce lost with no retake left fails the backup with a named error and no complete point', async () => {
    const q = uniqueId('lost');
    const worker1 = startWorkerProcess(q, procEnv());
    procs.push(worker1);
    const p = plan('lost');
    const handle = await env.client.workflow.start(backup, {
      taskQueue: q,
      workflowId: uniqueId('backup-lost'),
      args: [{ plan: p, hookHeartbeatTimeoutMs: 5_000, consistentCopyAttempts: 1 }],
    });
    await copyRunning(handle);
    await worker1.kill('SIGKILL');
    procs.push(startWorkerProcess(q, procEnv()));
    const err = await handle.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause as Error & { type?: string };
    expect(cause.type).toBe('QuiesceLostError');
    expect(cause.message).toMatch(/quiesce ended before the copy did 1 time\(s\) \(postgres\/db-0\)/);
    const points = await listPoints(openStore(planToStoreRef(p)), p.metadata.name);
    expect(points.map((x) => x.status)).toEqual(['failed']);
  });
});
