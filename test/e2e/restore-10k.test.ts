/**
 * A restore of 10,000 objects on the real stack. A namespace of "source" is backed up by the
 * backup workflow (its plan has a retention policy, so the backup's retention runs as the store's
 * GC child workflow gc/<store>); the point is then grown through the store API by 10,000
 * ConfigMaps (a new encrypted bundle and catalog entries with their checksums, as a backup of
 * them would have written: creating 10,000 objects on "source" first would double the test's
 * cost without testing anything of the restore). The restore workflow verifies, plans and
 * applies them to "target" into another namespace, with a 30 s heartbeat timeout for the long
 * restore activities (planning and the ConfigMap wave each run longer than that). Every activity
 * of both runs completes on its first attempt (no retry, no heartbeat timeout), and the 10,000
 * objects exist on the target.
 */
import { createHash } from 'node:crypto';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { backup, restore } from '../../workflows';
import { gcWorkflowId } from '../../workflows/prune';
import { validatePlan, type Plan } from '../../shared/plan';
import { generateMasterKey } from '../../activities/datapath/crypto';
import { openRepository } from '../../activities/store/open-repository';
import { openStore } from '../../activities/store/open-store';
import { readCatalog } from '../../activities/catalog/points';
import { readBundle } from '../../activities/catalog/verify-point';
import { catalogKey } from '../../shared/catalog';
import { sealCatalog } from '../../activities/catalog/catalog-auth';
import type { KubeObject } from '../../shared/kube-object';
import { attachTestEnv, replayHistory, startOrchestratorWorker, uniqueId } from '../harness/temporal';
import { freshStore } from '../harness/store';
import { coreApi, freshNamespace, type TestNamespace } from '../harness/clusters';
import { restoreRequest } from './app-fixture';
import { saveHistory } from '../harness/histories';

// Generous: this waits on real servers on a shared 2-core machine; nothing here measures time.
jest.setTimeout(900_000);

const KEY_ENV = 'TDR_10K_KEY';
const COUNT = 10_000;
const LABEL = 'temporal-dr.test/set';
const EventType = temporal.api.enums.v1.EventType;

/** Live progress on stderr (jest holds console output until the test ends). */
const say = (line: string) => process.stderr.write(`[restore-10k] ${new Date().toISOString()} ${line}\n`);

