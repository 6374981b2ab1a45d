/**
 * Warm standby end to end: a plan whose standby site is `standby: warm` has the application
 * pre-staged on "target" after each shipped point, fenced (every workload at zero replicas with
 * its replicas recorded, no pod running) and with its claims hydrated incrementally (a changed
 * file is rewritten, a deleted one removed, the rest left as they are). A planned failover then
 * restores only the last delta onto the staged copy and scales it up, with no committed row lost.
 */
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { startFailover } from '../../client/commands/failover';
import { startReplication } from '../../client/commands/replicate';
import { replicateStatusQuery } from '../../workflows/replicate';
import { FENCED_BY_LABEL, FENCED_REPLICAS_ANNOTATION, type FailoverReport } from '../../shared/failover';
import { replicateWorkflowId, type ReplicateStatus } from '../../shared/replication';
import { validatePlan, type Plan } from '../../shared/plan';
import { generateMasterKey } from '../../activities/datapath/crypto';
import { attachTestEnv, uniqueId } from '../harness/temporal';
import { freshStore } from '../harness/store';
import { freshTargetStore, standbyOn } from '../harness/sites';
import { appsApi, coreApi, execInPod, freshNamespace, type TestNamespace } from '../harness/clusters';
import { startAgentProcess, startWorkerProcess, type TestProcess } from '../harness/processes';
import { deployShop, hashTree, NODES, psql, pvcDir, shopPlan } from './app-fixture';

const KEY_ENV = 'TDR_WARM_KEY';

