import {
  ApplicationFailure,
  CancellationScope,
  defineQuery,
  executeChild,
  isCancellation,
  metricMeter,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { restore, restoreWorkflowId, type RestoreReport } from './restore';
import { readDataChecks, runAppChecks, type CheckResult } from './checks';
import type { DataCheckRecord } from '../shared/catalog';
import { planKeyRef, type Plan } from '../shared/plan';
import { restoreKeyOf, type RestoreRequest } from '../shared/restore-request';
import { NON_RETRYABLE_ERROR_TYPES, innermostMessage } from '../shared/errors';
import { compareDataCheck, drillCluster, drillNamespaceMapping, drillStoreRef, drillReportKey, newDrillId, type DrillReport, type DrillStep } from '../shared/drill';
import { DrOperation, DrPhase, DrPlan, DrTargetCluster } from '../shared/search-attributes';
import { recordingOutcome, recordPoint, recordSite } from './run-attributes';

export interface DrillInput {
  plan: Plan;
  /** Default: derived from the run (scheduled runs get one each). */
  drillId?: string;
  /** Restore into this cluster instead of the plan's first standby (or target). */
  cluster?: { context: string; clusterName?: string };
  /** Options of the drill's restore (heartbeat timeouts). */
  restore?: Pick<RestoreRequest, 'heartbeatTimeoutMs' | 'agentHeartbeatTimeoutMs' | 'waitReadyTimeoutMs'>;
  /** Set by the plan's drill schedule: failures count towards pausing it after `pauseAfterFailures` in a row (above 1; 1 is the schedule's own pauseOnFailure). */
  scheduled?: { pauseAfterFailures: number };
}

export const drillStatusQuery = defineQuery<{ phase: string; steps: DrillStep[] }>('status');

const retry = { maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES };
const kube = proxyActivities<Activities>({ startToCloseTimeout: '15 minutes', heartbeatTimeout: '1 minute', retry });

/**
 * A DR drill, the runbook: take the newest complete point (from the standby's store when the plan
 * has one: the copy a real disaster would use), restore it into isolated drill namespaces on the
 * standby cluster, check the application works, and tear everything down whatever happened,
 * checking nothing is left. The report (RTO, RPO, each check and step) is stored beside the points
 * and returned; a failed drill fails the workflow naming the failing check.
 */
export async function drill(input: DrillInput): Promise<DrillReport> {
  return recordingOutcome('drill', input.plan.metadata.name, () => runDrill(input), (r) => r.outcome);
}

async function runDrill(input: DrillInput): Promise<DrillReport> {
  const { plan } = input;
  const planName = plan.metadata.name;
  const info = workflowInfo();
  const drillId = input.drillId ?? newDrillId(info.startTime, planName, info.runId.replace(/-/g, '').slice(-6));
  const cluster = drillCluster(plan, input.cluster);
  const store = drillStoreRef(plan);
  const started = Date.now();
  let phase = 'Preflight';
  const steps: DrillStep[] = [];
  const checks: CheckResult[] = [];
  /** What the point's backup recorded for spec.drill.dataChecks. */
  let pointDataChecks: DataCheckRecord[] = [];
  const report: DrillReport = {
    drillId,
    planName,
    outcome: 'passed',
    cluster: cluster.context,
    store: `${store.bucket}/${store.prefix}`,
    startedAt: new Date(started).toISOString(),
    finishedAt: '',
    namespaces: {},
    checks: [],
    steps,
    leftovers: [],
    ...(input.scheduled ? { scheduled: true } : {}),
  };
  setHandler(drillStatusQuery, () => ({ phase, steps }));
  upsertSearchAttributes([
    { key: DrPlan, value: planName },
    { key: DrOperation, value: 'drill' },
    { key: DrTargetCluster, value: cluster.clusterName },
  ]);
  recordSite(cluster.site);

  let failure: unknown;
  try {
    await step('Preflight', preflight);
    await step('Isolate', () => kube.prepareDrillNamespaces(cluster.context, Object.values(report.namespaces), drillId).then(() => `namespaces ${Object.values(report.namespaces).join(', ')} created with egress limited to themselves`));
    await step('Restore', restoreIsolated);
    await step('Verify', verify);
  } catch (err) {
    failure = err;
    // A cancelled drill says so and ends cancelled (drills started before this change fail instead).
    report.outcome = isCancellation(err) && patched('drill-reports-cancelled') ? 'cancelled' : 'failed';
    report.failure = `${phase}: ${report.outcome === 'cancelled' ? 'cancelled' : innermostMessage(err, 500)}`;
  } finally {
    // Teardown runs whatever happened, cancellation included, and checks its own work.
    await CancellationScope.nonCancellable(async () => {
      await step('Teardown', teardown).catch((err) => {
        report.outcome = 'failed'; // a leftover fails even a cancelled drill
        report.failure ??= `Teardown: ${innermostMessage(err, 500)}`;
      });
      report.checks = checks;
      report.finishedAt = new Date().toISOString();
      await kube.writeDrillReport(store, report);
      const after = input.scheduled?.pauseAfterFailures ?? 0;
      if (report.outcome === 'failed' && after > 1) {
        const p = await kube.pauseDrillsAfterFailures(store, planName, after).catch(() => undefined);
        if (p?.paused) {
          report.schedulePaused = true;
          await kube.writeDrillReport(store, report);
        }
      }
      recordMetrics();
      publish({ passed: 'Passed', failed: 'Failed', cancelled: 'Cancelled' }[report.outcome]);
    });
  }
  if (report.outcome === 'cancelled') throw failure;
  if (report.outcome === 'failed') {
    throw ApplicationFailure.create({
      type: 'DrillFailedError',
      nonRetryable: true,
      message: `drill ${drillId} of ${planName} failed: ${report.failure}; report at ${drillReportKey(planName, drillId)}`,
      ...(failure ? { cause: failure as Error } : {}),
    });
  }
  return report;

  async function step(name: string, run: () => Promise<string | void>): Promise<void> {
    const t0 = Date.now();
    publish(name);
    try {
      const detail = await run();
      steps.push({ name, startedAt: new Date(t0).toISOString(), durationMs: Date.now() - t0, ok: true, ...(detail ? { detail } : {}) });
    } catch (err) {
      steps.push({ name, startedAt: new Date(t0).toISOString(), durationMs: Date.now() - t0, ok: false, detail: innermostMessage(err, 500) });
      throw err;
    }
  }

  async function preflight(): Promise<string> {
    const point = await kube.newestPointForDrill(store, planName, planKeyRef(plan));
    if (!point) throw ApplicationFailure.create({ type: 'NotFoundError', nonRetryable: true, message: `no complete point of plan ${planName} in ${report.store}: nothing to drill` });
    report.pointId = point.pointId;
    recordPoint(point.pointId);
    report.pointCapturedAt = point.capturedAt;
    pointDataChecks = point.dataChecks ?? [];
    report.rpoMs = Math.max(0, started - Date.parse(point.capturedAt));
    try {
      report.namespaces = drillNamespaceMapping(point.namespaces, plan.spec.drill?.namespaceSuffix ?? '-drill', plan.spec.selector.namespaces);
    } catch (err) {
      throw ApplicationFailure.create({ type: 'InvalidInputError', nonRetryable: true, message: (err as Error).message });
    }
    return `point ${point.pointId} from ${report.store}, captured ${point.capturedAt}; into ${Object.values(report.namespaces).join(', ')} on ${cluster.context}`;
  }

  async function restoreIsolated(): Promise<string> {
    const r: RestoreReport = await executeChild(restore, {
      workflowId: restoreWorkflowId(drillId),
      args: [
        {
          restoreId: drillId,
          store,
          ...restoreKeyOf(plan, cluster.context),
          planName,
          pointId: report.pointId!,
          target: cluster,
          namespaceMapping: report.namespaces,
          drillId,
          // The drill's namespaces exist already (created isolated); nothing else may.
          existingPolicy: 'skip',
          dryRun: false,
          rollbackOnFailure: false,
          waitReadyTimeoutMs: 10 * 60_000,
          ...input.restore,
        },
      ],
      staticSummary: `Restore of drill ${drillId} (${planName}) into ${Object.values(report.namespaces).join(', ')}`,
    });
    report.rtoMs = r.rtoMs;
    return `${r.created} object(s) and ${r.volumes.length} volume(s) restored, Ready in ${Math.round(r.rtoMs / 1000)} s`;
  }

  async function verify(): Promise<string> {
    const spec = plan.spec.drill;
    const suffix = spec?.namespaceSuffix ?? '-drill';
    const inDrill = (ns: string) => report.namespaces[ns] ?? `${ns}${suffix}`;
    const asAppCheck = (c: NonNullable<Plan['spec']['drill']>['verify'][number]) => ({
      name: c.name,
      namespace: inDrill(c.podSelector.namespace),
      matchLabels: c.podSelector.matchLabels,
      command: c.command,
      timeout: c.timeout,
      ...(c.container ? { container: c.container } : {}),
    });
    // Drills started before this change stopped at the first failing check.
    if (!patched('drill-runs-every-check')) {
      await runAppChecks(cluster.context, (spec?.verify ?? []).map(asAppCheck), 'drill check', checks);
      return spec?.verify.length ? `${checks.length} check(s) passed` : 'workloads Ready; no spec.drill.verify checks';
    }
    // Every check runs, so the report holds each one's result; the failure names every failing one.
    const failures: string[] = [];
    for (const c of spec?.verify ?? []) {
      await runAppChecks(cluster.context, [asAppCheck(c)], 'drill check', checks).catch((err: unknown) => failures.push(innermostMessage(err, 300)));
    }
    const recorded = new Map(pointDataChecks.map((r) => [r.name, r]));
    for (const r of await readDataChecks(cluster.context, (spec?.dataChecks ?? []).map(asAppCheck), 'drill data check', (c) => recorded.get(c.name)?.pod.name)) {
      const v = compareDataCheck(r.name, report.pointId!, recorded.get(r.name), r);
      checks.push({ name: r.name, kind: 'data', pod: r.pod.name, ok: v.ok, output: v.output, durationMs: r.durationMs });
      if (!v.ok) failures.push(`drill data check ${r.name} failed${r.pod.name ? ` in ${r.pod.name}` : ''}: ${v.output}`);
    }
    for (const h of spec?.httpChecks ?? []) {
      const service = { ...h.service, namespace: inDrill(h.service.namespace) };
      const r = await kube.httpCheckThroughApiServer(cluster.context, { ...h, service });
      checks.push({ name: h.name, kind: 'http', pod: `service/${service.name}:${service.port}`, ok: r.ok, output: r.output, durationMs: r.durationMs });
      if (!r.ok) failures.push(`drill HTTP check ${h.name} failed on service ${service.name}: ${r.output}`);
    }
    if (failures.length) throw ApplicationFailure.create({ type: 'HookFailedError', nonRetryable: true, message: failures.join('; ') });
    return checks.length ? `${checks.length} check(s) passed` : 'workloads Ready; no checks in spec.drill';
  }

  async function teardown(): Promise<string> {
    const r = await kube.teardownDrill(cluster.context, Object.values(report.namespaces), drillId);
    report.leftovers = r.leftovers;
    if (r.leftovers.length) throw new Error(`left behind: ${r.leftovers.join(', ')}`);
    return `removed ${r.removed.join(', ') || 'nothing (nothing was created)'}; nothing left`;
  }

  function publish(next: string): void {
    phase = next;
    upsertSearchAttributes([{ key: DrPhase, value: next }]);
    setCurrentDetails(
      [`**Drill ${drillId}** of ${planName} on ${cluster.context} · phase **${next}**`, '', ...steps.map((s) => `- ${s.ok ? '✓' : '✗'} ${s.name} (${Math.round(s.durationMs / 1000)} s)${s.detail ? `: ${s.detail}` : ''}`)].join('\n'),
    );
  }

  function recordMetrics(): void {
    const tags = { plan: planName };
    metricMeter.createCounter('dr_drills_total', '', 'drills run').withTags({ ...tags, outcome: report.outcome }).add(1);
    if (report.outcome === 'passed') metricMeter.createGauge('dr_drill_last_success_timestamp_seconds', 'int', 's', 'end of the last drill that passed').withTags(tags).set(Math.floor(Date.now() / 1000));
  }
}
