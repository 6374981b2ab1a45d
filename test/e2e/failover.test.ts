/**
 * Disaster recovery end to end on the two-site stack, with a writer inserting rows into the sample
 * application's PostgreSQL on whichever site is primary (each acknowledged row is a committed
 * write). In order:
 *  1. replication keeps the achieved RPO under the target over 10+ intervals while rows are written;
 *  2. a failover whose plan gates fencing is rejected with `drctl reject`: nothing changes;
 *  3. a planned failover to "target" (worker SIGKILLed at two steps) loses no committed row,
 *     leaves "source" scaled to zero, switches traffic and replicates back; a second failover
 *     started meanwhile is refused;
 *  4. failback through `drctl failback`, gated before the traffic switch until `drctl approve`
 *     (worker SIGKILLed while the fenced old primary is cleared), returns every row written on
 *     "target";
 *  5. an unplanned failover after the whole "source" site stops (API server and MinIO), with the
 *     mandatory fence confirmation approved through drctl (worker SIGKILLed in the restore): the
 *     app runs on "target" from the newest point at its store, the rows missing are exactly
 *     those committed in the reported data-loss window, and when "source" comes back the
 *     replication from "target" scales it to zero: never two primaries.
 */
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import path from 'node:path';
import YAML from 'yaml';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowHandle } from '@temporalio/client';
import { findFailover, startFailover } from '../../client/commands/failover';
import { listRuns } from '../../client/commands/runs';
import { dashboardMetrics, exportedMetrics, ruleMetrics, sample } from '../harness/metrics';
import { DrOutcome, DrRecoveryPoint, DrSite } from '../../shared/search-attributes';
import { startReplication, liveRpo } from '../../client/commands/replicate';
import { failoverStatusQuery } from '../../workflows/failover';
import { replicateStatusQuery } from '../../workflows/replicate';
import { type FailoverMode, type FailoverPhase, type FailoverReport, type FailoverStatus } from '../../shared/failover';
import { replicateWorkflowId, type ReplicateStatus } from '../../shared/replication';
import { standbySite, standbyStoreRef, validatePlan, type Plan } from '../../shared/plan';
import { generateMasterKey } from '../../activities/datapath/crypto';
import { openStore } from '../../activities/store/open-store';
import { attachTestEnv, uniqueId } from '../harness/temporal';
import { freshStore } from '../harness/store';
import { freshTargetStore, standbyOn, startSourceStore, stopSourceStore, sourceStoreRunning } from '../harness/sites';
import { appsApi, coreApi, execInPod, freshNamespace, stackWorkdir, startCluster, stopCluster, waitFor, type ClusterName, type TestNamespace } from '../harness/clusters';
import { recordHistory } from '../harness/histories';
import { visitRunInTemporalUi } from '../harness/temporal-ui';
import { freePort } from '../stack/postgres';
import { startAgentProcess, startCodecServer, startWorkerProcess, type TestProcess } from '../harness/processes';
import { deployShop, NODES, psql, shopPlan, waitForDatabase } from './app-fixture';

const KEY_ENV = 'TDR_FAILOVER_KEY';
const DRCTL = path.join(__dirname, '../../dist/client/drctl.js');
const RPO_MS = 30_000;
const INTERVAL_MS = 10_000;

interface Row {
  id: number;
  /** The row's commit-time stamp from the database (transaction start), ms since epoch. */
  at: number;
  cluster: ClusterName;
}

/** Inserts a row every ~100 ms into the primary's database; remembers every row the database acknowledged. */
class Writer {
  readonly acked: Row[] = [];
  failures = 0;
  lastError = '';
  private next = 1_000_000;
  private running?: Promise<void>;
  private stopped = false;
  constructor(private readonly ns: string) {}

