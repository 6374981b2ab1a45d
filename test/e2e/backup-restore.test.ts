/**
 * The product end to end on the real stack: the sample application with PostgreSQL rows being
 * written is backed up from "source", verified, and restored to "target" into another namespace,
 * storage class and image registry; rows and files are compared with the source. Then: a dry run
 * changes nothing, a fresh Temporal server restores from the store alone, and a corrupted chunk
 * fails the restore cleanly and leaves nothing behind with rollback.
 */
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Client, Connection, WorkflowFailedError } from '@temporalio/client';
import { backup, restore } from '../../workflows';
import type { BackupReport } from '../../workflows/backup';
import type { RestoreReport } from '../../workflows/restore';
import type { Plan } from '../../shared/plan';
import { planToStoreRef } from '../../shared/plan';
import type { RestoreRequest } from '../../shared/restore-request';
import { verifyPoint } from '../../activities/catalog/verify-point';
import { openRepository, openRepositoryKeys } from '../../activities/store/open-repository';
import { latestPoint, listPoints } from '../../activities/catalog/points';
import { catalogKey, pointId } from '../../shared/catalog';
import { innermostMessage } from '../../shared/errors';
import { openStore } from '../../activities/store/open-store';
import { listAll } from '../../activities/store/object-store';
import { generateMasterKey } from '../../activities/datapath/crypto';
import { findBinaries, startTemporal, stopServer } from '../../scripts/stack/local-stack';
import { recordHistory } from '../harness/histories';
import { attachTestEnv, uniqueId } from '../harness/temporal';
import { historiesAsText, placesHolding, storeAsText } from '../harness/leaks';
import { payloadDataConverter } from '../../config/payload-codec';
import { freshStore, readPlanCatalog } from '../harness/store';
import { appsApi, coreApi, execInPod, freshNamespace, objectApi, type TestNamespace } from '../harness/clusters';
import { startAgentProcess, startWorkerProcess, type TestProcess } from '../harness/processes';
import { deployShop, hashTree, NODES, psql, pvcDir, restoreRequest, shopPlan, STORAGE_CLASSES } from './app-fixture';

const KEY_ENV = 'TDR_E2E_KEY';

