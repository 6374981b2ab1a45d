import {
  ApplicationFailure,
  CancellationScope,
  ParentClosePolicy,
  condition,
  defineQuery,
  defineUpdate,
  executeChild,
  getExternalWorkflowHandle,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  startChild,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities } from '../activities';
import { backup, backupWorkflowId, type BackupInput } from './backup';
import { restore, restoreWorkflowId } from './restore';
import { replicate, type ReplicateInput } from './replicate';
import { runAppChecks, type CheckResult } from './checks';
import { planKeyRef, planToStoreRef, standbyStoreRef, type ApprovalGate, type Plan } from '../shared/plan';
import { restoreKeyOf, type RestoreRequest } from '../shared/restore-request';
import { replicateWorkflowId, type ShippedPoint } from '../shared/replication';
import { parseDuration, formatDuration } from '../shared/duration';
import { NON_RETRYABLE_ERROR_TYPES, innermostMessage } from '../shared/errors';
import {
  failoverReportKey,
  planWithPrimary,
  siteNamed,
  sitesOf,
  type ApprovalRecord,
  type ApprovalRequest,
  type FailoverMode,
  type FailoverPhase,
  type FailoverReport,
  type FailoverStatus,
  type Site,
} from '../shared/failover';
import { DrOperation, DrPhase, DrPlan, DrSourceCluster, DrTargetCluster } from '../shared/search-attributes';
import { recordingOutcome, recordPoint, recordSite } from './run-attributes';

export interface FailoverInput {
  /** The plan as written (its spec.source is the original primary). */
  plan: Plan;
  failoverId: string;
  operation: 'failover' | 'failback';
  mode: FailoverMode;
  /** The site that is primary now, and the one to make primary. */
  from: string;
  to: string;
  /** Who asked (recorded in the report). */
  requestedBy?: string;
  /** Options of the final point's backup (planned). */
  backup?: Omit<BackupInput, 'plan'>;
  /** Options of the restore on the new primary (heartbeat timeouts). */
  restore?: Pick<RestoreRequest, 'heartbeatTimeoutMs' | 'agentHeartbeatTimeoutMs'>;
  /** Options of the replication started from the new primary (interval, backup options). */
  replicate?: Omit<ReplicateInput, 'plan' | 'site' | 'state' | 'fenceStandby'>;
}

export const failoverStatusQuery = defineQuery<FailoverStatus>('status');
/** Approves the gate the run waits on; refused unless it waits on that gate. */
export const approveUpdate = defineUpdate<FailoverStatus, [ApprovalRequest]>('approve');
/** Rejects the gate the run waits on: the run stops cleanly and says what state it left. */
export const rejectUpdate = defineUpdate<FailoverStatus, [ApprovalRequest]>('reject');

const retry = { maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES };
/** Kubernetes and store calls of the runbook; fencing and clearing wait for pods and namespaces, and heartbeat while they do. */
const sites = proxyActivities<Activities>({ startToCloseTimeout: '15 minutes', heartbeatTimeout: '1 minute', retry });
/** A probe or fence of a site that may be gone: few attempts, so an unreachable site is known fast. */
const unsure = proxyActivities<Activities>({ startToCloseTimeout: '2 minutes', heartbeatTimeout: '30 seconds', retry: { ...retry, maximumAttempts: 2 } });
const shipping = proxyActivities<Activities>({ startToCloseTimeout: '12 hours', heartbeatTimeout: '1 minute', retry });

class Rejected extends Error {}

/**
 * Makes another site the primary of a plan, the runbook an SRE would follow:
 * preflight the target, (approve), stop replication, fence the old primary so it cannot serve,
 * take and ship a final point (planned only), bring the application up on the new primary from
 * its own store, verify it, (approve), switch traffic, and replicate back the other way. Every
 * step is recorded in the report, which is stored in the new primary's store and returned.
 * Failback is the same run towards the original site.
 */
export async function failover(input: FailoverInput): Promise<FailoverReport> {
  return recordingOutcome(input.operation, input.plan.metadata.name, () => runFailover(input), (r) => r.outcome);
}