  async start(cluster: ClusterName): Promise<void> {
    await this.stop();
    this.stopped = false;
    this.running = (async () => {
      while (!this.stopped) {
        const id = this.next++;
        const r = await execInPod(cluster, this.ns, 'db-0', 'postgres', psql(`INSERT INTO orders (id, item) VALUES (${id}, 'w-${cluster}') RETURNING (extract(epoch from at) * 1000)::bigint;`), undefined, 10_000).catch(
          (e: Error) => ({ exitCode: -1, stdout: '', stderr: e.message }),
        );
        // Acknowledged only when the database answered with the commit stamp (an exec cut short by a dying site may end with no output).
        const line = r.stdout.split('\n')[0]!.trim();
        const at = r.exitCode === 0 && /^\d{13}$/.test(line) ? Number(line) : NaN;
        if (Number.isFinite(at)) this.acked.push({ id, at, cluster });
        else {
          this.failures++;
          this.lastError = `${cluster}: exit ${r.exitCode}: ${r.stderr.slice(0, 300)} ${r.stdout.slice(0, 100)}`;
        }
        await new Promise((res) => setTimeout(res, r.exitCode === 0 ? 100 : 500));
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.running;
  }
}

async function rowIds(cluster: ClusterName, ns: string): Promise<Set<number>> {
  await waitForDatabase(cluster, ns, 120_000);
  const r = await execInPod(cluster, ns, 'db-0', 'postgres', psql('SELECT id FROM orders;'));
  if (r.exitCode !== 0) throw new Error(`reading rows on ${cluster}: ${r.stderr}`);
  return new Set(r.stdout.split('\n').filter(Boolean).map(Number));
}

/** What of the app runs on a cluster: the database's replicas, every workload's replicas (db 1, web 2, uploads 1 when serving) and their pods. */
async function serving(cluster: ClusterName, ns: string): Promise<{ db: number; replicas: number; pods: number }> {
  await coreApi(cluster).readNamespace({ name: ns }); // a missing namespace is not "scaled to zero"
  const apps = appsApi(cluster);
  const sets = (await apps.listNamespacedStatefulSet({ namespace: ns })).items;
  const deployments = (await apps.listNamespacedDeployment({ namespace: ns })).items;
  const pods = (await coreApi(cluster).listNamespacedPod({ namespace: ns })).items.filter((p) => p.metadata?.ownerReferences?.some((o) => o.kind === 'StatefulSet' || o.kind === 'ReplicaSet')).length;
  return {
    db: sets.find((x) => x.metadata?.name === 'db')?.spec?.replicas ?? 0,
    replicas: [...sets, ...deployments].reduce((n, w) => n + (w.spec?.replicas ?? 1), 0),
    pods,
  };
}
const SERVING = { db: 1, replicas: 4 };
const FENCED = { db: 0, replicas: 0, pods: 0 };

describe('failover and failback of the sample application between two sites', () => {
  let env: TestWorkflowEnvironment;
  let ns: TestNamespace;
  let trafficNs: TestNamespace;
  let plan: Plan;
  let taskQueue: string;
  let worker: TestProcess;
  let agents: TestProcess[] = [];
  let writer: Writer;
  let sourceStopped = false;
  let metricsAddress: string;
  let agentMetricsAddress: string;
  /** The traffic-switch webhook: a server in this process recording what it was sent. */
  const switched: Record<string, unknown>[] = [];
  let webhook: Server;
  const figures: Record<string, unknown> = {};
  const procEnv = () => ({ [KEY_ENV]: process.env[KEY_ENV]! });
  const workerEnv = () => ({ ...procEnv(), TDR_METRICS_ADDRESS: metricsAddress });
  const cliEnv = () => ({ ...process.env, TEMPORAL_TASK_QUEUE: taskQueue, DRCTL_USER: 'e2e-sre' });
  const drctl = (...args: string[]) => execFileSync(process.execPath, [DRCTL, ...args], { env: cliEnv(), encoding: 'utf8' });
  const withGates = (approvals: ('before-fencing' | 'before-traffic-switch')[]): Plan => validatePlan({ ...plan, spec: { ...plan.spec, failover: { ...plan.spec.failover, approvals } } });
  const planFile = (p: Plan, name: string) => {
    const file = path.join(process.env.TDR_TEST_STACK_DIR!, `${p.metadata.name}-${name}.yaml`);
    writeFileSync(file, YAML.stringify(p));
    return file;
  };
  const restartWorker = async () => {
    await worker.kill('SIGKILL');
    worker = startWorkerProcess(taskQueue, workerEnv());
  };
  const loopStatus = (site: string) => env.client.workflow.getHandle(replicateWorkflowId(plan.metadata.name, site)).query(replicateStatusQuery);
  const running = async (id: string) => (await env.client.workflow.getHandle(id).describe()).status.name === 'RUNNING';

  /** Follows a failover: SIGKILLs the worker the first time the run enters each of `killAt`, returns the report. */
  async function follow(handle: WorkflowHandle, killAt: FailoverPhase[], onGate?: (s: FailoverStatus) => Promise<void>): Promise<FailoverReport> {
    let done = false;
    const result = (handle.result() as Promise<FailoverReport>).finally(() => (done = true));
    result.catch(() => undefined);
    const todo = new Set(killAt);
    const killed: string[] = [];
    let gated = false;
    while (!done) {
      const s = await handle.query(failoverStatusQuery).catch(() => undefined);
      if (s && todo.has(s.phase)) {
        todo.delete(s.phase);
        await restartWorker();
        killed.push(s.phase);
      }
      if (s?.awaiting && onGate && !gated) {
        gated = true;
        await onGate(s);
      }
      await Promise.race([result.catch(() => undefined), new Promise((r) => setTimeout(r, 250))]);
    }
    const report = await result;
    expect(killed).toEqual(killAt);
    return report;
  }

  beforeAll(async () => {
    process.env[KEY_ENV] = generateMasterKey();
    env = await attachTestEnv();
    ns = await freshNamespace('source', 'shop-dr');
    trafficNs = await freshNamespace('target', 'edge');
    await deployShop(ns.name, 2 * 1024 * 1024);
    await coreApi('target').createNamespacedService({
      namespace: trafficNs.name,
      body: { metadata: { name: 'shop' }, spec: { type: 'ExternalName', externalName: `db.${ns.name}.source.example` } },
    });
    webhook = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        switched.push(JSON.parse(body) as Record<string, unknown>);
        res.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => webhook.listen(0, '127.0.0.1', () => r()));
    const webhookUrl = `http://127.0.0.1:${(webhook.address() as { port: number }).port}/switch`;
    const primary = (await freshStore('dr')).ref;
    const standby = (await freshTargetStore('dr')).ref;
    const base = shopPlan(uniqueId('shopdr').toLowerCase(), ns.name, primary, KEY_ENV);
    plan = validatePlan({
      ...base,
      spec: {
        ...base.spec,
        rpo: `${RPO_MS / 1000}s`,
        standbys: [standbyOn('target', standby)],
        failover: {
          waitReadyTimeout: '3m',
          verify: [{ name: 'orders-readable', podSelector: { namespace: ns.name, matchLabels: { 'app.kubernetes.io/name': 'db' } }, container: 'postgres', command: psql('SELECT count(*) FROM orders;') }],
          trafficSwitch: {
            service: {
              context: 'target',
              namespace: trafficNs.name,
              name: 'shop',
              externalNames: { primary: `db.${ns.name}.source.example`, target: `db.${ns.name}.target.example` },
            },
            webhook: { url: webhookUrl },
          },
        },
      },
    });
    taskQueue = uniqueId('dr');
    metricsAddress = `127.0.0.1:${await freePort()}`;
    worker = startWorkerProcess(taskQueue, workerEnv());
    agentMetricsAddress = `127.0.0.1:${await freePort()}`;
    agents = [startAgentProcess('source', NODES, { ...procEnv(), TDR_METRICS_ADDRESS: agentMetricsAddress }), startAgentProcess('target', NODES, procEnv())];
    writer = new Writer(ns.name);
  });

  afterAll(async () => {
    await writer?.stop();
    if (sourceStopped) {
      await startCluster(stackWorkdir(), 'source').catch((e) => console.error(e));
    }
    if (!sourceStoreRunning()) await startSourceStore();
    for (const site of ['primary', 'target']) await env?.client.workflow.getHandle(replicateWorkflowId(plan.metadata.name, site)).cancel().catch(() => undefined);
    if (env) await (await findFailover(env.client, plan.metadata.name, 'running'))?.terminate('test ended').catch(() => undefined);
    await Promise.all([worker, ...agents].filter(Boolean).map((p) => p.kill()));
    await coreApi('target').deleteNamespace({ name: ns.name }).catch(() => undefined);
    await ns?.cleanup().catch(() => undefined);
    await trafficNs?.cleanup().catch(() => undefined);
    webhook?.close();
    await env?.teardown();
    console.log(`[failover figures] ${JSON.stringify(figures)}`);
  });

  it('keeps the achieved RPO under the target over at least 10 intervals while rows are written', async () => {
    await writer.start('source');
    const started = await startReplication(env.client, taskQueue, plan, 'target', { intervalMs: INTERVAL_MS, backup: { agentHeartbeatTimeoutMs: 10_000 } });
    let first: ReplicateStatus | undefined;
    let s: ReplicateStatus;
    let maxRpo = 0;
    const deadline = Date.now() + 420_000;
    do {
      s = await started.handle.query(replicateStatusQuery);
      const live = liveRpo(s).achievedRpoMs;
      if (s.newest && !first) first = s;
      if (first && live !== undefined) maxRpo = Math.max(maxRpo, live);
      if (Date.now() > deadline) throw new Error(`replication did not ship 11 points in time: ${JSON.stringify(s)}`);
      await new Promise((r) => setTimeout(r, 500));
    } while (s.pointsShipped < 11);
    figures.replication = { intervals: s.pointsShipped - first!.pointsShipped, maxAchievedRpoMs: maxRpo, targetRpoMs: RPO_MS, intervalMs: INTERVAL_MS, failures: s.failures, lastCycleMs: s.lastCycle?.durationMs, rowsWritten: writer.acked.length };
    expect(s.pointsShipped - first!.pointsShipped).toBeGreaterThanOrEqual(10);
    expect(s.failures).toBe(0);
    expect(maxRpo).toBeGreaterThan(0);
    expect(maxRpo).toBeLessThan(RPO_MS);
    expect(writer.acked.length).toBeGreaterThan(50);

    // Prometheus: the worker exports the newest point's capture time and the target; the shipped alert rules use exactly these series.
    const metrics = await (await fetch(`http://${metricsAddress}/metrics`)).text();
    const series = (name: string) =>
      metrics.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(`plan="${plan.metadata.name}"`) && l.includes('site="target"'));
    const newest = series('dr_replication_newest_point_timestamp_seconds');
    expect(newest).toBeDefined();
    const latest = await started.handle.query(replicateStatusQuery);
    expect(Number(newest!.split(' ').at(-1))).toBeGreaterThanOrEqual(Math.floor(Date.parse(s.newest!.capturedAt) / 1000));
    expect(Number(newest!.split(' ').at(-1))).toBeLessThanOrEqual(Math.floor(Date.parse(latest.newest!.capturedAt) / 1000));
    expect(Number(series('dr_replication_rpo_target_seconds')!.split(' ').at(-1))).toBe(RPO_MS / 1000);
    // The shipped alert rules and Grafana dashboard query only series the worker exports: replication's,
    // and the backups its cycles ran (dr_runs_total, dr_backup_*). Drill series are the drill test's.
    const exported = exportedMetrics(metrics);
    expect(sample(metrics, 'dr_replication_interval_seconds', { plan: plan.metadata.name, site: 'target' })).toBe(INTERVAL_MS / 1000);
    expect(sample(metrics, 'dr_replication_shipped_bytes_total', { plan: plan.metadata.name, site: 'target' })).toBeGreaterThan(0);
    expect(sample(metrics, 'dr_runs_total', { plan: plan.metadata.name, operation: 'backup', outcome: 'succeeded' })).toBeGreaterThanOrEqual(10);
    const queried = [...ruleMetrics(), ...dashboardMetrics()];
    expect(dashboardMetrics().length).toBeGreaterThanOrEqual(7);
    // Series that appear only once something happened: drills (the drill test scrapes those) and the SDK's failure counters.
    // `up` is Prometheus's own, from scraping the node agents (below: they serve /metrics).
    const onlyOnceSeen = ['dr_drills_total', 'dr_drill_last_success_timestamp_seconds', 'temporal_workflow_failed', 'temporal_activity_execution_failed', 'up'];
    expect(queried.filter((m) => !exported.has(m) && !onlyOnceSeen.includes(m))).toEqual([]);
    expect(exported.has('temporal_workflow_completed')).toBe(true); // the SDK's own series, from the same endpoint
    const agentMetrics = await (await fetch(`http://${agentMetricsAddress}/metrics`)).text();
    expect(agentMetrics).toMatch(/^temporal_\w+\{[^}]*task_queue="temporal-dr-agent/m);
  }, 480_000);

  it('stops cleanly when the fencing gate is rejected with drctl reject: the source keeps serving, replication keeps running', async () => {
    const gated = withGates(['before-fencing']);
    const { handle } = await startFailover(env.client, taskQueue, gated, { operation: 'failover', mode: 'planned', from: 'primary', to: 'target' });
    const report = await follow(handle, [], async (s) => {
      expect(s.awaiting).toMatchObject({ gate: 'before-fencing' });
      const d = await handle.describe();
      expect(d.typedSearchAttributes.getAll().find((p) => p.key.name === 'DrPhase')?.value).toBe('AwaitingApproval');
      // The operator's view in the Temporal UI: filter by the plan, open the failover, read its summary and what it waits for
      // (encrypted in the history: the UI decrypts them through the operator's codec server).
      const codec = await startCodecServer();
      const seen = await visitRunInTemporalUi({
        name: 'failover-awaiting-approval',
        query: `DrPlan = '${plan.metadata.name}' AND DrOperation = 'failover'`,
        workflowId: handle.workflowId,
        runId: (await handle.describe()).runId,
        expectInList: [handle.workflowId],
        expectOnRun: [`Planned failover of plan ${plan.metadata.name}: primary → target`, 'waiting for approval at gate'],
      }).finally(() => codec.kill());
      figures.ui = seen.screenshots;
      expect(seen.listText).toContain(handle.workflowId);
      expect(seen.listText).not.toContain(replicateWorkflowId(plan.metadata.name, 'target')); // filtered to failovers
      expect(seen.runText).toContain(`Planned failover of plan ${plan.metadata.name}: primary → target`);
      expect(seen.runText).toContain('waiting for approval at gate before-fencing');
      expect(() => drctl('approve', plan.metadata.name, '--gate', 'before-traffic-switch')).toThrow(/waits on gate before-fencing, not before-traffic-switch/);
      expect(drctl('reject', plan.metadata.name, '--gate', 'before-fencing', '--reason', 'change freeze')).toContain('rejected gate before-fencing');
    });
    await recordHistory(handle, 'failover-v2-rejected-before-fencing');
    expect(report).toMatchObject({ outcome: 'rejected', phase: 'Rejected' });
    expect(report.approvals).toEqual([expect.objectContaining({ gate: 'before-fencing', decision: 'rejected', by: 'e2e-sre', reason: 'change freeze' })]);
    expect(report.notes.join(' ')).toContain(`primary is still the primary of ${plan.metadata.name}`);
    expect(report.steps.map((st) => st.name)).toEqual(['Preflight', 'RevertAfterRejection']);
    expect(await serving('source', ns.name)).toEqual({ ...SERVING, pods: 4 });
    expect(await running(replicateWorkflowId(plan.metadata.name, 'target'))).toBe(true);

    // An approval nobody gives: after approvalTimeout it counts as onApprovalTimeout (reject).
    const timing = validatePlan({ ...gated, spec: { ...gated.spec, failover: { ...gated.spec.failover!, approvalTimeout: '3s', onApprovalTimeout: 'reject' } } });
    const timedOut = (await (await startFailover(env.client, taskQueue, timing, { operation: 'failover', mode: 'planned', from: 'primary', to: 'target' })).handle.result()) as FailoverReport;
    expect(timedOut).toMatchObject({ outcome: 'rejected', approvals: [expect.objectContaining({ gate: 'before-fencing', decision: 'timed-out-rejected', by: 'timeout' })] });
    expect(timedOut.notes.join(' ')).toContain('not approved within 3s');

    // A site whose store holds no point: the unplanned failover stops in preflight, nothing changed.
    const empty = (await freshTargetStore('empty')).ref;
    const service = plan.spec.failover!.trafficSwitch!.service!;
    const withEmpty = validatePlan({
      ...plan,
      spec: {
        ...plan.spec,
        standbys: [...plan.spec.standbys!, standbyOn('empty', empty)],
        failover: { ...plan.spec.failover!, trafficSwitch: { ...plan.spec.failover!.trafficSwitch!, service: { ...service, externalNames: { ...service.externalNames, empty: 'nowhere.example' } } } },
      },
    });
    const none = await startFailover(env.client, taskQueue, withEmpty, { operation: 'failover', mode: 'unplanned', from: 'primary', to: 'empty' });
    await expect(none.handle.result()).rejects.toThrow();
    const failed = await none.handle.query(failoverStatusQuery);
    expect(failed).toMatchObject({ phase: 'Failed', steps: [] });
    expect(drctl('failover', plan.metadata.name, '--status', '--json')).toContain('"phase": "Failed"');
    await expect(none.handle.result()).rejects.toMatchObject({ cause: { message: expect.stringContaining('holds no complete point of plan') } });
    expect(await serving('source', ns.name)).toEqual({ ...SERVING, pods: 4 });
    expect(await running(replicateWorkflowId(plan.metadata.name, 'target'))).toBe(true);
    const before = writer.acked.length;
    await waitFor('the writer to go on writing on source', 20_000, async () => writer.acked.length > before + 5);
  }, 180_000);

  it('fails over as planned, with the worker SIGKILLed at two steps: no committed row lost, source at zero, traffic switched, replication reversed', async () => {
    const triggered = Date.now();
    const { handle, failoverId } = await startFailover(env.client, taskQueue, plan, { operation: 'failover', mode: 'planned', from: 'primary', to: 'target' });
    await expect(startFailover(env.client, taskQueue, plan, { operation: 'failover', mode: 'planned', from: 'primary', to: 'target' })).rejects.toThrow(/already running/);
    const report = await follow(handle, ['FinalPoint', 'Restore']);
    await writer.stop();
    await recordHistory(handle, 'failover-v2-planned-worker-killed');
    figures.planned = { failoverId, rtoMs: report.rtoMs, rpoMs: report.rpoMs, wallMs: Date.now() - triggered, steps: report.steps.map((s) => `${s.name}:${s.durationMs}`), rowsAcked: writer.acked.length };

    expect(report).toMatchObject({ outcome: 'completed', phase: 'Done', mode: 'planned', from: 'primary', to: 'target', rpoMs: 0, fencing: { how: 'scaled-to-zero', workloads: 3 } });
    expect(report.steps.map((s) => s.name)).toEqual(['Preflight', 'StopReplication', 'Fence', 'FinalPoint', 'PrepareTarget', 'Restore', 'Activate', 'Verify', 'SwitchTraffic', 'StartReverseReplication']);
    expect(report.rtoMs).toBeGreaterThan(0);
    expect(report.checks).toEqual([expect.objectContaining({ name: 'orders-readable', pod: 'db-0', ok: true })]);
    // No committed row lost: every row the source acknowledged is on the target.
    const onTarget = await rowIds('target', ns.name);
    const lost = writer.acked.filter((r) => !onTarget.has(r.id));
    expect(lost).toEqual([]);
    expect(await serving('source', ns.name)).toEqual(FENCED);
    expect(await serving('target', ns.name)).toMatchObject(SERVING);
    const svc = await coreApi('target').readNamespacedService({ namespace: trafficNs.name, name: 'shop' });
    expect(svc.spec?.externalName).toBe(`db.${ns.name}.target.example`);
    expect(switched).toEqual([{ plan: plan.metadata.name, from: 'primary', to: 'target', failoverId }]);
    expect(report.trafficSwitched).toEqual([`Service target/${trafficNs.name}/shop -> db.${ns.name}.target.example`, expect.stringMatching(/^webhook http:\/\/127\.0\.0\.1:\d+\/switch \(204\)$/)]);
    const stored = JSON.parse((await openStore(standbyStoreRef(standbySite(plan, 'target'))).get(report.reportKey!))!.toString('utf8')) as FailoverReport;
    expect(stored).toMatchObject({ failoverId, outcome: 'completed', pointId: report.pointId });
    expect(report.reverseReplication).toBe(replicateWorkflowId(plan.metadata.name, 'primary'));
    expect(await running(replicateWorkflowId(plan.metadata.name, 'primary'))).toBe(true);
    expect(await running(replicateWorkflowId(plan.metadata.name, 'target'))).toBe(false);

    // The UI's filters: the run's id says which failover it is, its attributes where it went, what it restored, how it ended.
    expect(handle.workflowId).toMatch(new RegExp(`^failover/${plan.metadata.name}/\\d+$`));
    const sa = (await handle.describe()).typedSearchAttributes;
    expect([sa.get(DrSite), sa.get(DrRecoveryPoint), sa.get(DrOutcome)]).toEqual(['target', report.pointId, 'completed']);
    const found = await listRuns(env.client, `DrPlan = '${plan.metadata.name}' AND DrOperation = 'backup' AND DrOutcome = 'succeeded' AND DrRecoveryPoint = '${report.pointId}'`, 5);
    expect(found.map((r) => r.workflowId)).toEqual([`backup/${plan.metadata.name}`]); // the final point's backup, found by the point it took
    // Finished runs are counted per operation and outcome, with their durations. The worker was
    // SIGKILLed mid-failover, so its successor counts what ended since: the failover, and the
    // reverse replication's first backup.
    let metrics = '';
    const runs = (operation: string, outcome: string) => sample(metrics, 'dr_runs_total', { operation, outcome, plan: plan.metadata.name }) ?? 0;
    await waitFor('a backup to end on the restarted worker', 120_000, async () => {
      metrics = await (await fetch(`http://${metricsAddress}/metrics`)).text();
      return runs('backup', 'succeeded') >= 1;
    });
    expect(runs('failover', 'completed')).toBe(1);
    expect(sample(metrics, 'dr_restore_volume_bytes_total', { plan: plan.metadata.name })).toBeGreaterThan(0); // the failover's restore
    expect(metrics).toMatch(/^dr_run_duration_seconds_(bucket|count)\{[^}]*operation="failover"/m);
    expect(metrics).toMatch(new RegExp(`^dr_backup_last_success_timestamp_seconds\\{[^}]*plan="${plan.metadata.name}"`, 'm'));
    expect(metrics).toMatch(new RegExp(`^dr_backup_uploaded_bytes_total\\{[^}]*plan="${plan.metadata.name}"`, 'm'));
  }, 400_000);

  it('fails back with drctl, blocked before the traffic switch until drctl approve: every row written on target returns to source', async () => {
    await writer.start('target');
    await waitFor('rows written on target', 60_000, async () => writer.acked.filter((r) => r.cluster === 'target').length >= 20, () => writer.lastError);
    await waitFor('replication back to source to ship a point written on target', 120_000, async () => {
      const s = await loopStatus('primary').catch(() => undefined);
      return !!s?.newest && Date.parse(s.newest.capturedAt) > writer.acked.find((r) => r.cluster === 'target')!.at;
    });
    const gated = withGates(['before-traffic-switch']);
    const cli = new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [DRCTL, 'failback', planFile(gated, 'failback'), '--json'], { env: cliEnv(), encoding: 'utf8' }, (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    let handle!: Awaited<ReturnType<typeof startFailover>>['handle'];
    await waitFor('the failback to start', 30_000, async () => {
      const h = await findFailover(env.client, plan.metadata.name, 'running');
      const s = await h?.query(failoverStatusQuery).catch(() => undefined);
      if (h && s?.mode === 'planned' && s.from === 'target') handle = h;
      return !!handle;
    });
    expect(handle.workflowId).toMatch(new RegExp(`^failover/${plan.metadata.name}/\\d+$`));
    const report = await follow(handle, ['PrepareTarget'], async (s) => {
      expect(s.awaiting?.gate).toBe('before-traffic-switch');
      // Blocked: the app is up on source, traffic still points at target, until someone approves.
      await new Promise((r) => setTimeout(r, 5000));
      const still = await handle.query(failoverStatusQuery);
      expect(still.phase).toBe('AwaitingApproval');
      expect((await coreApi('target').readNamespacedService({ namespace: trafficNs.name, name: 'shop' })).spec?.externalName).toBe(`db.${ns.name}.target.example`);
      await writer.stop();
      expect(drctl('approve', plan.metadata.name, '--gate', 'before-traffic-switch', '--reason', 'verified by e2e')).toContain('approved gate before-traffic-switch');
    });
    const out = await cli;
    await recordHistory(handle, 'failover-v2-failback-approved');
    expect(out.code).toBe(0);
    expect(JSON.parse(out.stdout)).toMatchObject({ outcome: 'completed', to: 'primary' });
    figures.failback = { rtoMs: report.rtoMs, approvalWaitMs: report.approvals[0]?.waitedMs, steps: report.steps.map((s) => `${s.name}:${s.durationMs}`) };

    expect(report).toMatchObject({ outcome: 'completed', from: 'target', to: 'primary', rpoMs: 0 });
    expect(report.approvals).toEqual([expect.objectContaining({ gate: 'before-traffic-switch', decision: 'approved', by: 'e2e-sre' })]);
    const onSource = await rowIds('source', ns.name);
    expect(writer.acked.filter((r) => !onSource.has(r.id))).toEqual([]);
    expect(writer.acked.filter((r) => r.cluster === 'target').length).toBeGreaterThanOrEqual(20);
    expect(await serving('target', ns.name)).toEqual(FENCED);
    expect(await serving('source', ns.name)).toMatchObject(SERVING);
    expect((await coreApi('target').readNamespacedService({ namespace: trafficNs.name, name: 'shop' })).spec?.externalName).toBe(`db.${ns.name}.source.example`);
    expect(await running(replicateWorkflowId(plan.metadata.name, 'target'))).toBe(true);
  }, 480_000);

  it('fails over unplanned after the whole source site stops: fence confirmed with drctl approve, RPO matches the rows missing, the returning source is kept at zero', async () => {
    await writer.start('source');
    const firstRow = writer.acked.length;
    await waitFor('two points shipped while writing on source', 150_000, async () => {
      const s = await loopStatus('target').catch(() => undefined);
      return (s?.pointsShipped ?? 0) >= 2 && !!s?.newest && Date.parse(s.newest.capturedAt) > (writer.acked[firstRow]?.at ?? Infinity);
    });
    await new Promise((r) => setTimeout(r, 3000));
    // The disaster: the source site's API server, kubelet (and so its database) and MinIO stop.
    sourceStopped = true;
    await Promise.all([stopCluster(stackWorkdir(), 'source'), stopSourceStore()]);
    await writer.stop();
    const lastAcked = writer.acked.filter((r) => r.cluster === 'source').at(-1)!;

    const { handle, failoverId } = await startFailover(env.client, taskQueue, plan, { operation: 'failover', mode: 'unplanned' as FailoverMode, from: 'primary', to: 'target' });
    const report = await follow(handle, ['Restore'], async (s) => {
      expect(s.awaiting?.gate).toBe('confirm-fenced');
      expect(s.awaiting?.question).toContain('is unreachable');
      expect(drctl('approve', plan.metadata.name, '--gate', 'confirm-fenced', '--reason', 'source datacenter is down')).toContain('approved gate confirm-fenced');
    });
    await recordHistory(handle, 'failover-v2-unplanned-confirmed');
    expect(report).toMatchObject({ outcome: 'completed', mode: 'unplanned', fencing: { how: 'confirmed-by-human' } });
    const capturedAt = Date.parse(report.pointCapturedAt!);
    const startedAt = Date.parse(report.startedAt);
    expect(report.rpoMs).toBe(startedAt - capturedAt);

    const onTarget = await rowIds('target', ns.name);
    const missing = writer.acked.filter((r) => !onTarget.has(r.id));
    // Nothing committed before the point's capture is missing; every missing row lies in the reported window.
    expect(writer.acked.filter((r) => r.at < capturedAt && !onTarget.has(r.id))).toEqual([]);
    for (const r of missing) {
      expect(r.at).toBeGreaterThanOrEqual(capturedAt);
      expect(r.at).toBeLessThanOrEqual(startedAt);
    }
    expect(missing.length).toBeGreaterThan(0);
    figures.unplanned = {
      failoverId,
      rtoMs: report.rtoMs,
      reportedRpoMs: report.rpoMs,
      rowsMissing: missing.length,
      missingWindowMs: missing.length ? missing.at(-1)!.at - missing[0].at : 0,
      lastAckedBeforeCaptureMs: capturedAt - Math.max(...writer.acked.filter((r) => r.at < capturedAt).map((r) => r.at)),
      lastAckedToTriggerMs: startedAt - lastAcked.at,
      steps: report.steps.map((s) => `${s.name}:${s.durationMs}`),
    };
    expect(await serving('target', ns.name)).toMatchObject(SERVING);

    // The old primary comes back, its database starting with it: the replication from target fences it again.
    await Promise.all([startCluster(stackWorkdir(), 'source'), startSourceStore()]);
    sourceStopped = false;
    let seen = '';
    await waitFor(
      'the returning source scaled to zero by the replication from target',
      180_000,
      async () => {
        const s = await serving('source', ns.name).catch((e: Error) => ({ error: e.message }));
        const l = await loopStatus('primary').catch(() => undefined);
        seen = `${JSON.stringify(s)}; loop: ${JSON.stringify(l && { phase: l.phase, cycles: l.cycles, standbyFence: l.standbyFence, lastError: l.lastError })}`;
        return 'db' in s && s.db === 0 && s.replicas === 0 && s.pods === 0 && !!l?.standbyFence?.ok;
      },
      () => seen,
    );
    figures.returningSource = seen;
    const s = await loopStatus('primary');
    expect(s.standbyFence).toMatchObject({ ok: true });
    expect(await serving('target', ns.name)).toMatchObject(SERVING);
    const reverse = env.client.workflow.getHandle(replicateWorkflowId(plan.metadata.name, 'primary'));
    await reverse.cancel();
    await reverse.result().catch(() => undefined);
    await recordHistory(reverse, 'replicate-v3-fence-standby-cancelled');
  }, 600_000);
});

