/**
 * The fault suite: backups and restores of the sample application run one after another while
 * faults are injected at random points, drawn from a seed the suite prints (TDR_FAULT_SEED repeats
 * a run). Every run sits behind a proxy that fails one store request in ten with a 500 or a 503
 * SlowDown, and each run also gets one of: its orchestrator worker SIGKILLed, its node agent
 * SIGKILLed, the store unreachable for a few seconds, or MinIO stopped and restarted, while it
 * copies or writes volume data. One more backup and restore run on their own Temporal dev server
 * (with a database file), which is SIGKILLed and restarted mid-copy, and one restore has its
 * target cluster (API server, etcd and nodes) stopped and restarted while it applies objects, and
 * one backup loses its source API server (the connection cut, as a stopped server looks) for 4 s
 * from the moment discovery starts.
 *
 * Each backup must end with a complete point that verifies chunk by chunk, with every hook's post
 * step run (the database released); each restore with the same bytes and rows as the source; and
 * at the end every earlier point must still verify (nothing that existed before a run changed).
 * The suite prints the faults injected and survived by class.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import path from 'node:path';
import { writeFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { Client, Connection, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { payloadDataConverter } from '../../config/payload-codec';
import { findBinaries, isAlive, portFree, startTemporal, stopServer } from '../../scripts/stack/local-stack';
import { startSourceStore, stopSourceStore } from '../harness/sites';
import { backup, restore } from '../../workflows';
import type { BackupReport } from '../../workflows/backup';
import type { RestoreReport } from '../../workflows/restore';
import { planToStoreRef, validatePlan, type Plan } from '../../shared/plan';
import { verifyPoint } from '../../activities/catalog/verify-point';
import { openRepository } from '../../activities/store/open-repository';
import { generateMasterKey } from '../../activities/datapath/crypto';
import { attachTestEnv, uniqueId } from '../harness/temporal';
import { freshStore, readPlanCatalog } from '../harness/store';
import { coreApi, execInPod, freshNamespace, kubeConfigFor, kubeconfigPath, stackWorkdir, startCluster, stopCluster, type TestNamespace } from '../harness/clusters';
import { startTcpRelay } from '../harness/tcp-relay';
import { startAgentProcess, startWorkerProcess, type TestProcess } from '../harness/processes';
import { seededRandom, startFaultProxy, type FaultProxy } from '../harness/fault-proxy';
import { deployShop, hashTree, NODES, psql, pvcDir, restoreRequest, shopPlan } from './app-fixture';

const KEY_ENV = 'TDR_FAULT_SUITE_KEY';
const SEED = Number(process.env.TDR_FAULT_SEED ?? Date.now() % 1_000_000);
const BACKUPS = 4;
const RESTORES = 3;
const REQUEST_FAULT_ONE_IN = 10;

type ProcessFault = 'worker SIGKILL' | 'node agent SIGKILL' | 'store unreachable 4 s' | 'MinIO stopped and restarted';
const PROCESS_FAULTS: ProcessFault[] = ['worker SIGKILL', 'node agent SIGKILL', 'store unreachable 4 s', 'MinIO stopped and restarted'];

/** The run's result, waiting through a restart of its Temporal server (the client reconnects). */
async function resultAcrossRestarts<T>(handle: WorkflowHandle, timeoutMs = 300_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return (await handle.result()) as T;
    } catch (err) {
      if (err instanceof WorkflowFailedError || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/** Waits until one of the run's activities of `types` has started (or `timeoutMs` passes): the moment to inject. */
async function activityStarted(handle: WorkflowHandle, types: string[], timeoutMs = 90_000, pollMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const d = await handle.describe();
    if ((d.raw.pendingActivities ?? []).some((a) => types.includes(a.activityType?.name ?? '') && a.lastStartedTime)) return true;
    if (d.status.name !== 'RUNNING') return false;
    await new Promise((r) => setTimeout(r, pollMs));
  }
  return false;
}

describe(`fault suite (seed ${SEED})`, () => {
  let env: TestWorkflowEnvironment;
  let ns: TestNamespace;
  let plan: Plan;
  let files: Record<string, string>;
  let proxy: FaultProxy;
  let worker: TestProcess;
  let agents: Record<'source' | 'target', TestProcess>;
  const exited: TestProcess[] = [];
  const targets: TestNamespace[] = [];
  const random = seededRandom(SEED);
  /** Where the rotation through the process faults starts: every class comes up in the backups. */
  const offset = Math.floor(random() * PROCESS_FAULTS.length);
  const taskQueue = uniqueId('fault-suite');
  const survived = new Map<string, number>();
  const points: string[] = [];
  const procEnv = () => ({ [KEY_ENV]: process.env[KEY_ENV]! });
  const processFaultsInjected = new Map<string, number>();

  beforeAll(async () => {
    process.env[KEY_ENV] = generateMasterKey();
    env = await attachTestEnv();
    ns = await freshNamespace('source', 'fault-suite');
    files = await deployShop(ns.name, 48 * 1024 * 1024);
    const { ref } = await freshStore('faults');
    proxy = await startFaultProxy(ref.endpoint!, { seed: SEED });
    plan = shopPlan(uniqueId('faultsuite').toLowerCase(), ns.name, { ...ref, endpoint: proxy.endpoint }, KEY_ENV);
    worker = startWorkerProcess(taskQueue, procEnv());
    agents = { source: startAgentProcess('source', NODES, procEnv()), target: startAgentProcess('target', NODES, procEnv()) };
  });

  afterAll(async () => {
    await Promise.all([worker, agents.source, agents.target, ...exited].map((p) => p?.kill('SIGKILL')));
    await proxy?.close();
    for (const t of targets) await t.cleanup().catch(() => undefined);
    await ns?.cleanup().catch(() => undefined);
    await env?.teardown();
  });

  /** Injects `fault` into the running `handle` once one of `during` has started, and restarts what it killed. */
  async function inject(handle: WorkflowHandle, fault: ProcessFault, during: string[], cluster: 'source' | 'target'): Promise<void> {
    await activityStarted(handle, during);
    await new Promise((r) => setTimeout(r, Math.floor(random() * 1500)));
    processFaultsInjected.set(fault, (processFaultsInjected.get(fault) ?? 0) + 1);
    if (fault === 'worker SIGKILL') {
      await worker.kill('SIGKILL');
      exited.push(worker);
      worker = startWorkerProcess(taskQueue, procEnv());
    } else if (fault === 'node agent SIGKILL') {
      await agents[cluster].kill('SIGKILL');
      exited.push(agents[cluster]);
      agents[cluster] = startAgentProcess(cluster, NODES, procEnv());
    } else if (fault === 'store unreachable 4 s') {
      await proxy.down();
      await new Promise((r) => setTimeout(r, 4000));
      await proxy.up();
    } else {
      await stopSourceStore();
      await new Promise((r) => setTimeout(r, 1000));
      await startSourceStore();
    }
  }

  const record = (what: string) => survived.set(what, (survived.get(what) ?? 0) + 1);

  it(`completes ${BACKUPS} backups, each with store requests failing and a process killed or the store down mid-copy`, async () => {
    proxy.setOneIn(REQUEST_FAULT_ONE_IN);
    for (let i = 0; i < BACKUPS; i++) {
      await execInPod('source', ns.name, 'db-0', 'postgres', psql(`INSERT INTO orders (id, item) VALUES (${1000 + i}, 'round-${i}');`));
      const fault = PROCESS_FAULTS[(i + offset) % PROCESS_FAULTS.length];
      const handle = await env.client.workflow.start(backup, {
        taskQueue,
        workflowId: uniqueId(`backup-fault-${i}`),
        args: [{ plan, agentHeartbeatTimeoutMs: 5_000, hookHeartbeatTimeoutMs: 5_000 }],
      });
      await inject(handle, fault, ['backupVolume'], 'source');
      const report: BackupReport = await handle.result();
      const released = report.hooks.filter((h) => h.phase === 'post');
      expect(released.length).toBeGreaterThanOrEqual(1);
      expect(released.every((h) => h.ok)).toBe(true);
      points.push(report.pointId);
      record(`backup with ${fault}`);
    }
  });

  it(`restores ${RESTORES} times with the same faults mid-restore: same files, same rows`, async () => {
    for (let i = 0; i < RESTORES; i++) {
      const fault = PROCESS_FAULTS[(i + offset + 1) % PROCESS_FAULTS.length];
      const t = await freshNamespace('target', `fault-restore-${i}`);
      targets.push(t);
      const handle = await env.client.workflow.start(restore, {
        taskQueue,
        workflowId: uniqueId(`restore-fault-${i}`),
        args: [restoreRequest(plan, points[points.length - 1], KEY_ENV, { namespaceMapping: { [ns.name]: t.name }, existingPolicy: 'skip', agentHeartbeatTimeoutMs: 5_000 })],
      });
      await inject(handle, fault, ['restoreVolume'], 'target');
      const r: RestoreReport = await handle.result();
      expect(r.volumes).toHaveLength(2);
      expect(hashTree(await pvcDir('target', t.name, 'uploads'))).toEqual(files);
      const rows = await execInPod('target', t.name, 'db-0', 'postgres', psql(`SELECT count(*) FROM orders WHERE item LIKE 'round-%';`));
      expect(rows).toMatchObject({ exitCode: 0 });
      expect(Number(rows.stdout.trim())).toBe(BACKUPS);
      record(`restore with ${fault}`);
    }
  });

  it('completes a restore while the target cluster (API server, etcd, nodes) is stopped and restarted mid-apply', async () => {
    const t = await freshNamespace('target', 'fault-restore-apiserver');
    targets.push(t);
    const handle = await env.client.workflow.start(restore, {
      taskQueue,
      workflowId: uniqueId('restore-apiserver-fault'),
      args: [restoreRequest(plan, points[points.length - 1], KEY_ENV, { namespaceMapping: { [ns.name]: t.name }, existingPolicy: 'skip', agentHeartbeatTimeoutMs: 5_000 })],
    });
    let stopped = false;
    try {
      await activityStarted(handle, ['applyRestoreWave']);
      processFaultsInjected.set('target API server stopped and restarted', (processFaultsInjected.get('target API server stopped and restarted') ?? 0) + 1);
      stopped = true;
      await stopCluster(stackWorkdir(), 'target');
      await new Promise((r) => setTimeout(r, 2000));
      await startCluster(stackWorkdir(), 'target');
      stopped = false;
      await handle.result();
    } finally {
      if (stopped) await startCluster(stackWorkdir(), 'target').catch((e) => console.error(e));
    }
    expect(hashTree(await pvcDir('target', t.name, 'uploads'))).toEqual(files);
    const rows = await execInPod('target', t.name, 'db-0', 'postgres', psql(`SELECT count(*) FROM orders WHERE item LIKE 'round-%';`));
    expect(Number(rows.stdout.trim())).toBe(BACKUPS);
    record('restore with target API server stopped and restarted');
  });

  it('completes a backup and a restore while the Temporal server is SIGKILLed and restarted on its database', async () => {
    const dir = path.join(process.env.TDR_TEST_STACK_DIR!, 'fault-temporal');
    const bin = findBinaries().temporal;
    const dbFile = path.join(dir, 'temporal.db');
    let server = await startTemporal({ bin, dir, headless: true, dbFile });
    const port = Number(server.address.split(':')[1]);
    const queue = uniqueId('fault-temporal');
    const ownEnv = { ...procEnv(), TEMPORAL_ADDRESS: server.address };
    const ps = [startWorkerProcess(queue, ownEnv), startAgentProcess('source', NODES, ownEnv), startAgentProcess('target', NODES, ownEnv)];
    const connection = await Connection.connect({ address: server.address });
    const client = new Client({ connection, dataConverter: payloadDataConverter() });
    const killServerDuring = async (handle: WorkflowHandle, during: string[]) => {
      await activityStarted(handle, during);
      await new Promise((r) => setTimeout(r, Math.floor(random() * 1500)));
      processFaultsInjected.set('Temporal server SIGKILL and restart', (processFaultsInjected.get('Temporal server SIGKILL and restart') ?? 0) + 1);
      process.kill(-server.process.pid, 'SIGKILL');
      while (isAlive(server.process.pid)) await new Promise((r) => setTimeout(r, 100));
      while (!(await portFree(port))) await new Promise((r) => setTimeout(r, 200));
      server = await startTemporal({ bin, dir, headless: true, dbFile, port });
    };
    try {
      await execInPod('source', ns.name, 'db-0', 'postgres', psql(`INSERT INTO orders (id, item) VALUES (2000, 'round-temporal');`));
      const b = await client.workflow.start(backup, { taskQueue: queue, workflowId: uniqueId('backup-temporal-fault'), args: [{ plan, agentHeartbeatTimeoutMs: 5_000 }] });
      await killServerDuring(b, ['backupVolume']);
      const report = await resultAcrossRestarts<BackupReport>(b);
      expect(report.hooks.filter((h) => h.phase === 'post').every((h) => h.ok)).toBe(true);
      points.push(report.pointId);
      record('backup with Temporal server SIGKILL and restart');

      const t = await freshNamespace('target', 'fault-restore-temporal');
      targets.push(t);
      const r = await client.workflow.start(restore, {
        taskQueue: queue,
        workflowId: uniqueId('restore-temporal-fault'),
        args: [restoreRequest(plan, report.pointId, KEY_ENV, { namespaceMapping: { [ns.name]: t.name }, existingPolicy: 'skip', agentHeartbeatTimeoutMs: 5_000 })],
      });
      await killServerDuring(r, ['restoreVolume']);
      await resultAcrossRestarts<RestoreReport>(r);
      expect(hashTree(await pvcDir('target', t.name, 'uploads'))).toEqual(files);
      const rows = await execInPod('target', t.name, 'db-0', 'postgres', psql(`SELECT count(*) FROM orders WHERE item LIKE 'round-%';`));
      expect(Number(rows.stdout.trim())).toBe(BACKUPS + 1);
      record('restore with Temporal server SIGKILL and restart');
    } finally {
      await connection.close();
      await Promise.all(ps.map((p) => p.kill('SIGKILL')));
      await stopServer(dir, 'temporal');
    }
  });

  it('completes a backup whose source API server is unreachable for 4 s from the moment discovery starts', async () => {
    // Its own namespace of many objects and no hooks or volumes: discovery lasts long enough to be
    // cut, and nothing but the API path is exercised.
    const many = await freshNamespace('source', 'fault-discovery');
    const core = coreApi('source');
    const CONFIG_MAPS = 300;
    const filler = 'x'.repeat(100 * 1024);
    for (let i = 0; i < CONFIG_MAPS; i += 25) {
      await Promise.all(
        Array.from({ length: Math.min(25, CONFIG_MAPS - i) }, (_, j) => core.createNamespacedConfigMap({ namespace: many.name, body: { metadata: { name: `cm-${i + j}` }, data: { n: String(i + j), filler } } })),
      );
    }
    const relay = await startTcpRelay(new URL(kubeConfigFor('source').getCurrentCluster()!.server).host);
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath());
    const relayed = { ...kc.clusters.find((c) => c.name === kc.contexts.find((x) => x.name === 'source')!.cluster)! };
    kc.clusters = kc.clusters.map((c) => (c.name === relayed.name ? { ...c, server: `https://${relay.address}` } : c));
    const kubeconfig = path.join(process.env.TDR_TEST_STACK_DIR!, 'fault-discovery-kubeconfig');
    writeFileSync(kubeconfig, kc.exportConfig());
    const queue = uniqueId('fault-discovery');
    const own = startWorkerProcess(queue, { ...procEnv(), TDR_KUBECONFIG: kubeconfig });
    const manyPlan = validatePlan({ ...plan, metadata: { name: `${plan.metadata.name}-many` }, spec: { ...plan.spec, selector: { namespaces: [many.name] }, hooks: [] } });
    let handle: WorkflowHandle | undefined;
    try {
      handle = await env.client.workflow.start(backup, { taskQueue: queue, workflowId: uniqueId('backup-discovery-fault'), args: [{ plan: manyPlan }] });
      console.log(`discovery fault: ${CONFIG_MAPS} ConfigMaps of 100 KiB created; backup started`);
      expect(await activityStarted(handle, ['captureResources'], 90_000, 10)).toBe(true);
      processFaultsInjected.set('source API server unreachable 4 s', (processFaultsInjected.get('source API server unreachable 4 s') ?? 0) + 1);
      await relay.down();
      await new Promise((r) => setTimeout(r, 4000));
      await relay.up();
      const report = await Promise.race([
        handle!.result() as Promise<BackupReport>,
        new Promise<never>((_, reject) => setTimeout(() => reject(new Error('the backup did not end within 120 s')), 120_000)),
      ]);
      expect(report.resources).toBeGreaterThanOrEqual(CONFIG_MAPS);
      const repo = await openRepository(planToStoreRef(manyPlan), { env: KEY_ENV }, { create: false });
      expect((await verifyPoint(repo, await readPlanCatalog(manyPlan, report.pointId), { readData: true })).problems).toEqual([]);
      // Which steps the outage hit: the activities that needed more than one attempt.
      const retried = new Set<string>();
      const scheduled = new Map<number, string>();
      for (const e of (await handle!.fetchHistory()).events ?? []) {
        if (e.activityTaskScheduledEventAttributes) scheduled.set(Number(e.eventId), e.activityTaskScheduledEventAttributes.activityType?.name ?? '');
        const started = e.activityTaskStartedEventAttributes;
        if (started && (started.attempt ?? 1) > 1) retried.add(scheduled.get(Number(started.scheduledEventId)) ?? '?');
      }
      console.log(`source API server outage: retried ${[...retried].join(', ') || 'nothing (the cut landed between requests)'}`);
      record(`backup with source API server unreachable during ${retried.has('captureResources') ? 'discovery' : 'the backup'}`);
    } catch (err) {
      const pending = handle ? (await handle.describe()).raw.pendingActivities ?? [] : [];
      const state = pending.map((a) => `${a.activityType?.name} attempt ${a.attempt}: ${a.lastFailure?.message ?? 'no failure'}`).join('; ');
      throw new Error(`${(err as Error).message}\npending: ${state || 'none'}\nworker log:\n${own.log().slice(-3000)}`);
    } finally {
      await relay.down();
      await own.kill('SIGKILL');
      await many.cleanup().catch(() => undefined);
    }
  }, 360_000);

  it('leaves every point complete and verifiable, and prints the faults injected and survived', async () => {
    proxy.setOneIn(undefined);
    const repo = await openRepository(planToStoreRef(plan), { env: KEY_ENV }, { create: false });
    for (const id of points) {
      const verified = await verifyPoint(repo, await readPlanCatalog(plan, id), { readData: true });
      expect([id, verified.problems]).toEqual([id, []]);
    }
    const injected = new Map([...proxy.injected, ...processFaultsInjected]);
    const total = [...injected.values()].reduce((n, c) => n + c, 0);
    const runs = [...survived.values()].reduce((n, c) => n + c, 0);
    const lines = [
      `fault suite, seed ${SEED} (repeat with TDR_FAULT_SEED=${SEED}): ${total} faults injected into ${runs} runs, all survived; ${proxy.requests} store requests`,
      ...[...injected].map(([what, n]) => `  injected  ${String(n).padStart(4)}  ${what}`),
      ...[...survived].map(([what, n]) => `  survived  ${String(n).padStart(4)}  ${what}`),
    ];
    console.log(lines.join('\n'));
    expect(total).toBeGreaterThanOrEqual(50);
  });
});