async function runFailover(input: FailoverInput): Promise<FailoverReport> {
  const { plan, mode } = input;
  const planName = plan.metadata.name;
  const from = siteOf(plan, input.from);
  const to = siteOf(plan, input.to);
  if (from.name === to.name) throw ApplicationFailure.nonRetryable(`--to ${to.name}: that site is already the primary of plan ${planName}`, 'InvalidInputError');
  const fromPlan = planWithPrimary(plan, from.name);
  const toPlan = planWithPrimary(plan, to.name);
  const namespaceGlobs = plan.spec.selector.namespaces;
  const settings = plan.spec.failover ?? { approvals: [], approvalTimeout: '1h', onApprovalTimeout: 'reject' as const, waitReadyTimeout: '10m', verify: [] };
  const triggeredAt = Date.now();

  const status: FailoverStatus = { failoverId: input.failoverId, planName, mode, from: from.name, to: to.name, phase: 'Preflight', steps: [], approvals: [] };
  const report: FailoverReport = { ...status, outcome: 'completed', startedAt: new Date(triggeredAt).toISOString(), finishedAt: '', notes: [] };
  let decision: ApprovalRecord['decision'] | undefined;
  let decidedBy: ApprovalRequest | undefined;

  setHandler(failoverStatusQuery, () => ({ ...status }));
  const decide = (d: 'approved' | 'rejected') => (req: ApprovalRequest) => {
    decision = d;
    decidedBy = req;
    return { ...status };
  };
  const validator = (req: ApprovalRequest) => {
    if (!status.awaiting) throw new Error(`failover ${input.failoverId} is not waiting for an approval (phase ${status.phase})`);
    if (req?.gate !== status.awaiting.gate) throw new Error(`failover ${input.failoverId} waits on gate ${status.awaiting.gate}, not ${req?.gate}`);
    if (!req.by?.trim()) throw new Error('by: say who decides (e.g. --by alice); it is recorded in the report');
  };
  setHandler(approveUpdate, decide('approved'), { validator });
  setHandler(rejectUpdate, decide('rejected'), { validator });

  upsertSearchAttributes([
    { key: DrPlan, value: planName },
    { key: DrOperation, value: input.operation },
    { key: DrSourceCluster, value: from.clusterName },
    { key: DrTargetCluster, value: to.clusterName },
  ]);
  recordSite(to.name);

  let point: ShippedPoint | undefined;
  let restoredNamespaces: string[] = [];
  const checks: CheckResult[] = [];
  try {
    await step('Preflight', preflight);
    await approval('before-fencing', `fence ${from.name} (${from.context}) and make ${to.name} (${to.context}) the primary of ${planName}?`);
    await step('StopReplication', stopReplication);
    await step('Fence', fenceOldPrimary);
    if (mode === 'planned') await step('FinalPoint', takeAndShipFinalPoint);
    await step('PrepareTarget', prepareTarget);
    await step('Restore', restoreOnTarget);
    await step('Activate', activateTarget);
    await step('Verify', verify);
    await approval('before-traffic-switch', `${to.name} is up and verified; switch traffic of ${planName} to it?`);
    await step('SwitchTraffic', switchTraffic);
    await step('StartReverseReplication', startReplicationFrom(toPlan));
    report.rtoMs = Date.now() - triggeredAt;
    return await finish('completed', 'Done');
  } catch (err) {
    if (err instanceof Rejected) return await CancellationScope.nonCancellable(() => revertAfterRejection(err.message));
    publish('Failed');
    report.notes.push(`failed in step ${status.steps.at(-1)?.name ?? status.phase}: ${(err as Error).message}`, primaryStateNote());
    await CancellationScope.nonCancellable(() => storeReport('Failed').catch(() => undefined));
    throw err;
  }

  async function step(name: FailoverPhase, run: () => Promise<string | void>): Promise<void> {
    const started = Date.now();
    publish(name);
    const detail = await run();
    status.steps.push({ name, startedAt: new Date(started).toISOString(), durationMs: Date.now() - started, ...(detail ? { detail } : {}) });
  }

  /** The target can take the application: cluster up, its store readable with the key, and (with a point there) a dry-run restore finds no missing class or CRD. */
  async function preflight(): Promise<string> {
    const target = await unsure.probeCluster(to.context);
    if (!target.reachable) throw stop('ClusterUnreachableError', `the target site ${to.name} (context ${to.context}) is unreachable: ${target.error}; nothing was changed`);
    if (mode === 'planned') {
      const source = await unsure.probeCluster(from.context);
      if (!source.reachable) throw stop('ClusterUnreachableError', `the primary ${from.name} (context ${from.context}) is unreachable (${source.error}); a planned failover needs it. Run an unplanned failover (--unplanned); nothing was changed`);
    }
    point = await sites.newestPointAtStandby(standbyStoreRef(to), planName, planKeyRef(plan, to.context));
    if (!point && mode === 'unplanned') {
      throw stop('NotFoundError', `site ${to.name}'s store (${to.store.url}) holds no complete point of plan ${planName}: there is nothing to fail over to; nothing was changed`);
    }
    if (point) {
      await executeChild(restore, {
        workflowId: restoreWorkflowId(`${input.failoverId}-preflight`),
        args: [restoreRequest(point.pointId, `${input.failoverId}-preflight`, true)],
        staticSummary: `Dry run of failover ${input.failoverId} on ${to.name}`,
      }).catch((err) => {
        throw stop('PreflightFailedError', `${to.name} cannot take the application; nothing was changed: ${innermostMessage(err)}`);
      });
    }
    return point ? `newest point at ${to.name}: ${point.pointId} (captured ${point.capturedAt}); dry run passed` : `no point at ${to.name} yet: the final point will be shipped`;
  }

  /** Cancels the replication loops of the plan in every direction (none must ship while the primary moves). */
  async function stopReplication(): Promise<string> {
    const stopped: string[] = [];
    for (const s of sitesOf(plan)) {
      const id = replicateWorkflowId(planName, s.name);
      const ok = await getExternalWorkflowHandle(id)
        .cancel()
        .then(() => true)
        .catch(() => false);
      if (ok) stopped.push(id);
    }
    return stopped.length ? `cancelled ${stopped.join(', ')}` : 'no replication was running';
  }

  /** The old primary must not serve before the new one goes live: scaled to zero when reachable, else fenced by webhook or confirmed by a human. */
  async function fenceOldPrimary(): Promise<string> {
    const scaleToZero = () => (mode === 'planned' ? sites : unsure).fenceApplication.executeWithOptions({ summary: `fence ${planName} on ${from.name}: scale to zero` }, [from.context, namespaceGlobs, planName]);
    if (mode === 'planned') {
      const r = await scaleToZero();
      report.fencing = { how: 'scaled-to-zero', workloads: r.workloads.length, ...(r.unfenceable.length ? { detail: `cannot scale: ${r.unfenceable.join(', ')}` } : {}) };
      return `${r.workloads.length} workload(s) in ${r.namespaces.join(', ') || '(no namespace)'} scaled to zero on ${from.context}`;
    }
    const probe = await unsure.probeCluster(from.context);
    if (probe.reachable) {
      const r = await scaleToZero().catch(() => undefined);
      if (r) {
        report.fencing = { how: 'scaled-to-zero', workloads: r.workloads.length };
        return `${from.name} answered: ${r.workloads.length} workload(s) scaled to zero`;
      }
    }
    const webhook = settings.fencing?.webhook;
    if (webhook) {
      await sites.callWebhook(webhook, { plan: planName, site: from.name, context: from.context, failoverId: input.failoverId }, 'fencing');
      report.fencing = { how: 'webhook', detail: `${from.name} unreachable (${probe.error ?? 'fence failed'}); fencing webhook answered 2xx` };
      return report.fencing.detail!;
    }
    await approval(
      'confirm-fenced',
      `${from.name} (${from.context}) is unreachable (${probe.error ?? 'fence failed'}). Confirm it cannot serve (powered off or cut from its clients) before ${to.name} becomes the primary.`,
      true,
    );
    report.fencing = { how: 'confirmed-by-human', detail: `confirmed by ${report.approvals.at(-1)?.by}` };
    return `${from.name} unreachable; fenced as confirmed by ${report.approvals.at(-1)?.by}`;
  }

  /** Planned: the application is stopped, so this point holds every committed write; shipped to the target's store. */
  async function takeAndShipFinalPoint(): Promise<string> {
    const taken = await childOnce(`backup/${planName}`, () =>
      executeChild(backup, {
        workflowId: backupWorkflowId(planName),
        args: [{ ...input.backup, plan: fromPlan }],
        parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
        typedSearchAttributes: [
          { key: DrPlan, value: planName },
          { key: DrOperation, value: 'backup' },
          { key: DrSourceCluster, value: from.clusterName },
        ],
        staticSummary: `Final point of plan ${planName} for failover ${input.failoverId}`,
      }),
    );
    const shipped = await shipping.shipPoint({ planName, pointId: taken.pointId, source: planToStoreRef(fromPlan), standby: standbyStoreRef(to), key: planKeyRef(fromPlan) });
    point = { pointId: shipped.pointId, capturedAt: shipped.capturedAt, shippedAt: new Date().toISOString(), bytesShipped: shipped.bytesShipped };
    return `final point ${taken.pointId} taken with ${from.name} fenced, ${shipped.bytesShipped} bytes shipped to ${to.name}`;
  }

  /**
   * A former primary fenced by this plan has stale claims: its namespaces are removed before the
   * restore. A warm standby keeps them: the restore brings them up to the point.
   */
  async function prepareTarget(): Promise<string> {
    const keep = to.standby === 'warm';
    const r = await sites.clearFencedNamespaces(to.context, namespaceGlobs, planName, { keep });
    if (keep) return r.removed.length ? `warm standby: namespaces ${r.removed.join(', ')} kept, fenced by ${planName}` : `warm standby ${to.name} is not staged yet: full restore`;
    return r.removed.length ? `removed the stale, fenced namespaces ${r.removed.join(', ')} from ${to.context}` : `no namespace of the plan on ${to.context}`;
  }

  async function restoreOnTarget(): Promise<string> {
    const r = await executeChild(restore, {
      workflowId: restoreWorkflowId(input.failoverId),
      // Restored fenced: nothing runs on the target before Activate, and a run that fails half-way
      // leaves namespaces marked as this plan's, which the next run's PrepareTarget clears.
      args: [{ ...restoreRequest(point!.pointId, input.failoverId, false), fencedFor: planName, ...(to.standby === 'warm' ? { hydrateVolumes: true } : {}) }],
      staticSummary: `Restore of ${planName}/${point!.pointId} on ${to.name} for failover ${input.failoverId}`,
    });
    restoredNamespaces = r.plan.namespaces;
    report.pointId = point!.pointId;
    recordPoint(point!.pointId);
    report.pointCapturedAt = point!.capturedAt;
    report.rpoMs = mode === 'planned' ? 0 : Math.max(0, triggeredAt - Date.parse(point!.capturedAt));
    const unchanged = r.volumes.reduce((n, v) => n + (v.filesSkipped ?? 0), 0);
    return `${r.created + r.updated} object(s) and ${r.volumes.length} volume(s) restored from ${to.name}'s store${to.standby === 'warm' ? ` onto the warm standby (${unchanged} file(s) already there)` : ''}`;
  }

  /** Scales the restored workloads back to the replicas they had before fencing, and waits until Ready. */
  async function activateTarget(): Promise<string> {
    const a = await sites.activateApplication.executeWithOptions({ summary: `activate ${planName} on ${to.name}` }, [to.context, restoredNamespaces]);
    const waitMs = parseDuration(settings.waitReadyTimeout) ?? 600_000;
    await proxyActivities<Activities>({ startToCloseTimeout: waitMs + 5 * 60_000, heartbeatTimeout: '2 minutes', retry }).waitForWorkloadsReady(to.context, restoredNamespaces, waitMs);
    return `${a.workloads.length} workload(s) scaled back up; all Ready`;
  }

  async function verify(): Promise<string> {
    const verifyChecks = settings.verify.map((c) => ({ name: c.name, namespace: c.podSelector.namespace, matchLabels: c.podSelector.matchLabels, command: c.command, timeout: c.timeout, ...(c.container ? { container: c.container } : {}) }));
    report.checks = checks;
    await runAppChecks(to.context, verifyChecks, 'failover check', checks);
    return verifyChecks.length ? `${checks.length} check(s) passed: ${[...new Set(checks.map((c) => c.name))].join(', ')}` : 'no checks in spec.failover.verify; workloads Ready';
  }

  async function switchTraffic(): Promise<string> {
    if (!settings.trafficSwitch) return 'no spec.failover.trafficSwitch: traffic is routed outside this plan';
    report.trafficSwitched = await sites.switchTraffic.executeWithOptions({ summary: `switch traffic of ${planName} to ${to.name}` }, [settings.trafficSwitch, to.name, { planName, from: from.name, failoverId: input.failoverId }]);
    return report.trafficSwitched.join('; ');
  }

  /** Starts one loop per standby of the new primary; each keeps its standby fenced (a returning old primary never serves). */
  function startReplicationFrom(primaryPlan: Plan): () => Promise<string> {
    return async () => {
      if (!primaryPlan.spec.standbys?.length || !primaryPlan.spec.rpo) return 'the plan has no rpo and standbys: nothing to replicate';
      const ids: string[] = [];
      for (const s of primaryPlan.spec.standbys) {
        const workflowId = replicateWorkflowId(planName, s.name);
        await childOnce(workflowId, () =>
          startChild(replicate, {
            workflowId,
            args: [{ ...input.replicate, plan: primaryPlan, site: s.name, fenceStandby: { namespaces: namespaceGlobs } }],
            parentClosePolicy: ParentClosePolicy.ABANDON,
            typedSearchAttributes: [
              { key: DrPlan, value: planName },
              { key: DrOperation, value: 'replicate' },
              { key: DrSourceCluster, value: primaryPlan.spec.source.clusterName ?? primaryPlan.spec.source.context },
              { key: DrTargetCluster, value: s.clusterName ?? s.context },
            ],
            staticSummary: `Replication of plan ${planName} from ${primaryPlan.spec.source.name} to ${s.name}, started by ${input.operation} ${input.failoverId}`,
          }),
        );
        ids.push(workflowId);
      }
      report.reverseReplication = ids.join(', ');
      return `started ${ids.join(', ')}`;
    };
  }

  /**
   * Waits for `drctl approve`/`reject` on a gate the plan asks for (or a mandatory one), with the
   * plan's timeout and policy. A rejection throws Rejected; the caller reverts.
   */
  async function approval(gate: ApprovalGate, question: string, mandatory = false): Promise<void> {
    if (!mandatory && !settings.approvals.includes(gate as never)) return;
    const since = Date.now();
    const timeoutMs = parseDuration(settings.approvalTimeout) ?? 3_600_000;
    status.awaiting = { gate, since: new Date(since).toISOString(), timeoutAt: new Date(since + timeoutMs).toISOString(), question };
    decision = undefined;
    decidedBy = undefined;
    const previous = status.phase;
    publish('AwaitingApproval');
    const decided = await condition(() => decision !== undefined, timeoutMs);
    const outcome: ApprovalRecord['decision'] = decided ? decision! : settings.onApprovalTimeout === 'approve' ? 'timed-out-approved' : 'timed-out-rejected';
    const who = decidedBy as ApprovalRequest | undefined;
    const record: ApprovalRecord = { gate, by: who?.by ?? 'timeout', ...(who?.reason ? { reason: who.reason } : {}), decision: outcome, at: new Date().toISOString(), waitedMs: Date.now() - since };
    status.approvals.push(record);
    report.approvals = status.approvals;
    status.awaiting = undefined;
    publish(previous);
    if (outcome === 'rejected' || outcome === 'timed-out-rejected') {
      throw new Rejected(`gate ${gate} ${outcome === 'rejected' ? `rejected by ${record.by}${record.reason ? ` (${record.reason})` : ''}` : `not approved within ${formatDuration(timeoutMs)}`}`);
    }
  }

  /**
   * A rejected gate puts things back as they were where it can: before fencing nothing changed
   * but replication, which is restarted; after the target came up, the target is fenced again
   * and (planned) the old primary brought back. The report says which site serves.
   */
  async function revertAfterRejection(why: string): Promise<FailoverReport> {
    publish('RevertAfterRejection');
    const started = Date.now();
    const done: string[] = [];
    const ran = (name: FailoverPhase) => status.steps.some((s) => s.name === name);
    if (ran('Restore')) {
      const r = await sites.fenceApplication(to.context, namespaceGlobs, planName);
      done.push(`${to.name} fenced again (${r.workloads.length} workload(s) scaled to zero)`);
    }
    let primary: string | undefined = from.name;
    if (ran('Fence')) {
      if (mode === 'planned' || report.fencing?.how === 'scaled-to-zero') {
        const probe = await unsure.probeCluster(from.context);
        if (probe.reachable) {
          const a = await sites.activateApplication(from.context, namespaceGlobs);
          done.push(`${from.name} brought back (${a.workloads.length} workload(s))`);
        } else primary = undefined;
      } else primary = undefined;
    }
    if (ran('StopReplication')) done.push(await startReplicationFrom(fromPlan)());
    status.steps.push({ name: 'RevertAfterRejection', startedAt: new Date(started).toISOString(), durationMs: Date.now() - started, detail: done.join('; ') || 'nothing had changed' });
    report.notes.push(
      why,
      primary
        ? `${from.name} is still the primary of ${planName}; ${to.name} was not made primary`
        : `NO SITE SERVES ${planName}: ${from.name} is fenced and unreachable, ${to.name} was fenced again. Run the failover again to bring ${to.name} up`,
    );
    return finish('rejected', 'Rejected');
  }

  async function finish(outcome: FailoverReport['outcome'], phase: FailoverPhase): Promise<FailoverReport> {
    report.outcome = outcome;
    publish(phase);
    await storeReport(phase);
    return { ...report, ...status, notes: report.notes };
  }

  async function storeReport(phase: FailoverPhase): Promise<void> {
    report.finishedAt = new Date().toISOString();
    report.reportKey = failoverReportKey(planName, input.failoverId);
    await sites.writeFailoverReport(standbyStoreRef(to), { ...report, ...status, phase, notes: report.notes, reportKey: report.reportKey });
  }

  function publish(phase: FailoverPhase): void {
    status.phase = phase;
    upsertSearchAttributes([{ key: DrPhase, value: phase }]);
    setCurrentDetails(details(status));
  }

  function primaryStateNote(): string {
    const ran = (name: FailoverPhase) => status.steps.some((s) => s.name === name);
    if (!ran('Fence')) return `${from.name} was not fenced: it is still the primary of ${planName}`;
    if (!ran('Activate')) return `${from.name} is fenced and ${to.name} is not up yet: NO SITE SERVES ${planName}. Fix the cause and run \`drctl failover ${planName} --to ${to.name}\` again (it resumes from the fenced state)`;
    return `${to.name} is up; traffic ${ran('SwitchTraffic') ? 'was' : 'was not'} switched to it`;
  }

  function restoreRequest(pointId: string, restoreId: string, dryRun: boolean): RestoreRequest {
    return {
      restoreId,
      store: standbyStoreRef(to),
      ...restoreKeyOf(plan, to.context),
      planName,
      pointId,
      target: { context: to.context, clusterName: to.clusterName },
      // The dry run only checks classes, CRDs and quota: the real run updates what a cleared namespace may still hold.
      existingPolicy: dryRun ? 'skip' : 'update',
      dryRun,
      rollbackOnFailure: false,
      waitReadyTimeoutMs: parseDuration(settings.waitReadyTimeout) ?? 600_000,
      // A failover is on the clock: a dead worker is noticed in 30 s, not the restore's default 2 min.
      heartbeatTimeoutMs: 30_000,
      ...input.restore,
    };
  }
}

