/**
 * Replication on the real stack, two sites: the sample application (PostgreSQL with rows, plain
 * files) on "source" is backed up to the source site's MinIO and shipped to the target site's own
 * MinIO (another process, port, data directory and credentials). Proves that:
 *  - a shipped point is complete at the standby and restorable from the standby store alone, to
 *    the target cluster, while the source MinIO is stopped (same rows, same files);
 *  - a ship interrupted after its packs landed continues without copying them again;
 *  - a second point of an unchanged app ships almost nothing;
 *  - the replicate workflow takes and ships points every interval, continues as new with its
 *    state, obeys pause/resume/replicate-now/interval updates, is started once (USE_EXISTING),
 *    and reports an achieved RPO under the plan's target;
 *  - a worker SIGKILLed mid-cycle (backing up or shipping) costs the loop nothing: the cycle
 *    resumes on the next worker and its point lands complete at the standby.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { temporal } from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import { backup, restore } from '../../workflows';
import type { BackupReport } from '../../workflows/backup';
import type { RestoreReport } from '../../workflows/restore';
import {
  pauseReplicationUpdate,
  replicateNowUpdate,
  replicateStatusQuery,
  resumeReplicationUpdate,
  setReplicationIntervalUpdate,
} from '../../workflows/replicate';
import { startReplication, liveRpo } from '../../client/commands/replicate';
import type { PlanStatus } from '../../client/commands/status';
import { standbySite, standbyStoreRef, validatePlan, type Plan } from '../../shared/plan';
import { rpoHealth, type ReplicateStatus } from '../../shared/replication';
import type { StoreRef } from '../../shared/store-ref';
import { shipPoint, shipPointBetween, type ShipPointResult } from '../../activities/replication/ship-point';
import { newestPointAtStandby } from '../../activities/replication/standby-points';
import { listPoints, readCatalog } from '../../activities/catalog/points';
import { verifyPoint } from '../../activities/catalog/verify-point';
import { openRepository, openRepositoryKeys, readMasterKey } from '../../activities/store/open-repository';
import { openStore } from '../../activities/store/open-store';
import { listAll, type ObjectStore } from '../../activities/store/object-store';
import { generateMasterKey } from '../../activities/datapath/crypto';
import { Repository } from '../../activities/datapath/repository';
import { attachTestEnv, uniqueId } from '../harness/temporal';
import { freshStore } from '../harness/store';
import { freshTargetStore, standbyOn, startSourceStore, stopSourceStore, sourceStoreRunning } from '../harness/sites';
import { coreApi, execInPod, freshNamespace, type TestNamespace } from '../harness/clusters';
import { startAgentProcess, startWorkerProcess, type TestProcess } from '../harness/processes';
import { deployShop, hashTree, NODES, psql, pvcDir, restoreRequest, shopPlan } from '../e2e/app-fixture';
import { recordingHistories, saveHistory } from '../harness/histories';

const KEY_ENV = 'TDR_REPLICATION_KEY';
const ROWS = 40;
const DRCTL = path.join(__dirname, '../../dist/client/drctl.js');

describe('replication of the sample application to the target site\'s own store', () => {
  let env: TestWorkflowEnvironment;
  let ns: TestNamespace;
  let plan: Plan;
  let files: Record<string, string>;
  let procs: TestProcess[] = [];
  let taskQueue: string;
  let primary: StoreRef;
  let standby: StoreRef;
  let first: BackupReport;
  let second: BackupReport;
  let standbyBytesAfterFirst = 0;
  const restoredNamespaces: string[] = [];
  const figures: Record<string, unknown> = {};

  const takePoint = () =>
    env.client.workflow.execute(backup, { taskQueue, workflowId: uniqueId('backup'), args: [{ plan, agentHeartbeatTimeoutMs: 10_000 }] });
  const ship = (pointId: string): Promise<ShipPointResult> => shipPoint({ planName: plan.metadata.name, pointId, source: primary, standby, keyEnv: KEY_ENV });
  const storeBytes = async (ref: StoreRef) => (await listAll(openStore(ref), '')).reduce((n, o) => n + o.size, 0);

  beforeAll(async () => {
    process.env[KEY_ENV] = generateMasterKey();
    env = await attachTestEnv();
    ns = await freshNamespace('source', 'shop-repl');
    files = await deployShop(ns.name, 6 * 1024 * 1024);
    for (let i = 1; i <= ROWS; i++) await execInPod('source', ns.name, 'db-0', 'postgres', psql(`INSERT INTO orders (id, item) VALUES (${i}, 'before-${i}');`));
    primary = (await freshStore('dr')).ref;
    standby = (await freshTargetStore('dr')).ref;
    const base = shopPlan(uniqueId('shop').toLowerCase(), ns.name, primary, KEY_ENV);
    plan = validatePlan({
      ...base,
      spec: {
        ...base.spec,
        rpo: '1m',
        standbys: [standbyOn('target', standby)],
      },
    });
    expect(standbyStoreRef(standbySite(plan, 'target'))).toMatchObject({ endpoint: process.env.S3_ENDPOINT_TARGET, bucket: standby.bucket });
    taskQueue = uniqueId('repl');
    const procEnv = { [KEY_ENV]: process.env[KEY_ENV]! };
    procs = [startWorkerProcess(taskQueue, procEnv), startAgentProcess('source', NODES, procEnv), startAgentProcess('target', NODES, procEnv)];
  });

  afterAll(async () => {
    if (!sourceStoreRunning()) await startSourceStore();
    await Promise.all(procs.map((p) => p.kill()));
    for (const t of restoredNamespaces) await coreApi('target').deleteNamespace({ name: t }).catch(() => undefined);
    await ns?.cleanup().catch(() => undefined);
    await env?.teardown();
    console.log(`[replication figures] ${JSON.stringify(figures)}`);
  });

  it('ships a point to the standby store: an interrupted ship continues, the catalog lands last, a second ship does nothing', async () => {
    first = await takePoint();
    const src = openStore(primary);
    const dst = openStore(standby);
    const key = readMasterKey({ env: KEY_ENV });

    // A crash after the packs landed but before they were indexed (the index PUT fails).
    const crashing: ObjectStore = {
      location: dst.location,
      put: (k, body, o) => (k.startsWith('repo/index/') ? Promise.reject(new Error('simulated crash before the index was written')) : dst.put(k, body, o)),
      putStream: (k, body, o) => dst.putStream(k, body, o),
      get: (k) => dst.get(k),
      getRange: (k, off, len) => dst.getRange(k, off, len),
      head: (k) => dst.head(k),
      list: (p) => dst.list(p),
      delete: (ks) => dst.delete(ks),
    };
    await expect(shipPointBetween(src, crashing, key, { planName: plan.metadata.name, pointId: first.pointId, keyEnv: KEY_ENV })).rejects.toThrow(/simulated crash/);
    const landedPacks = await listAll(dst, 'repo/packs/');
    expect(landedPacks.length).toBeGreaterThan(0);
    // Not a recovery point yet at the standby: no catalog, the in-progress marker says so.
    expect((await listPoints(dst, plan.metadata.name)).map((p) => p.status)).toEqual(['in-progress']);

    const r = await ship(first.pointId);
    expect(r.alreadyShipped).toBe(false);
    expect(r.packsAlreadyLanded).toBe(landedPacks.length);
    expect(r.packsCopied).toBe(0);
    expect(r.chunksMissing).toBe(r.chunks);
    expect(r.capturedAt).toBe((await readCatalog(src, plan.metadata.name, first.pointId, await openRepositoryKeys(primary, { env: KEY_ENV }))).startedAt);
    const landedPackBytes = landedPacks.reduce((n, o) => n + o.size, 0);
    expect(r.bytesShipped).toBeLessThan(landedPackBytes / 4); // the resumed attempt did not copy the packs again

    // Complete at the standby: the same catalog bytes, every chunk indexed and readable there.
    expect((await dst.get(`points/${plan.metadata.name}/${first.pointId}/catalog.json`))!.equals((await src.get(`points/${plan.metadata.name}/${first.pointId}/catalog.json`))!)).toBe(true);
    expect(await listPoints(dst, plan.metadata.name)).toEqual([expect.objectContaining({ pointId: first.pointId, status: 'complete' })]);
    const repo = await openRepository(standby, { env: KEY_ENV }, { create: false });
    const verified = await verifyPoint(repo, await readCatalog(dst, plan.metadata.name, first.pointId, repo.keys), { readData: true });
    expect(verified.problems).toEqual([]);
    expect(verified.chunksRead).toBeGreaterThan(5);
    expect(await newestPointAtStandby(standby, plan.metadata.name)).toMatchObject({ pointId: first.pointId, capturedAt: r.capturedAt });

    const again = await ship(first.pointId);
    expect(again).toMatchObject({ alreadyShipped: true, bytesShipped: 0, objectsShipped: 0 });
    standbyBytesAfterFirst = await storeBytes(standby);
    figures.firstPointBytesAtStandby = standbyBytesAfterFirst;
    figures.firstPointResumedShipBytes = r.bytesShipped;
  });

  it('ships a second point of the unchanged application with almost nothing uploaded to the standby', async () => {
    second = await takePoint();
    const r = await ship(second.pointId);
    figures.secondPointBytesShipped = r.bytesShipped;
    figures.secondPointChunks = `${r.chunksMissing}/${r.chunks} missing`;
    expect(r.alreadyShipped).toBe(false);
    expect(r.chunks).toBeGreaterThan(5);
    expect(r.bytesShipped).toBeLessThan(standbyBytesAfterFirst * 0.1);
    // The standby stores what the primary stores, no more.
    figures.standbyBytes = await storeBytes(standby);
    figures.primaryRepoBytes = await storeBytes(primary);
    expect((await listPoints(openStore(standby), plan.metadata.name)).filter((p) => p.status === 'complete').map((p) => p.pointId).sort()).toEqual([first.pointId, second.pointId].sort());
  });

  it('refuses a standby store whose repository was made with another key, and writes no catalog there', async () => {
    const other = await freshTargetStore('dr');
    await Repository.init(other.store, Buffer.from(generateMasterKey(), 'base64'));
    await expect(shipPoint({ planName: plan.metadata.name, pointId: first.pointId, source: primary, standby: other.ref, keyEnv: KEY_ENV })).rejects.toThrow(
      /created with another key than the primary's/,
    );
    expect(await listAll(other.store, 'points/')).toEqual([]);
  });

  it('restores the shipped point from the standby store alone to the target cluster while the source MinIO is stopped: same rows, same files', async () => {
    const t = `${ns.name}-standby`;
    restoredNamespaces.push(t);
    await stopSourceStore();
    try {
      await expect(openStore(primary).head('repo/config')).rejects.toThrow();
      const r: RestoreReport = await env.client.workflow.execute(restore, {
        taskQueue,
        workflowId: uniqueId('restore-standby'),
        args: [
          restoreRequest(plan, first.pointId, KEY_ENV, {
            store: standby,
            agentHeartbeatTimeoutMs: 10_000,
            namespaceMapping: { [ns.name]: t },
            storageClassMapping: { 'local-path': 'local-path-b' },
            postRestoreChecks: [{ name: 'orders', namespace: t, matchLabels: { 'app.kubernetes.io/name': 'db' }, container: 'postgres', command: psql('SELECT count(*) FROM orders;') }],
          }),
        ],
      });
      figures.restoreFromStandbyRtoMs = r.rtoMs;
      expect(r.point).toBe(`${plan.metadata.name}/${first.pointId}`);
      expect(r.checks.map((c) => c.ok)).toEqual([true]);
      const rows = await execInPod('target', t, 'db-0', 'postgres', psql("SELECT count(*) FROM orders WHERE item LIKE 'before-%';"));
      expect(rows.exitCode).toBe(0);
      expect(Number(rows.stdout.trim())).toBe(ROWS);
      expect(hashTree(await pvcDir('target', t, 'uploads'))).toEqual(files);
    } finally {
      await startSourceStore();
    }
  });

  it('replicates every interval: points shipped across continue-as-new, updates obeyed, achieved RPO under the target', async () => {
    const intervalMs = 4_000;
    // One cycle per run: every cycle ends in a continue-as-new that must carry the state.
    const started = await startReplication(env.client, taskQueue, plan, 'target', { intervalMs, maxCyclesPerRun: 1, backup: { agentHeartbeatTimeoutMs: 10_000 } });
    expect(started.started).toBe(true);
    expect(started.workflowId).toBe(`replicate/${plan.metadata.name}/target`);
    const again = await startReplication(env.client, taskQueue, plan, 'target', { intervalMs });
    expect(again.started).toBe(false);
    expect(again.handle.firstExecutionRunId).toBe(started.handle.firstExecutionRunId);
    const h = env.client.workflow.getHandle(started.workflowId);
    const status = () => h.query(replicateStatusQuery);
    const waitFor = async (what: string, ok: (s: ReplicateStatus) => boolean, timeoutMs = 150_000) => {
      const deadline = Date.now() + timeoutMs;
      let s = await status();
      while (!ok(s)) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; status: ${JSON.stringify(s)}`);
        await new Promise((r) => setTimeout(r, 500));
        s = await status();
      }
      return s;
    };

    // It read the standby's newest point from the store before its first cycle shipped anything.
    const t0 = Date.now();
    const s0 = await waitFor('the first cycle', (s) => s.cycles >= 1);
    if (s0.pointsShipped === 0) expect(s0.newest?.pointId).toBe(second.pointId);
    const s2 = await waitFor('2 points shipped', (s) => s.pointsShipped >= 2);
    figures.replicateTwoCyclesMs = Date.now() - t0;
    expect(s2.runs).toBeGreaterThanOrEqual(2); // continued as new after each cycle, state carried
    expect(s2.failures).toBe(0);
    expect(s2.lastError).toBeUndefined();
    expect(s2.targetRpoMs).toBe(60_000);
    expect(s2.achievedRpoMs).toBeLessThan(60_000);
    const live = liveRpo(s2);
    figures.achievedRpoMs = live.achievedRpoMs;
    figures.lastCycle = s2.lastCycle;
    expect(live.achievedRpoMs).toBeLessThan(60_000);
    expect(live.rpoHealth).toBe('ok');
    expect(s2.bytesShipped).toBeLessThan(standbyBytesAfterFirst * 0.2); // incremental: the standby had the data

    // An interval above the rpo is refused, naming why; a valid one is taken.
    const refused = await h.executeUpdate(setReplicationIntervalUpdate, { args: [120_000] }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(WorkflowUpdateFailedError);
    expect(String((refused as WorkflowUpdateFailedError).cause?.message)).toMatch(/above the plan's rpo 1m/);
    expect((await h.executeUpdate(setReplicationIntervalUpdate, { args: [50_000] })).intervalMs).toBe(50_000);

    // Pause: the cycle in flight ends, no new one starts; replicate-now is refused while paused.
    await h.executeUpdate(pauseReplicationUpdate);
    const paused = await waitFor('paused and idle', (s) => s.paused && s.phase === 'Paused');
    await expect(h.executeUpdate(replicateNowUpdate)).rejects.toThrow(WorkflowUpdateFailedError);
    await new Promise((r) => setTimeout(r, 5_000));
    expect((await status()).cycles).toBe(paused.cycles);

    // Resume, and replicate-now does not wait for the (now long) interval.
    await h.executeUpdate(resumeReplicationUpdate);
    await h.executeUpdate(replicateNowUpdate);
    const now = await waitFor('the replicate-now point shipped', (s) => s.pointsShipped > paused.pointsShipped && s.phase === 'Waiting');
    expect(now.intervalMs).toBe(50_000);
    expect(liveRpo(now).achievedRpoMs).toBeLessThan(60_000);

    // Every point it shipped is complete at the standby; the newest is the one the status names.
    const atStandby = (await listPoints(openStore(standby), plan.metadata.name)).filter((p) => p.status === 'complete');
    expect(atStandby.length).toBeGreaterThanOrEqual(2 + now.pointsShipped);
    expect(atStandby[0].pointId).toBe(now.newest!.pointId);

    // The UI's view: search attributes and current details.
    const d = await h.describe();
    expect(d.typedSearchAttributes.getAll().map((p) => p.key.name)).toEqual(expect.arrayContaining(['DrPlan', 'DrOperation', 'DrPhase', 'DrRpoSeconds', 'DrTargetCluster']));
    figures.replicate = { cycles: now.cycles, runs: now.runs, pointsShipped: now.pointsShipped, bytesShipped: now.bytesShipped, achievedRpoMs: liveRpo(now).achievedRpoMs, targetRpoMs: now.targetRpoMs };

    // The operator's view through drctl: start again finds the running loop; status shows the RPO.
    const planFile = path.join(process.env.TDR_TEST_STACK_DIR!, `${plan.metadata.name}.yaml`);
    writeFileSync(planFile, YAML.stringify(plan));
    const cliEnv = { ...process.env, TEMPORAL_TASK_QUEUE: taskQueue };
    const startOut = execFileSync(process.execPath, [DRCTL, 'replicate', 'start', planFile], { env: cliEnv, encoding: 'utf8' });
    expect(startOut).toContain(`replication replicate/${plan.metadata.name}/target is already running`);
    const cliStatus = JSON.parse(execFileSync(process.execPath, [DRCTL, 'replicate', 'status', plan.metadata.name, '--site', 'target', '--json'], { env: cliEnv, encoding: 'utf8' })) as ReplicateStatus;
    // (The interval is 50 s now, so the live RPO may pass the 1m target here: drctl must say which.)
    expect(cliStatus).toMatchObject({ planName: plan.metadata.name, site: 'target', intervalMs: 50_000, newest: { pointId: now.newest!.pointId } });
    expect(cliStatus.achievedRpoMs).toBeGreaterThan(0);
    expect(cliStatus.rpoHealth).toBe(rpoHealth(cliStatus.achievedRpoMs, 60_000));
    const text = execFileSync(process.execPath, [DRCTL, 'replicate', 'status', planFile], { env: cliEnv, encoding: 'utf8' });
    expect(text).toMatch(/achieved RPO\s+\S+ \(target 1m\): (OK|OVER-TARGET)/);
    figures.drctlStatus = text.split('\n').slice(0, 3).join(' | ');
    // drctl status, across everything: the plan's replication to target with its RPO health and last point.
    const overview = JSON.parse(execFileSync(process.execPath, [DRCTL, 'status', plan.metadata.name, '-o', 'json'], { env: cliEnv, encoding: 'utf8' })) as PlanStatus[];
    expect(overview).toEqual([expect.objectContaining({ plan: plan.metadata.name, lastPoint: expect.objectContaining({ pointId: expect.any(String) }), replication: [expect.objectContaining({ site: 'target', targetRpoMs: 60_000, rpoHealth: expect.stringMatching(/^(ok|over-target)$/) })] })]);

    await h.cancel();
    await expect(h.result()).rejects.toThrow();

    if (recordingHistories()) {
      // Every run of the chain; kept: the first (a cycle: child backup + ship, then continue-as-new)
      // and the one that took the most updates (pause, resume, replicate-now, interval).
      const runs: temporal.api.history.v1.IHistory[] = [];
      for (let runId: string | undefined = started.handle.firstExecutionRunId; runId; ) {
        const history = await env.client.workflow.getHandle(started.workflowId, runId).fetchHistory();
        runs.push(history);
        runId = history.events?.find((e) => e.workflowExecutionContinuedAsNewEventAttributes)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
      }
      const updates = (h: temporal.api.history.v1.IHistory) => (h.events ?? []).filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes).length;
      const withUpdates = runs.reduce((a, b) => (updates(b) > updates(a) ? b : a));
      for (const [history, name] of [[runs[0], 'replicate-v2-fan-out'], [withUpdates, 'replicate-v2-fan-out-updates']] as const) {
        saveHistory(history, name);
      }
      figures.recordedRuns = `${runs.length} runs; updates in the recorded one: ${updates(withUpdates)}`;
    }
  }, 420_000);

  it('keeps replicating when its worker is SIGKILLed mid-cycle: the cycle resumes on a new worker and its point lands complete at the standby', async () => {
    const started = await startReplication(env.client, taskQueue, plan, 'target', {
      intervalMs: 60_000,
      backup: { agentHeartbeatTimeoutMs: 10_000 },
      shipHeartbeatTimeoutMs: 5_000,
    });
    const h = started.handle;
    const status = () => h.query(replicateStatusQuery);
    const before = await status();
    // The first cycle starts at once: kill the worker as soon as it is backing up or shipping.
    let phase = before.phase;
    const deadline = Date.now() + 120_000;
    while (phase !== 'Backup' && phase !== 'Ship') {
      if (Date.now() > deadline) throw new Error(`no cycle started; status ${JSON.stringify(await status())}`);
      await new Promise((r) => setTimeout(r, 50));
      phase = (await status()).phase;
    }
    await procs[0].kill('SIGKILL');
    procs[0] = startWorkerProcess(taskQueue, { [KEY_ENV]: process.env[KEY_ENV]! });
    let after = await status();
    while (after.pointsShipped <= before.pointsShipped) {
      if (Date.now() > deadline + 180_000) throw new Error(`the cycle did not complete after the worker restart; status ${JSON.stringify(after)}`);
      await new Promise((r) => setTimeout(r, 500));
      after = await status();
    }
    figures.replicateKilledIn = phase;
    const newest = after.newest!.pointId;
    const dst = openStore(standby);
    expect((await listPoints(dst, plan.metadata.name)).find((p) => p.pointId === newest)).toMatchObject({ status: 'complete' });
    const repo = await openRepository(standby, { env: KEY_ENV }, { create: false });
    expect((await verifyPoint(repo, await readCatalog(dst, plan.metadata.name, newest, repo.keys), { readData: true })).problems).toEqual([]);
    await h.cancel();
    await expect(h.result()).rejects.toThrow();
  }, 420_000);

  it('fans out to two standby sites: both loops keep shipping, sharing the points of the primary instead of colliding on its one backup', async () => {
    const [a, b] = [(await freshTargetStore('fan-a')).ref, (await freshTargetStore('fan-b')).ref];
    const fresh = (await freshStore('fan')).ref;
    const base = shopPlan(uniqueId('fan').toLowerCase(), ns.name, fresh, KEY_ENV);
    const fanPlan = validatePlan({ ...base, spec: { ...base.spec, rpo: '1m', standbys: [standbyOn('site-a', a), standbyOn('site-b', b)] } });
    const loops = await Promise.all(['site-a', 'site-b'].map((site) => startReplication(env.client, taskQueue, fanPlan, site, { intervalMs: 4_000, backup: { agentHeartbeatTimeoutMs: 10_000 } })));
    const statuses = () => Promise.all(loops.map((l) => l.handle.query(replicateStatusQuery)));
    const deadline = Date.now() + 240_000;
    let s = await statuses();
    while (!s.every((x) => x.pointsShipped >= 3)) {
      if (Date.now() > deadline) throw new Error(`fan-out did not ship 3 points to each site: ${JSON.stringify(s)}`);
      await new Promise((r) => setTimeout(r, 1000));
      s = await statuses();
    }
    for (const l of loops) await l.handle.cancel();
    for (const l of loops) await l.handle.result().catch(() => undefined);
    expect(s.map((x) => x.failures)).toEqual([0, 0]);
    const complete = async (ref: StoreRef) => (await listPoints(openStore(ref), fanPlan.metadata.name)).filter((p) => p.status === 'complete').map((p) => p.pointId);
    const [atA, atB, atPrimary] = await Promise.all([complete(a), complete(b), complete(fresh)]);
    const shared = atA.filter((id) => atB.includes(id));
    figures.fanOut = { shippedA: s[0].pointsShipped, shippedB: s[1].pointsShipped, pointsAtPrimary: atPrimary.length, shared: shared.length };
    expect(shared.length).toBeGreaterThan(0);
    // Fewer backups than ships: the loops shared points.
    expect(atPrimary.length).toBeLessThan(s[0].pointsShipped + s[1].pointsShipped);
    for (const id of [...atA, ...atB]) expect(atPrimary).toContain(id);
  }, 300_000);
});
