/**
 * CSI mode: the plan's volumes are snapshotted together while PostgreSQL is quiesced, the quiesce
 * ends as soon as the snapshots are ready, the copies are made from the snapshots, and every
 * temporary VolumeSnapshot and PVC is removed. The point restores like any other.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { backup, restore } from '../../workflows';
import type { BackupReport } from '../../workflows/backup';
import { planToStoreRef, validatePlan, type Plan } from '../../shared/plan';
import { openStore } from '../../activities/store/open-store';
import { generateMasterKey } from '../../activities/datapath/crypto';
import { attachTestEnv, uniqueId } from '../harness/temporal';
import { freshStore, readPlanCatalog } from '../harness/store';
import { coreApi, execInPod, freshNamespace, kubeConfigFor, type TestNamespace } from '../harness/clusters';
import { startAgentProcess, startWorkerProcess, type TestProcess } from '../harness/processes';
import { deployShop, hashTree, NODES, psql, pvcDir, restoreRequest, shopPlan, STORAGE_CLASSES } from './app-fixture';
import * as k8s from '@kubernetes/client-node';

const KEY_ENV = 'TDR_SNAP_KEY';

describe.each(STORAGE_CLASSES)('backup in CSI snapshot mode on storage class $storageClass', ({ storageClass, snapshotClass }) => {
  let env: TestWorkflowEnvironment;
  let ns: TestNamespace;
  let target: TestNamespace | undefined;
  let plan: Plan;
  let files: Record<string, string>;
  const procs: TestProcess[] = [];

  beforeAll(async () => {
    process.env[KEY_ENV] = generateMasterKey();
    env = await attachTestEnv();
    ns = await freshNamespace('source', 'snap');
    files = await deployShop(ns.name, 16 * 1024 * 1024, storageClass);
    for (let i = 1; i <= 10; i++) await execInPod('source', ns.name, 'db-0', 'postgres', psql(`INSERT INTO orders (id, item) VALUES (${i}, 'before-${i}');`));
    const { ref } = await freshStore('snap');
    const base = shopPlan(uniqueId('snap').toLowerCase(), ns.name, ref, KEY_ENV);
    plan = validatePlan({ ...base, spec: { ...base.spec, volumes: { defaultMode: 'snapshot-then-copy', snapshotClass } } });
  });

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.kill()));
    await target?.cleanup().catch(() => undefined);
    await ns?.cleanup().catch(() => undefined);
    await env?.teardown();
  });

  it('snapshots all volumes while quiesced, copies from the snapshots, cleans up, and restores', async () => {
    const taskQueue = uniqueId('snap');
    const penv = { [KEY_ENV]: process.env[KEY_ENV]! };
    procs.push(startWorkerProcess(taskQueue, penv), startAgentProcess('source', NODES, penv), startAgentProcess('target', NODES, penv));
    const report: BackupReport = await env.client.workflow.execute(backup, { taskQueue, workflowId: uniqueId('backup-snap'), args: [{ plan }] });
    expect(report.volumes.map((v) => v.pvc).sort()).toEqual([`${ns.name}/data-db-0`, `${ns.name}/uploads`]);

    // The quiesce ended before the copies: Snapshot, then Release, then CopySnapshots.
    const catalog = await readPlanCatalog(plan, report.pointId);
    const order = catalog.timings.map((t) => t.phase);
    expect(order.indexOf('Snapshot')).toBeGreaterThan(order.indexOf('Quiesce'));
    expect(order.indexOf('Release')).toBeGreaterThan(order.indexOf('Snapshot'));
    expect(order.indexOf('CopySnapshots')).toBeGreaterThan(order.indexOf('Release'));
    expect(catalog.volumes.every((v) => v.mode === 'snapshot-then-copy' && v.snapshotKey)).toBe(true);

    // Nothing temporary is left: no VolumeSnapshot, no extra PVC.
    const custom = kubeConfigFor('source').makeApiClient(k8s.CustomObjectsApi);
    const snaps = (await custom.listNamespacedCustomObject({ group: 'snapshot.storage.k8s.io', version: 'v1', namespace: ns.name, plural: 'volumesnapshots' })) as { items: unknown[] };
    expect(snaps.items).toEqual([]);
    const claims = (await coreApi('source').listNamespacedPersistentVolumeClaim({ namespace: ns.name })).items.map((c) => c.metadata!.name).sort();
    expect(claims).toEqual(['data-db-0', 'uploads']);

    target = await freshNamespace('target', 'snap-restored');
    await env.client.workflow.execute(restore, {
      taskQueue,
      workflowId: uniqueId('restore-snap'),
      args: [restoreRequest(plan, report.pointId, KEY_ENV, { namespaceMapping: { [ns.name]: target.name }, existingPolicy: 'skip' })],
    });
    const rows = await execInPod('target', target.name, 'db-0', 'postgres', psql("SELECT count(*) FROM orders WHERE item LIKE 'before-%';"));
    expect(rows).toMatchObject({ exitCode: 0 });
    expect(Number(rows.stdout.trim())).toBe(10);
    expect(hashTree(await pvcDir('target', target.name, 'uploads'))).toEqual(files);
  });
});