async function activityRuns(handle: { fetchHistory(): Promise<temporal.api.history.v1.IHistory> }) {
  const events = (await handle.fetchHistory()).events ?? [];
  const scheduled = new Map<number, string>();
  for (const e of events) {
    if (e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) scheduled.set(Number(e.eventId), e.activityTaskScheduledEventAttributes!.activityType!.name!);
  }
  const started = events
    .filter((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED)
    .map((e) => ({ activity: scheduled.get(Number(e.activityTaskStartedEventAttributes!.scheduledEventId)), attempt: e.activityTaskStartedEventAttributes!.attempt }));
  const timedOut = events.filter((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT).length;
  const failed = events.filter((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED).length;
  return { started, timedOut, failed };
}

async function countConfigMaps(namespace: string): Promise<number> {
  let n = 0;
  let token: string | undefined;
  do {
    const page = await coreApi('target').listNamespacedConfigMap({ namespace, labelSelector: LABEL, limit: 2000, _continue: token });
    n += page.items.length;
    token = page.metadata?._continue || undefined;
  } while (token);
  return n;
}

describe('restore of 10,000 objects', () => {
  let env: TestWorkflowEnvironment;
  let w: Awaited<ReturnType<typeof startOrchestratorWorker>>;
  let ns: TestNamespace;
  const target = uniqueId('tenk-restored');

  beforeAll(async () => {
    process.env[KEY_ENV] = generateMasterKey();
    env = await attachTestEnv();
    w = await startOrchestratorWorker(env);
    ns = await freshNamespace('source', 'tenk');
  });

  afterAll(async () => {
    await w?.stop();
    await coreApi('target').deleteNamespace({ name: target }).catch(() => undefined);
    await ns?.cleanup().catch(() => undefined);
    await env?.teardown();
  });

  it('backs up, then restores 10,000 ConfigMaps with no activity retried', async () => {
    await coreApi('source').createNamespacedConfigMap({ namespace: ns.name, body: { metadata: { name: 'seed', labels: { [LABEL]: 'tenk' } }, data: { seed: 'yes' } } });

    const { ref } = await freshStore('tenk');
    const plan: Plan = validatePlan({
      apiVersion: 'temporal-dr/v1',
      kind: 'DRPlan',
      metadata: { name: uniqueId('tenk').toLowerCase() },
      spec: {
        source: { context: 'source' },
        selector: { namespaces: [ns.name] },
        store: { url: `s3://${ref.bucket}/${ref.prefix}`, endpoint: ref.endpoint, forcePathStyle: true, encryption: { keyFrom: { env: KEY_ENV } } },
        retention: { keepLast: 1 },
      },
    });

    const b0 = Date.now();
    const backupHandle = await env.client.workflow.start(backup, { taskQueue: w.taskQueue, workflowId: uniqueId('backup-tenk'), args: [{ plan }] });
    const point = await backupHandle.result();
    const backupMs = Date.now() - b0;
    say(`backup done in ${backupMs} ms`);
    expect(point.resources).toBeGreaterThanOrEqual(2);
    // The backup's retention ran as the store's GC lock holder.
    expect(point.retention).toMatchObject({ kept: 1, expired: 0 });
    expect((await env.client.workflow.getHandle(gcWorkflowId(ref)).describe()).status.name).toBe('COMPLETED');

    // Grow the point by 10,000 ConfigMaps, as a backup of them would have stored it.
    const repo = await openRepository(ref, { env: KEY_ENV }, { create: false });
    const store = openStore(ref);
    const catalog = await readCatalog(store, plan.metadata.name, point.pointId, repo.keys);
    const objects: KubeObject[] = await readBundle(repo, catalog);
    for (let i = 0; i < COUNT; i++) {
      const o = {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: `cm-${String(i).padStart(5, '0')}`, namespace: ns.name, labels: { [LABEL]: 'tenk' } },
        data: { index: String(i), value: `value of object ${i}` },
      } as KubeObject;
      objects.push(o);
      const json = Buffer.from(JSON.stringify(o));
      catalog.resources.items.push({ apiVersion: 'v1', kind: 'ConfigMap', namespace: ns.name, name: o.metadata.name, group: '', resource: 'configmaps', sha256: createHash('sha256').update(json).digest('hex'), size: json.length, ownerRefs: [] });
    }
    const stored = await repo.putObject('manifest', catalog.resources.bundle.key, { format: 'tdr-resources', version: 1, objects });
    catalog.resources.bundle.sha256 = createHash('sha256').update(stored).digest('hex');
    catalog.resources.bundle.size = stored.length;
    catalog.totals.resources = catalog.resources.items.length;
    const body = sealCatalog(repo.keys, catalog);
    await store.put(catalogKey(plan.metadata.name, point.pointId), body);

    const r0 = Date.now();
    const req = restoreRequest(plan, point.pointId, KEY_ENV, { namespaceMapping: { [ns.name]: target }, heartbeatTimeoutMs: 30_000, waitReadyTimeoutMs: 20 * 60_000 });
    const restoreHandle = await env.client.workflow.start(restore, { taskQueue: w.taskQueue, workflowId: uniqueId('restore-tenk'), args: [req] });
    const report = await restoreHandle.result();
    const restoreMs = Date.now() - r0;
    expect(report.plan.objects).toBeGreaterThanOrEqual(COUNT);
    expect(report.created).toBeGreaterThanOrEqual(COUNT);
    expect(await countConfigMaps(target)).toBe(COUNT + 1);
    say(
      `restore: ${restoreMs} ms (${Math.round(report.plan.objects / (restoreMs / 1000))} objects/s), waves ${report.plan.waves.map((x) => `${x.phase}:${x.objects}`).join(' ')}`,
    );

    for (const h of [backupHandle, restoreHandle]) {
      const runs = await activityRuns(h);
      expect(runs.started.length).toBeGreaterThan(0);
      expect(runs.started.filter((s) => s.attempt !== 1)).toEqual([]);
      expect(runs.timedOut).toBe(0);
      expect(runs.failed).toBe(0);
    }
    const restoreRuns = await activityRuns(restoreHandle);
    expect(restoreRuns.started.map((s) => s.activity)).toEqual(expect.arrayContaining(['planRestore', 'applyRestoreWave', 'waitForWorkloadsReady']));
    // Wait-ready's attempt follows the requested timeout (20 min here), not a fixed 10 minutes.
    const scheduled = ((await restoreHandle.fetchHistory()).events ?? [])
      .filter((e) => e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
      .map((e) => e.activityTaskScheduledEventAttributes!);
    const waitReady = scheduled.find((a) => a.activityType!.name === 'waitForWorkloadsReady')!;
    expect(Number(waitReady.startToCloseTimeout!.seconds)).toBe(20 * 60 + 5 * 60);
    expect(Number(waitReady.heartbeatTimeout!.seconds)).toBe(30);

    // Preflight finds the 10,000 that now exist (one LIST per kind and namespace, not a read each).
    const again = await env.client.workflow.execute(restore, {
      taskQueue: w.taskQueue,
      workflowId: uniqueId('restore-tenk-dry'),
      args: [{ ...req, restoreId: `${req.restoreId}-again`, dryRun: true, existingPolicy: 'skip' }],
    });
    expect(again.plan.existing).toBeGreaterThanOrEqual(COUNT + 1);

    const gcRuns = await activityRuns(env.client.workflow.getHandle(gcWorkflowId(ref)));
    expect(gcRuns.started).toEqual([{ activity: 'pruneStore', attempt: 1 }]);

    const history = await backupHandle.fetchHistory();
    await replayHistory(history, 'backup-gc-lock');
    saveHistory(history, 'backup-gc-lock-v1');
  });
});
