/**
 * DR drills end to end: the sample application (PostgreSQL with rows, files) backed up on "source"
 * and shipped to the standby site's own store; drills restore the newest point from that store
 * into isolated namespaces on "target", check the application, tear down and report.
 *  - a drill scheduled on a short cron runs on its schedule, passes its SQL check, leaves nothing,
 *    and its report (in the standby store) shows RTO and RPO;
 *  - each drill also compares a row count with the value its backup recorded, and fetches a page
 *    through the standby API server's Service proxy;
 *  - a drill whose checks cannot pass fails naming each, and still tears down;
 *  - a drill whose worker is SIGKILLed mid-restore still ends torn down, as does a cancelled one;
 *  - a drill that would restore into a production namespace is refused before anything is created.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { CancelledFailure, WorkflowFailedError } from '@temporalio/client';
import { readDrillReports, scheduleDrills, startDrill } from '../../client/commands/drill';
import { backup } from '../../workflows';
import { drillStatusQuery } from '../../workflows/drill';
import { restoreProgressQuery, restoreWorkflowId } from '../../workflows/restore';
import { DRILL_LABEL, DRILL_NETWORK_POLICY, drillScheduleId, type DrillReport } from '../../shared/drill';
import { planToStoreRef, standbySite, standbyStoreRef, validatePlan, type Plan } from '../../shared/plan';
import { shipPoint } from '../../activities/replication/ship-point';
import { generateMasterKey } from '../../activities/datapath/crypto';
import { attachTestEnv, uniqueId } from '../harness/temporal';
import { freshStore } from '../harness/store';
import { freshTargetStore, standbyOn } from '../harness/sites';
import * as k8s from '@kubernetes/client-node';
import { coreApi, execInPod, freshNamespace, kubeConfigFor, waitFor, type TestNamespace } from '../harness/clusters';
import { recordHistory } from '../harness/histories';
import { dashboardMetrics, exportedMetrics, ruleMetrics, sample } from '../harness/metrics';
import { artifactPath } from '../harness/artifacts';
import { startAgentProcess, startWorkerProcess, type TestProcess } from '../harness/processes';
import { deployShop, NODES, psql, shopPlan } from './app-fixture';
import { freePort } from '../stack/postgres';

const KEY_ENV = 'TDR_DRILL_KEY';
const networkApi = (cluster: 'source' | 'target') => kubeConfigFor(cluster).makeApiClient(k8s.NetworkingV1Api);
const DRCTL = path.join(__dirname, '../../dist/client/drctl.js');

describe('DR drills of the sample application from the standby store', () => {
  let env: TestWorkflowEnvironment;
  let ns: TestNamespace;
  let plan: Plan;
  let taskQueue: string;
  let worker: TestProcess;
  let agents: TestProcess[] = [];
  let metricsAddress: string;
  const figures: Record<string, unknown> = {};
  const drillNs = () => `${ns.name}-drill`;
  const targetNamespaceGone = async () => (await coreApi('target').listNamespace()).items.every((n) => n.metadata?.name !== drillNs());
  const withVerify = (sql: string): Plan =>
    validatePlan({
      ...plan,
      spec: {
        ...plan.spec,
        drill: { ...plan.spec.drill!, verify: [{ name: 'orders', podSelector: { namespace: ns.name, matchLabels: { 'app.kubernetes.io/name': 'db' } }, container: 'postgres', command: psql(sql) }] },
      },
    });

  beforeAll(async () => {
    process.env[KEY_ENV] = generateMasterKey();
    env = await attachTestEnv();
    ns = await freshNamespace('source', 'shop-drill-src');
    await deployShop(ns.name, 1024 * 1024);
    for (let i = 1; i <= 10; i++) await execInPod('source', ns.name, 'db-0', 'postgres', psql(`INSERT INTO orders (id, item) VALUES (${i}, 'drill-${i}');`));
    const primary = (await freshStore('dr')).ref;
    const standby = (await freshTargetStore('dr')).ref;
    const base = shopPlan(uniqueId('drill').toLowerCase(), ns.name, primary, KEY_ENV);
    const db = { namespace: ns.name, matchLabels: { 'app.kubernetes.io/name': 'db' } };
    plan = validatePlan({
      ...base,
      spec: {
        ...base.spec,
        rpo: '1h',
        standbys: [standbyOn('target', standby)],
        drill: {
          schedule: '0 3 * * 1',
          namespaceSuffix: '-drill',
          verify: [],
          // Recorded by the backup below (10 rows), compared in each drill's copy.
          dataChecks: [{ name: 'order-count', podSelector: db, container: 'postgres', command: psql('SELECT count(*) FROM orders;') }],
          // The web pods serve the web-content ConfigMap: through the target API server's Service proxy.
          httpChecks: [{ name: 'storefront', service: { namespace: ns.name, name: 'web', port: 80 }, bodyContains: '<h1>shop</h1>' }],
        },
      },
    });
    // Divides by zero (fails) unless the 10 rows written above are there; prints 1 when they are.
    plan = withVerify("SELECT 10/(SELECT count(*) FROM orders WHERE item LIKE 'drill-%');");
    taskQueue = uniqueId('drill');
    metricsAddress = `127.0.0.1:${await freePort()}`;
    const procEnv = { [KEY_ENV]: process.env[KEY_ENV]! };
    worker = startWorkerProcess(taskQueue, { ...procEnv, TDR_METRICS_ADDRESS: metricsAddress });
    agents = [startAgentProcess('source', NODES, procEnv), startAgentProcess('target', NODES, procEnv)];
    const point = await env.client.workflow.execute(backup, { taskQueue, workflowId: uniqueId('backup'), args: [{ plan, agentHeartbeatTimeoutMs: 10_000 }] });
    await shipPoint({ planName: plan.metadata.name, pointId: point.pointId, source: planToStoreRef(plan), standby: standbyStoreRef(standbySite(plan, 'target')), keyEnv: KEY_ENV });
  });

  afterAll(async () => {
    await env?.client.schedule.getHandle(drillScheduleId(plan.metadata.name)).delete().catch(() => undefined);
    await Promise.all([worker, ...agents].filter(Boolean).map((p) => p.kill()));
    await coreApi('target').deleteNamespace({ name: drillNs() }).catch(() => undefined);
    await ns?.cleanup().catch(() => undefined);
    await env?.teardown();
    console.log(`[drill figures] ${JSON.stringify(figures)}`);
  });

  it('runs on its schedule, passes its SQL check in an isolated copy, leaves nothing, reports RTO and RPO', async () => {
    const handle = await scheduleDrills(env.client, taskQueue, plan, { cron: '* * * * *', catchupWindow: '1m' });
    let report: DrillReport | undefined;
    let isolation: unknown;
    await waitFor('a scheduled drill to finish', 150_000, async () => {
      const d = await handle.describe();
      const done = d.info.recentActions.find((a) => a.action.type === 'startWorkflow');
      if (!done) return false;
      const h = env.client.workflow.getHandle(done.action.workflow.workflowId, done.action.workflow.firstExecutionRunId);
      const st = await h.describe();
      if (st.status.name === 'RUNNING') {
        // While it runs, the drill namespace is isolated: labelled, egress limited to itself.
        const n = await coreApi('target').readNamespace({ name: drillNs() }).catch(() => undefined);
        const policy = n && (await networkApi('target').readNamespacedNetworkPolicy({ namespace: drillNs(), name: DRILL_NETWORK_POLICY }).catch(() => undefined));
        if (n && policy) isolation = { label: n.metadata?.labels?.[DRILL_LABEL], egress: policy.spec?.egress, types: policy.spec?.policyTypes };
        return false;
      }
      report = (await h.result()) as DrillReport;
      return true;
    });
    await handle.pause('test: one run is enough');
    figures.scheduled = { rtoMs: report!.rtoMs, rpoMs: report!.rpoMs, steps: report!.steps.map((s) => `${s.name}:${s.durationMs}`) };
    expect(report).toMatchObject({ outcome: 'passed', namespaces: { [ns.name]: drillNs() }, leftovers: [] });
    expect(report!.rtoMs).toBeGreaterThan(0);
    expect(report!.rpoMs).toBeGreaterThan(0);
    expect(report!.checks).toEqual([
      expect.objectContaining({ name: 'orders', ok: true, output: expect.stringContaining('1') }),
      expect.objectContaining({ name: 'order-count', kind: 'data', pod: 'db-0', ok: true, output: 'matches the backup: expected "10" (recorded in db-0), got "10"' }),
      expect.objectContaining({ name: 'storefront', kind: 'http', pod: 'service/web:80', ok: true, output: expect.stringContaining('HTTP 200: <html><body><h1>shop</h1>') }),
    ]);
    figures.checks = report!.checks.map((c) => `${c.name}:${c.durationMs}`);
    expect(report!.steps.map((s) => [s.name, s.ok])).toEqual([['Preflight', true], ['Isolate', true], ['Restore', true], ['Verify', true], ['Teardown', true]]);
    expect(await targetNamespaceGone()).toBe(true);
    expect(isolation).toEqual({ label: report!.drillId, egress: [{ to: [{ podSelector: {} }] }], types: ['Egress'] });
    // The report is in the standby store, readable with drctl.
    const planFile = path.join(process.env.TDR_TEST_STACK_DIR!, `${plan.metadata.name}.yaml`);
    writeFileSync(planFile, YAML.stringify(plan));
    const listed = execFileSync(process.execPath, [DRCTL, 'drill', 'list', planFile], { env: { ...process.env, TEMPORAL_TASK_QUEUE: taskQueue }, encoding: 'utf8' });
    expect(listed).toContain(`${report!.drillId}  passed`);
    const html = path.join(process.env.TDR_TEST_STACK_DIR!, `${report!.drillId}.html`);
    const shown = JSON.parse(execFileSync(process.execPath, [DRCTL, 'drill', 'report', planFile, report!.drillId, '--json', '--html', html], { env: process.env, encoding: 'utf8' })) as DrillReport;
    expect(shown).toEqual(report);
    // The HTML page renders in a browser: headless Chromium screenshots it, and the timeline shows every step.
    const page = readFileSync(html, 'utf8');
    for (const step of ['Preflight', 'Isolate', 'Restore', 'Verify', 'Teardown']) expect(page).toContain(`class="label">${step}</text>`);
    expect(page).toContain('<span class="verdict passed">PASSED</span>');
    const png = artifactPath(`drill-report-${report!.drillId}.png`);
    execFileSync('chromium', ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', `--screenshot=${png}`, '--window-size=1000,900', `file://${html}`], { stdio: 'ignore', timeout: 60_000 });
    const shot = readFileSync(png);
    expect(shot.subarray(1, 4).toString('latin1')).toBe('PNG');
    expect(shot.length).toBeGreaterThan(20_000);
    figures.reportScreenshot = { file: png, bytes: shot.length };
  }, 240_000);

  it('fails a drill whose checks cannot pass, naming each, and still tears down', async () => {
    const base = withVerify('SELECT 1/(SELECT count(*) FROM orders WHERE id = 999999);');
    const drill = base.spec.drill!;
    // A data check the point never recorded, and a page the application does not serve.
    const failing = validatePlan({
      ...base,
      spec: {
        ...base.spec,
        drill: { ...drill, dataChecks: [...drill.dataChecks, { ...drill.dataChecks[0]!, name: 'late-count' }], httpChecks: [...drill.httpChecks, { ...drill.httpChecks[0]!, name: 'missing-page', path: '/missing.html', timeout: '3s' }] },
      },
    });
    const { handle, drillId } = await startDrill(env.client, taskQueue, failing);
    const err = await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    await recordHistory(handle, 'drill-v3-checks-failed');
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const message = (err as WorkflowFailedError).cause?.message ?? '';
    expect(message).toMatch(new RegExp(`drill ${drillId} of .* failed: Verify: drill check orders failed in db-0`));
    expect(message).toContain('drill data check late-count failed in db-0: point ');
    expect(message).toContain('drill HTTP check missing-page failed on service web: status 404, expected 200');
    const report = (await readDrillReports(failing)).find((r) => r.drillId === drillId)!;
    expect(report).toMatchObject({ outcome: 'failed', leftovers: [] });
    expect(report.checks.map((c) => [c.name, c.ok])).toEqual([
      ['orders', false],
      ['order-count', true],
      ['late-count', false],
      ['storefront', true],
      ['missing-page', false],
    ]);
    expect(report.checks[0]).toMatchObject({ output: expect.stringContaining('division by zero') });
    expect(report.checks[2]).toMatchObject({ kind: 'data', output: expect.stringContaining('recorded no value for data check late-count') });
    // Loud: the worker's metrics count it (the scheduled drill before it passed), and the shipped alert rules watch these series.
    const metrics = await (await fetch(`http://${metricsAddress}/metrics`)).text();
    const count = (outcome: string) => sample(metrics, 'dr_drills_total', { plan: plan.metadata.name, outcome });
    expect(count('passed')).toBeGreaterThanOrEqual(1);
    expect(count('failed')).toBe(1);
    expect(metrics).toMatch(new RegExp(`dr_drill_last_success_timestamp_seconds\\{[^}]*plan="${plan.metadata.name}"`));
    const rules = readFileSync(path.join(__dirname, '../../deploy/prometheus/dr-alerts.yaml'), 'utf8');
    expect(rules).toContain('increase(dr_drills_total{outcome="failed"}[1d]) > 0');
    expect(rules).toContain('dr_drill_last_success_timestamp_seconds');
    const dashboard = readFileSync(path.join(__dirname, '../../deploy/grafana/dr-dashboard.json'), 'utf8');
    for (const series of ['dr_drills_total', 'dr_drill_last_success_timestamp_seconds']) expect(dashboard).toContain(series);
    expect(report.steps.map((s) => [s.name, s.ok])).toEqual([['Preflight', true], ['Isolate', true], ['Restore', true], ['Verify', false], ['Teardown', true]]);
    expect(await targetNamespaceGone()).toBe(true);
  }, 240_000);

  it('tears down a drill whose worker was SIGKILLed mid-restore', async () => {
    const { handle, drillId } = await startDrill(env.client, taskQueue, plan, { restore: { heartbeatTimeoutMs: 15_000, agentHeartbeatTimeoutMs: 10_000 } });
    await waitFor('the drill restore to write volume data', 120_000, async () => {
      const p = await env.client.workflow.getHandle(restoreWorkflowId(drillId)).query(restoreProgressQuery).catch(() => undefined);
      return !!p && (p.phase === 'RestoreVolumes' || p.phase.startsWith('Apply'));
    });
    await worker.kill('SIGKILL');
    worker = startWorkerProcess(taskQueue, { [KEY_ENV]: process.env[KEY_ENV]! });
    const report = (await handle.result()) as DrillReport;
    await recordHistory(handle, 'drill-v3-worker-killed');
    figures.killed = { rtoMs: report.rtoMs, steps: report.steps.map((s) => `${s.name}:${s.durationMs}`) };
    expect(report).toMatchObject({ outcome: 'passed', leftovers: [] });
    expect((await handle.query(drillStatusQuery)).phase).toBe('Passed');
    expect(await targetNamespaceGone()).toBe(true);
  }, 300_000);

  it('tears down a drill cancelled mid-restore, and ends cancelled', async () => {
    const { handle, drillId } = await startDrill(env.client, taskQueue, plan);
    await waitFor('the drill restore to start', 120_000, async () => {
      const p = await env.client.workflow.getHandle(restoreWorkflowId(drillId)).query(restoreProgressQuery).catch(() => undefined);
      return !!p && (p.phase === 'RestoreVolumes' || p.phase.startsWith('Apply'));
    });
    await handle.cancel();
    const err = await handle.result().then(
      () => undefined,
      (e: unknown) => e,
    );
    await recordHistory(handle, 'drill-v3-cancelled');
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    expect((await handle.describe()).status.name).toBe('CANCELLED');
    const report = (await readDrillReports(plan)).find((r) => r.drillId === drillId)!;
    expect(report).toMatchObject({ outcome: 'cancelled', failure: 'Restore: cancelled', leftovers: [] });
    expect(report.steps.map((s) => [s.name, s.ok])).toEqual([['Preflight', true], ['Isolate', true], ['Restore', false], ['Teardown', true]]);
    expect(await targetNamespaceGone()).toBe(true);
  }, 240_000);

  it('refuses a drill that would restore into a production namespace, before creating anything', async () => {
    const intoProduction = validatePlan({ ...plan, spec: { ...plan.spec, selector: { ...plan.spec.selector, namespaces: [ns.name, drillNs()] } } });
    const { handle, drillId } = await startDrill(env.client, taskQueue, intoProduction);
    await expect(handle.result()).rejects.toMatchObject({ cause: { message: expect.stringContaining(`the drill namespace ${drillNs()} is a production namespace of the plan`) } });
    await recordHistory(handle, 'drill-v3-refused');
    const report = (await readDrillReports(plan)).find((r) => r.drillId === drillId)!;
    expect(report.steps.map((s) => [s.name, s.ok])).toEqual([['Preflight', false], ['Teardown', true]]);
    expect(await targetNamespaceGone()).toBe(true);
  }, 120_000);

  it('pauses its schedule after two failed scheduled drills in a row', async () => {
    await env.client.schedule.getHandle(drillScheduleId(plan.metadata.name)).delete().catch(() => undefined);
    const failing = withVerify('SELECT 1/(SELECT count(*) FROM orders WHERE id = 999999);');
    const handle = await scheduleDrills(env.client, taskQueue, failing, { cron: '* * * * *', catchupWindow: '1m', pauseAfterFailures: 2 });
    // The drill that pauses the schedule rewrites its report after pausing: wait for both.
    await waitFor('the schedule to pause itself, and its last drill to record it', 200_000, async () =>
      (await handle.describe()).state.paused && (await readDrillReports(failing)).filter((r) => r.scheduled)[0]?.schedulePaused === true,
    );
    const d = await handle.describe();
    expect(d.state.note).toContain('the last 2 scheduled drills failed');
    const scheduled = (await readDrillReports(failing)).filter((r) => r.scheduled);
    expect(scheduled.slice(0, 2).map((r) => [r.outcome, r.failure?.startsWith('Verify: drill check orders failed')])).toEqual([
      ['failed', true],
      ['failed', true],
    ]);
    expect(scheduled[0]!.schedulePaused).toBe(true);
    expect(scheduled[1]!.schedulePaused).toBeUndefined();
    expect(await targetNamespaceGone()).toBe(true);
  }, 240_000);
});