describe.each(STORAGE_CLASSES)('backup and restore of the sample application on storage class $storageClass', ({ storageClass, mappedTo }) => {
  let env: TestWorkflowEnvironment;
  let ns: TestNamespace;
  let plan: Plan;
  let files: Record<string, string>;
  let procs: TestProcess[] = [];
  let taskQueue: string;
  let point: BackupReport;
  let rowsBefore: number;
  const targetNamespaces: TestNamespace[] = [];
  let restoredNamespace: string | undefined;
  /** The messages of every run this file makes fail, searched for the planted secret at the end. */
  const failures: string[] = [];
  const procEnv = () => ({ [KEY_ENV]: process.env[KEY_ENV]! });

  const request = (over: Partial<RestoreRequest>): RestoreRequest =>
    restoreRequest(plan, point.pointId, KEY_ENV, { agentHeartbeatTimeoutMs: 10_000, ...over });

  beforeAll(async () => {
    process.env[KEY_ENV] = generateMasterKey();
    env = await attachTestEnv();
    ns = await freshNamespace('source', 'shop');
    files = await deployShop(ns.name, 24 * 1024 * 1024, storageClass);
    const { ref } = await freshStore('dr');
    plan = shopPlan(uniqueId('shop').toLowerCase(), ns.name, ref, KEY_ENV);
    taskQueue = uniqueId('e2e');
    procs = [startWorkerProcess(taskQueue, procEnv()), startAgentProcess('source', NODES, procEnv()), startAgentProcess('target', NODES, procEnv())];
  });

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.kill()));
    for (const t of targetNamespaces) await t.cleanup().catch(() => undefined);
    await ns?.cleanup().catch(() => undefined);
    await env?.teardown();
  });

  it('takes an application-consistent, verifiable recovery point while rows are being written', async () => {
    for (let i = 1; i <= 50; i++) await execInPod('source', ns.name, 'db-0', 'postgres', psql(`INSERT INTO orders (id, item) VALUES (${i}, 'before-${i}');`));
    rowsBefore = 50;
    const handle = await env.client.workflow.start(backup, { taskQueue, workflowId: uniqueId('backup'), args: [{ plan, agentHeartbeatTimeoutMs: 10_000 }] });
    // Keep writing while the backup runs: the point must hold at least every row committed before it started.
    let writing = true;
    const writer = (async () => {
      for (let i = 1000; writing; i++) await execInPod('source', ns.name, 'db-0', 'postgres', psql(`INSERT INTO orders (id, item) VALUES (${i}, 'during');`));
    })();
    point = await handle.result().finally(() => (writing = false));
    await writer;
    if (storageClass === 'local-path') await recordHistory(handle, 'backup-v1');

    expect(point.resources).toBeGreaterThan(15);
    expect(point.volumes.map((v) => v.pvc).sort()).toEqual([`${ns.name}/data-db-0`, `${ns.name}/uploads`]);
    expect(point.hooks.filter((h) => h.hook === 'postgres').map((h) => [h.phase, h.ok])).toEqual([['pre', true], ['post', true]]);

    const store = openStore(planToStoreRef(plan));
    const catalog = await readPlanCatalog(plan, point.pointId);
    const kinds = new Set(catalog.resources.items.map((r) => r.kind));
    for (const k of ['StatefulSet', 'Deployment', 'Service', 'Ingress', 'ConfigMap', 'Secret', 'ServiceAccount', 'Role', 'RoleBinding', 'PodDisruptionBudget', 'HorizontalPodAutoscaler', 'NetworkPolicy', 'ShopSettings', 'CustomResourceDefinition', 'PersistentVolumeClaim', 'PersistentVolume', 'StorageClass', 'Namespace']) {
      expect([k, kinds.has(k)]).toEqual([k, true]);
    }
    expect(kinds.has('Pod')).toBe(false); // controller-owned pods are never captured
    // Secret data never reaches the store in clear text.
    const secretValue = Buffer.from((await coreApi('source').readNamespacedSecret({ namespace: ns.name, name: 'db-credentials' })).data!.POSTGRES_PASSWORD, 'base64');
    for (const o of await listAll(store, '')) {
      const body = (await store.get(o.key))!;
      expect(body.includes(secretValue)).toBe(false);
    }
    const repo = await openRepository(planToStoreRef(plan), { env: KEY_ENV }, { create: false });
    const verified = await verifyPoint(repo, catalog, { readData: true });
    expect(verified.problems).toEqual([]);
    expect(verified.chunksRead).toBeGreaterThan(10);
  });

  it('shows the restore plan in a dry run without changing the target', async () => {
    const targetNs = `${ns.name}-dry`;
    const r: RestoreReport = await env.client.workflow.execute(restore, {
      taskQueue,
      workflowId: uniqueId('restore-dry'),
      args: [request({ dryRun: true, namespaceMapping: { [ns.name]: targetNs }, storageClassMapping: { [storageClass]: mappedTo } })],
    });
    expect(r.dryRun).toBe(true);
    expect(r.plan.problems).toEqual([]);
    expect(r.plan.waves[0].phase).toBe('crds');
    expect(r.plan.volumes.map((v) => `${v.namespace}/${v.pvc}`).sort()).toEqual([`${targetNs}/data-db-0`, `${targetNs}/uploads`]);
    await expect(coreApi('target').readNamespace({ name: targetNs })).rejects.toMatchObject({ code: 404 });
  });

  it('restores to the target into another namespace, storage class and registry: ready, same rows, same files', async () => {
    const t = await freshNamespace('target', 'shop-restored');
    targetNamespaces.push(t);
    restoredNamespace = t.name;
    await coreApi('target').deleteNamespace({ name: t.name }).catch(() => undefined); // the restore creates it
    await waitGone(t.name);
    const restoreHandle = await env.client.workflow.start(restore, {
      taskQueue,
      workflowId: uniqueId('restore'),
      args: [
        request({
          namespaceMapping: { [ns.name]: t.name },
          storageClassMapping: { [storageClass]: mappedTo },
          imageRegistry: [{ from: 'registry.example.com/', to: 'mirror.local/' }],
          postRestoreChecks: [{ name: 'orders', namespace: t.name, matchLabels: { 'app.kubernetes.io/name': 'db' }, container: 'postgres', command: psql('SELECT count(*) FROM orders;') }],
        }),
      ],
    });
    const r: RestoreReport = await restoreHandle.result();
    if (storageClass === 'local-path') await recordHistory(restoreHandle, 'restore-v1');
    expect(r.rtoMs).toBeGreaterThan(0);
    expect(r.volumes).toHaveLength(2);
    expect(r.checks.map((c) => c.ok)).toEqual([true]);

    const sts = await appsApi('target').readNamespacedStatefulSet({ namespace: t.name, name: 'db' });
    expect(sts.status?.readyReplicas).toBe(1);
    expect(sts.spec?.volumeClaimTemplates?.[0].spec?.storageClassName).toBe(mappedTo);
    const uploads = await appsApi('target').readNamespacedDeployment({ namespace: t.name, name: 'uploads' });
    expect(uploads.spec?.template.spec?.containers[0].image).toBe('mirror.local/shop/files:1.0');
    const pvc = await coreApi('target').readNamespacedPersistentVolumeClaim({ namespace: t.name, name: 'data-db-0' });
    expect(pvc.spec?.storageClassName).toBe(mappedTo);

    // Every row committed before the backup started is there, and PostgreSQL came up on the copy.
    const rows = await execInPod('target', t.name, 'db-0', 'postgres', psql("SELECT count(*) FILTER (WHERE item LIKE 'before-%'), count(*) FROM orders;"));
    expect(rows.exitCode).toBe(0);
    const [before, all] = rows.stdout.trim().split('|').map(Number);
    expect(before).toBe(rowsBefore);
    const source = await execInPod('source', ns.name, 'db-0', 'postgres', psql('SELECT count(*) FROM orders;'));
    expect(all).toBeGreaterThanOrEqual(rowsBefore);
    expect(all).toBeLessThanOrEqual(Number(source.stdout.trim()));

    // Plain files: byte for byte what was on the source.
    expect(hashTree(await pvcDir('target', t.name, 'uploads'))).toEqual(files);
    // The custom resource came back after its CRD.
    const cr = await objectApi('target').read({ apiVersion: 'demo.temporal-dr.local/v1', kind: 'ShopSettings', metadata: { name: 'shop', namespace: t.name } });
    expect(cr.metadata?.name).toBe('shop');
  });

  it('restores from the object store alone through a fresh Temporal server that never saw the backup', async () => {
    const dir = path.join(process.env.TDR_TEST_STACK_DIR!, 'fresh-temporal');
    const fresh = await startTemporal({ bin: findBinaries().temporal, dir, headless: true });
    const q = uniqueId('fresh');
    const freshEnv = { ...procEnv(), TEMPORAL_ADDRESS: fresh.address };
    const ps = [startWorkerProcess(q, freshEnv), startAgentProcess('target', NODES, freshEnv)];
    const connection = await Connection.connect({ address: fresh.address });
    try {
      const t = `${ns.name}-fresh`;
      const r: RestoreReport = await new Client({ connection, dataConverter: payloadDataConverter() }).workflow.execute(restore, {
        taskQueue: q,
        workflowId: uniqueId('restore-fresh'),
        args: [request({ pointId: 'latest', namespaceMapping: { [ns.name]: t }, include: { kinds: ['Namespace', 'PersistentVolumeClaim', 'Deployment', 'ConfigMap', 'Secret', 'ServiceAccount'] } })],
      });
      targetNamespaces.push({ cluster: 'target', name: t, cleanup: () => coreApi('target').deleteNamespace({ name: t }).then(() => undefined) } as TestNamespace);
      expect(r.point).toBe(`${plan.metadata.name}/${point.pointId}`);
      expect(hashTree(await pvcDir('target', t, 'uploads'))).toEqual(files);
    } finally {
      await connection.close();
      await Promise.all(ps.map((p) => p.kill()));
      await stopServer(dir, 'temporal');
    }
  });

  it('never acts on a catalog changed or copied without the key: latest skips a forged point, a restore from an edited one is refused', async () => {
    const store = openStore(planToStoreRef(plan));
    const key = catalogKey(plan.metadata.name, point.pointId);
    const original = (await store.get(key))!;
    // Someone who can write to the bucket, without the key: a newer point that is this one's catalog copied...
    const forgedId = pointId(new Date(Date.now() + 3_600_000), 'forged');
    await store.put(catalogKey(plan.metadata.name, forgedId), original);
    try {
      const dry: RestoreReport = await env.client.workflow.execute(restore, {
        taskQueue,
        workflowId: uniqueId('restore-latest'),
        args: [request({ pointId: 'latest', dryRun: true, namespaceMapping: { [ns.name]: `${ns.name}-latest` } })],
      });
      expect(dry.point).toBe(`${plan.metadata.name}/${point.pointId}`);

      // ...and this point's catalog edited to scale the database to zero on restore.
      const edited = JSON.parse(original.toString('utf8'));
      edited.plan.spec.transforms.push({ name: 'attacker', replicas: 0, match: { kinds: ['apps/StatefulSet'] } });
      await store.put(key, JSON.stringify(edited, null, 1));
      const t = `${ns.name}-forged`;
      const err = await env.client.workflow
        .execute(restore, { taskQueue, workflowId: uniqueId('restore-forged'), args: [request({ namespaceMapping: { [ns.name]: t } })] })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      failures.push(String(err), innermostMessage(err));
      expect(innermostMessage(err)).toMatch(new RegExp(`catalog\\.json \\(point ${plan.metadata.name}/${point.pointId}\\) failed authentication: it was changed or moved by someone without the repository key`));
      await expect(coreApi('target').readNamespace({ name: t })).rejects.toMatchObject({ code: 404 });

      // Without the key, points are listed as unverified metadata; with it, both are untrusted and nothing is "latest".
      expect((await listPoints(store, plan.metadata.name)).map((p) => [p.pointId, p.status, p.verified])).toEqual([
        [forgedId, 'complete', false],
        [point.pointId, 'complete', false],
      ]);
      const keys = await openRepositoryKeys(planToStoreRef(plan), { env: KEY_ENV });
      expect((await listPoints(store, plan.metadata.name, keys)).map((p) => [p.pointId, p.status])).toEqual([
        [forgedId, 'untrusted'],
        [point.pointId, 'untrusted'],
      ]);
      await expect(latestPoint(store, plan.metadata.name, keys)).rejects.toThrow(`plan ${plan.metadata.name} has no complete recovery point`);
    } finally {
      await store.put(key, original);
      await store.delete([catalogKey(plan.metadata.name, forgedId)]);
    }
    expect((await readPlanCatalog(plan, point.pointId)).pointId).toBe(point.pointId);
  });

  it('fails a restore from a corrupted chunk with a clear error and leaves nothing behind with rollback', async () => {
    const store = openStore(planToStoreRef(plan));
    const packs = (await listAll(store, 'repo/packs/')).sort((a, b) => b.size - a.size);
    const victim = packs[0];
    const body = (await store.get(victim.key))!;
    body[Math.floor(body.length / 3)] ^= 0xff;
    await store.put(victim.key, body);

    const t = `${ns.name}-bad`;
    const err = await env.client.workflow
      .execute(restore, { taskQueue, workflowId: uniqueId('restore-bad'), args: [request({ namespaceMapping: { [ns.name]: t }, rollbackOnFailure: true })] })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause as (Error & { cause?: Error }) | undefined;
    const message = String(cause?.cause?.message ?? cause?.message);
    failures.push(String(err), message);
    expect(message).toMatch(/chunk [0-9a-f]+.*(corrupt|authentic|does not match)/i);
    // Rollback removed what the run created: no workload or claim is left in the namespace.
    const left = await Promise.all([
      appsApi('target').listNamespacedStatefulSet({ namespace: t }).then((l) => l.items.length),
      appsApi('target').listNamespacedDeployment({ namespace: t }).then((l) => l.items.length),
      coreApi('target').listNamespacedPersistentVolumeClaim({ namespace: t }).then((l) => l.items.filter((p) => !p.metadata?.deletionTimestamp).length),
    ]);
    expect(left).toEqual([0, 0, 0]);
    const nsLeft = await coreApi('target').readNamespace({ name: t }).then((n) => (n.metadata?.deletionTimestamp ? 'terminating' : 'present'), () => 'gone');
    expect(['gone', 'terminating']).toContain(nsLeft);
  });

  it('leaks the planted Secret nowhere: not in the bucket, the histories (raw or through the codec), the logs or the errors', async () => {
    const secret = Buffer.from((await coreApi('source').readNamespacedSecret({ namespace: ns.name, name: 'db-credentials' })).data!.POSTGRES_PASSWORD, 'base64');
    expect(secret.toString()).toBe('s3cret-shop-password');
    const bucket = await storeAsText(openStore(planToStoreRef(plan)));
    const histories = await historiesAsText(env.client, `TaskQueue = '${taskQueue}'`);
    // Every run of this file: the backup and its children, the dry run, the restores, the refused and failed ones.
    expect(histories.runs.length).toBeGreaterThanOrEqual(6);
    expect(bucket.objects).toBeGreaterThan(20);
    const places = {
      bucket: bucket.text,
      'histories as stored': histories.raw,
      'histories through the codec': histories.decoded,
      ...Object.fromEntries(procs.map((p) => [`log of ${p.name}`, p.log()])),
      errors: failures.join('\n'),
    };
    expect(failures.length).toBeGreaterThanOrEqual(2);
    expect(placesHolding(secret, places)).toEqual([]);
    // The search can fail: the restored copy of the Secret holds the value, base64 in its data.
    const restored = await coreApi('target').readNamespacedSecret({ namespace: restoredNamespace!, name: 'db-credentials' });
    expect(placesHolding(secret, { restored: JSON.stringify(restored) })).toEqual(['restored']);
  });

  async function waitGone(name: string): Promise<void> {
    for (let i = 0; i < 120; i++) {
      if (await coreApi('target').readNamespace({ name }).then(() => false, () => true)) return;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
});