describe('a warm standby: pre-staged fenced after every point, failed over by applying the last delta', () => {
  let env: TestWorkflowEnvironment;
  let ns: TestNamespace;
  let plan: Plan;
  let taskQueue: string;
  let procs: TestProcess[] = [];
  let files: Record<string, string>;
  const figures: Record<string, unknown> = {};
  const status = () => env.client.workflow.getHandle(replicateWorkflowId(plan.metadata.name, 'target')).query(replicateStatusQuery);
  async function hydrated(after: (s: ReplicateStatus) => boolean, timeoutMs = 180_000): Promise<ReplicateStatus> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = await status();
      if (s.lastHydration?.ok && after(s)) return s;
      if (Date.now() > deadline) throw new Error(`no hydration in time: ${JSON.stringify(s.lastHydration ?? s.lastError)}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  const rows = async (cluster: 'source' | 'target') => {
    const r = await execInPod(cluster, ns.name, 'db-0', 'postgres', psql('SELECT count(*) FROM orders;'));
    if (r.exitCode !== 0) throw new Error(`${cluster}: ${r.stderr}`);
    return Number(r.stdout.trim());
  };

  beforeAll(async () => {
    process.env[KEY_ENV] = generateMasterKey();
    env = await attachTestEnv();
    ns = await freshNamespace('source', 'shop-warm');
    files = await deployShop(ns.name, 3 * 1024 * 1024);
    for (let i = 1; i <= 20; i++) await execInPod('source', ns.name, 'db-0', 'postgres', psql(`INSERT INTO orders (id, item) VALUES (${i}, 'warm-${i}');`));
    const primary = (await freshStore('dr')).ref;
    const standby = (await freshTargetStore('dr')).ref;
    const base = shopPlan(uniqueId('warm').toLowerCase(), ns.name, primary, KEY_ENV);
    plan = validatePlan({
      ...base,
      spec: {
        ...base.spec,
        rpo: '1m',
        standbys: [standbyOn('target', standby, { standby: 'warm' })],
        failover: { waitReadyTimeout: '3m' },
      },
    });
    taskQueue = uniqueId('warm');
    const procEnv = { [KEY_ENV]: process.env[KEY_ENV]! };
    procs = [startWorkerProcess(taskQueue, procEnv), startAgentProcess('source', NODES, procEnv), startAgentProcess('target', NODES, procEnv)];
  });

  afterAll(async () => {
    for (const site of ['primary', 'target']) await env?.client.workflow.getHandle(replicateWorkflowId(plan.metadata.name, site)).cancel().catch(() => undefined);
    await Promise.all(procs.map((p) => p.kill()));
    await coreApi('target').deleteNamespace({ name: ns.name }).catch(() => undefined);
    await ns?.cleanup().catch(() => undefined);
    await env?.teardown();
    console.log(`[warm standby figures] ${JSON.stringify(figures)}`);
  });

  it('stages the application on the standby cluster fenced: objects at zero replicas, no pod, the same files', async () => {
    await startReplication(env.client, taskQueue, plan, 'target', { intervalMs: 6_000, backup: { agentHeartbeatTimeoutMs: 10_000 } });
    const s = await hydrated(() => true);
    figures.firstHydration = s.lastHydration;
    const nsObj = await coreApi('target').readNamespace({ name: ns.name });
    expect(nsObj.metadata?.labels?.[FENCED_BY_LABEL]).toBe(plan.metadata.name);
    const db = await appsApi('target').readNamespacedStatefulSet({ namespace: ns.name, name: 'db' });
    expect(db.spec?.replicas).toBe(0);
    expect(db.metadata?.annotations?.[FENCED_REPLICAS_ANNOTATION]).toBe('1');
    const web = await appsApi('target').readNamespacedDeployment({ namespace: ns.name, name: 'web' });
    expect([web.spec?.replicas, web.metadata?.annotations?.[FENCED_REPLICAS_ANNOTATION]]).toEqual([0, '2']);
    const pods = (await coreApi('target').listNamespacedPod({ namespace: ns.name })).items.filter((p) => p.metadata?.ownerReferences?.length);
    expect(pods.map((p) => p.metadata?.name)).toEqual([]);
    expect(hashTree(await pvcDir('target', ns.name, 'uploads'))).toEqual(files);
  }, 240_000);

  it('hydrates incrementally: a changed file is rewritten, a deleted one removed, the others left as they are', async () => {
    const src = await pvcDir('source', ns.name, 'uploads');
    const names = Object.keys(files).sort();
    writeFileSync(path.join(src, names[0]), 'changed on the primary');
    rmSync(path.join(src, names[1]));
    const before = (await status()).lastHydration!.pointId;
    const s = await hydrated((x) => x.lastHydration!.pointId !== before && Date.parse(x.newest!.capturedAt) > Date.now() - 60_000);
    const h = s.lastHydration!;
    figures.incrementalHydration = h;
    expect(hashTree(await pvcDir('target', ns.name, 'uploads'))).toEqual(hashTree(src));
    expect(h.entriesRemoved).toBeGreaterThanOrEqual(1);
    expect(h.filesUnchanged).toBeGreaterThanOrEqual(names.length - 2);
    expect(h.filesWritten).toBeLessThan(h.filesUnchanged!);
  }, 240_000);

  it('fails over as planned onto the staged copy: the last delta applied, scaled up, every row there', async () => {
    await execInPod('source', ns.name, 'db-0', 'postgres', psql("INSERT INTO orders (id, item) VALUES (1000, 'just before the failover');"));
    const { handle } = await startFailover(env.client, taskQueue, plan, { operation: 'failover', mode: 'planned', from: 'primary', to: 'target' });
    const report = (await handle.result()) as FailoverReport;
    figures.warmFailover = { rtoMs: report.rtoMs, steps: report.steps.map((s) => `${s.name}:${s.durationMs}`) };
    expect(report).toMatchObject({ outcome: 'completed', rpoMs: 0 });
    expect(report.steps.find((s) => s.name === 'PrepareTarget')?.detail).toContain('kept, fenced by');
    expect(report.steps.find((s) => s.name === 'Restore')?.detail).toMatch(/onto the warm standby \(\d+ file\(s\) already there\)/);
    expect(await rows('target')).toBe(21);
    const db = await appsApi('target').readNamespacedStatefulSet({ namespace: ns.name, name: 'db' });
    expect([db.spec?.replicas, db.metadata?.annotations?.[FENCED_REPLICAS_ANNOTATION]]).toEqual([1, undefined]);
    expect((await coreApi('target').readNamespace({ name: ns.name })).metadata?.labels?.[FENCED_BY_LABEL]).toBeUndefined();
    expect((await appsApi('source').readNamespacedStatefulSet({ namespace: ns.name, name: 'db' })).spec?.replicas).toBe(0);
  }, 300_000);
});