/** A child with a fixed id may collide with a run that is still finishing (a cancelled loop's backup): wait for it, then start. */
async function childOnce<T>(id: string, start: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await start();
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError) || attempt >= 150) throw err;
      if (attempt === 0) log.info('waiting for a running workflow to finish', { workflowId: id });
      await sleep(2000);
    }
  }
}

function siteOf(plan: Plan, name: string): Site {
  try {
    return siteNamed(plan, name);
  } catch (err) {
    throw ApplicationFailure.nonRetryable((err as Error).message, 'InvalidInputError');
  }
}


function stop(type: string, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true });
}

function details(s: FailoverStatus): string {
  const lines = [`**${s.mode === 'planned' ? 'Planned' : 'Unplanned'} failover of ${s.planName}: ${s.from} → ${s.to}** · phase **${s.phase}**`];
  if (s.awaiting) lines.push('', `⏸ waiting for approval at gate \`${s.awaiting.gate}\` (until ${s.awaiting.timeoutAt}): ${s.awaiting.question}`, `\`drctl approve ${s.planName} --gate ${s.awaiting.gate} --by <you>\` or \`drctl reject ...\``);
  if (s.steps.length) lines.push('', ...s.steps.map((st) => `- ${st.name} (${formatDuration(Math.max(1000, Math.round(st.durationMs / 1000) * 1000))})${st.detail ? `: ${st.detail}` : ''}`));
  return lines.join('\n');
}
