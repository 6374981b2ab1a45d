import type { Command } from 'commander';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowIdConflictPolicy,
  WorkflowIdReusePolicy,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { failover } from '../../workflows';
import { approveUpdate, failoverStatusQuery, rejectUpdate, type FailoverInput } from '../../workflows/failover';
import { failoverSequence, failoverWorkflowId, newFailoverId, siteNamed, sitesOf, type FailoverMode, type FailoverReport, type FailoverStatus } from '../../shared/failover';
import { replicateWorkflowId } from '../../shared/replication';
import type { ApprovalGate, Plan } from '../../shared/plan';
import { formatDuration } from '../../shared/duration';
import { DrOperation, DrPlan, DrSite, DrSourceCluster, DrTargetCluster } from '../../shared/search-attributes';
import { InvalidInputError, NotFoundError } from '../../shared/errors';
import { openClient } from '../temporal-client';
import { loadPlanFile } from './plan';
import { loadPlan } from '../plan-source';
import { replicateStatusQuery } from '../../workflows/replicate';
import { asRunFailure, detachOnInterrupt } from '../run-result';
import { EXIT_CODES } from '../../config/exit-codes';
import { printOutput, withOutput, type OutputOptions } from '../output';
import { listRuns, runsQuery, type RunSummary } from './runs';

type StartOptions = Omit<FailoverInput, 'plan' | 'failoverId' | 'operation' | 'mode' | 'from' | 'to'>;

/** The plan's failovers and failbacks, newest first, from the visibility store. */
async function failoversOf(client: Client, planName: string): Promise<RunSummary[]> {
  const query = `${runsQuery({ plan: planName })} AND (${DrOperation.name} = 'failover' OR ${DrOperation.name} = 'failback')`;
  return (await listRuns(client, query, 10_000)).sort((a, b) => b.startTime.localeCompare(a.startTime));
}

/** The plan's running failover (or failback), else with `newest` its last one; undefined when there is none. */
export async function findFailover(client: Client, planName: string, which: 'running' | 'newest'): Promise<WorkflowHandle<typeof failover> | undefined> {
  const runs = await failoversOf(client, planName);
  const run = which === 'running' ? runs.find((r) => r.status === 'RUNNING') : runs[0];
  return run && client.workflow.getHandle<typeof failover>(run.workflowId, run.runId);
}

async function refuseRunning(client: Client, planName: string, workflowId: string): Promise<never> {
  const running = await client.workflow.getHandle(workflowId).query(failoverStatusQuery).catch(() => undefined);
  throw new InvalidInputError(
    `a failover of plan ${planName} is already running (workflow ${workflowId}${running ? `, ${running.failoverId}: ${running.from} → ${running.to}, phase ${running.phase}` : ''}); ` +
      'wait for it to end, or approve/reject the gate it waits on (`drctl failover <plan> --status`)',
  );
}

/**
 * Starts a failover (or failback) of a plan as `failover/<plan>/<n>`, its n-th. One runs per plan
 * at a time: a start while one runs is refused with the running one's id, and two starts that
 * race both pick the same n, so Temporal refuses the second.
 */
export async function startFailover(
  client: Client,
  taskQueue: string,
  plan: Plan,
  req: { operation: FailoverInput['operation']; mode: FailoverMode; from: string; to: string },
  opts: StartOptions = {},
): Promise<{ handle: WorkflowHandle<typeof failover>; failoverId: string }> {
  const from = siteNamed(plan, req.from);
  const to = siteNamed(plan, req.to);
  if (from.name === to.name) throw new InvalidInputError(`--to: ${to.name} is already the primary (--from ${from.name}); name another site: ${sitesOf(plan).map((s) => s.name).join(', ')}`);
  const failoverId = newFailoverId(new Date(), plan.metadata.name, req.mode);
  const earlier = await failoversOf(client, plan.metadata.name);
  const running = earlier.find((r) => r.status === 'RUNNING');
  if (running) await refuseRunning(client, plan.metadata.name, running.workflowId);
  const workflowId = failoverWorkflowId(plan.metadata.name, Math.max(0, ...earlier.map((r) => failoverSequence(r.workflowId, plan.metadata.name))) + 1);
  try {
    const handle = await client.workflow.start(failover, {
      taskQueue,
      workflowId,
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      args: [{ ...opts, plan, failoverId, operation: req.operation, mode: req.mode, from: from.name, to: to.name }],
      typedSearchAttributes: [
        { key: DrPlan, value: plan.metadata.name },
        { key: DrOperation, value: req.operation },
        { key: DrSourceCluster, value: from.clusterName },
        { key: DrTargetCluster, value: to.clusterName },
        { key: DrSite, value: to.name },
      ],
      staticSummary: `${req.mode === 'planned' ? 'Planned' : 'Unplanned'} ${req.operation} of plan ${plan.metadata.name}: ${from.name} → ${to.name}`,
    });
    return { handle, failoverId };
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) await refuseRunning(client, plan.metadata.name, workflowId);
    throw err;
  }
}

/** Who runs drctl, for the approval record. */
const whoAmI = (): string => process.env.DRCTL_USER ?? process.env.USER ?? process.env.LOGNAME ?? 'unknown';

export function formatFailoverStatus(s: FailoverStatus): string {
  const lines = [`${s.mode} failover ${s.failoverId} of ${s.planName}: ${s.from} -> ${s.to}, phase ${s.phase}`];
  for (const st of s.steps) lines.push(`  ${st.name.padEnd(24)} ${formatDuration(Math.max(1000, Math.round(st.durationMs / 1000) * 1000)).padStart(6)}  ${st.detail ?? ''}`);
  for (const a of s.approvals) lines.push(`  gate ${a.gate}: ${a.decision} by ${a.by}${a.reason ? ` (${a.reason})` : ''} after ${formatDuration(Math.max(1000, Math.round(a.waitedMs / 1000) * 1000))}`);
  if (s.awaiting) {
    lines.push(
      `  WAITING FOR APPROVAL at gate ${s.awaiting.gate} (until ${s.awaiting.timeoutAt}): ${s.awaiting.question}`,
      `    drctl approve ${s.planName} --gate ${s.awaiting.gate}   |   drctl reject ${s.planName} --gate ${s.awaiting.gate} --reason "..."`,
    );
  }
  return lines.join('\n');
}

export function formatFailoverReport(r: FailoverReport): string {
  const sec = (ms?: number) => (ms === undefined ? '-' : `${(ms / 1000).toFixed(1)} s`);
  return [
    formatFailoverStatus(r),
    `  outcome ${r.outcome.toUpperCase()}; point ${r.pointId ?? '-'} (captured ${r.pointCapturedAt ?? '-'})`,
    `  RPO (data-loss window) ${sec(r.rpoMs)}; RTO (trigger to Ready and traffic switched) ${sec(r.rtoMs)}`,
    ...(r.fencing ? [`  fencing: ${r.fencing.how}${r.fencing.workloads !== undefined ? `, ${r.fencing.workloads} workload(s)` : ''}${r.fencing.detail ? ` (${r.fencing.detail})` : ''}`] : []),
    ...(r.reverseReplication ? [`  replication now: ${r.reverseReplication}`] : []),
    ...r.notes.map((n) => `  NOTE: ${n}`),
    ...(r.reportKey ? [`  report stored at ${r.reportKey} in ${r.to}'s store`] : []),
  ].join('\n');
}

/** Prints each new step and gate on stderr until the run ends; stdout keeps the result. */
async function follow(handle: WorkflowHandle<typeof failover>): Promise<FailoverReport> {
  let finished = false;
  const stopDetach = detachOnInterrupt(handle.workflowId);
  const result = handle.result().finally(() => {
    finished = true;
    stopDetach();
  });
  result.catch(() => undefined);
  let printedSteps = 0;
  let lastGate = '';
  while (!finished) {
    const s = await handle.query(failoverStatusQuery).catch(() => undefined);
    if (s) {
      for (; printedSteps < s.steps.length; printedSteps++) process.stderr.write(`  done: ${s.steps[printedSteps].name}: ${s.steps[printedSteps].detail ?? ''}\n`);
      const gate = s.awaiting ? `${s.awaiting.gate}@${s.awaiting.since}` : '';
      if (gate && gate !== lastGate) process.stderr.write(`${formatFailoverStatus({ ...s, steps: [] })}\n`);
      lastGate = gate;
    }
    await Promise.race([result.catch(() => undefined), new Promise((r) => setTimeout(r, 1000))]);
  }
  return result;
}

type RunOptions = OutputOptions & { to?: string; from?: string; planned?: boolean; unplanned?: boolean; detach?: boolean };

async function run(planFile: string, operation: FailoverInput['operation'], opts: RunOptions): Promise<void> {
  const plan = await loadPlan(planFile);
  if (opts.planned && opts.unplanned) throw new InvalidInputError('--planned and --unplanned: choose one');
  const mode: FailoverMode = opts.unplanned ? 'unplanned' : 'planned';
  const standbys = (plan.spec.standbys ?? []).map((s) => s.name);
  if (!standbys.length) throw new InvalidInputError(`${planFile}: plan ${plan.metadata.name} lists no standby site; add spec.standbys (name, context, store) and spec.rpo`);
  let from: string;
  let to: string;
  if (operation === 'failover') {
    from = opts.from ?? plan.spec.source.name;
    if (!opts.to && standbys.length > 1) throw new InvalidInputError(`--to: plan ${plan.metadata.name} has several standby sites (${standbys.join(', ')}); name one`);
    to = opts.to ?? standbys[0];
  } else {
    to = plan.spec.source.name;
    if (!opts.from && standbys.length > 1) throw new InvalidInputError(`--from: plan ${plan.metadata.name} has several standby sites (${standbys.join(', ')}); name the one that is primary now`);
    from = opts.from ?? standbys[0];
  }
  // Unknown sites are refused before any server is contacted.
  siteNamed(plan, from);
  siteNamed(plan, to);
  const dr = await openClient();
  try {
    if (operation === 'failback') await requireReverseReplication(dr.client, plan);
    const { handle, failoverId } = await startFailover(dr.client, dr.settings.taskQueue, plan, { operation, mode, from, to });
    process.stderr.write(`started ${mode} ${operation} ${failoverId} of ${plan.metadata.name}: ${from} -> ${to} (workflow ${handle.workflowId})\n`);
    if (opts.detach) return;
    let report: FailoverReport;
    try {
      report = await follow(handle);
    } catch (err) {
      if (err instanceof WorkflowFailedError) {
        const s = await handle.query(failoverStatusQuery).catch(() => undefined);
        throw asRunFailure(err, handle.workflowId, `${operation} ${failoverId}${s ? ` (phase ${s.phase})` : ''}`);
      }
      throw err;
    }
    printOutput(opts, report, () => formatFailoverReport(report), () => [report.failoverId]);
    if (report.outcome === 'rejected') process.exitCode = EXIT_CODES.runCancelled;
  } finally {
    await dr.close();
  }
}

/** Failback needs the data written on the new primary back at the original site: its replication must have shipped a point. */
async function requireReverseReplication(client: Client, plan: Plan): Promise<void> {
  const id = replicateWorkflowId(plan.metadata.name, plan.spec.source.name);
  const s = await client.workflow
    .getHandle(id)
    .query(replicateStatusQuery)
    .catch((err: unknown) => {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    });
  if (!s?.newest) {
    throw new InvalidInputError(
      `failback of ${plan.metadata.name}: replication back to ${plan.spec.source.name} (${id}) ${s ? 'has not shipped a point yet' : 'is not running'}; ` +
        'the failover starts it: wait until `drctl replicate status` shows a point at that site, then fail back',
    );
  }
}

const GATES: ApprovalGate[] = ['before-fencing', 'before-traffic-switch', 'confirm-fenced'];

export function registerFailoverCommands(program: Command): void {
  const runOptions = (c: Command) =>
    c
      .option('--planned', 'relocate: the primary is reachable; it is fenced and a final point is shipped, no write is lost (default)')
      .option('--unplanned', 'disaster: never read from the old primary; bring up the newest point at the target and report the data-loss window')
      .option('--detach', 'print the workflow id and return; follow it in the Temporal UI or with --status');

  runOptions(
    withOutput(program
      .command('failover <plan>'))
      .description('make a standby site the primary of a plan (plan file); with --status, show the running or last failover')
      .option('--to <site>', 'the standby site to make primary (default: the only standby)')
      .option('--from <site>', 'the site that is primary now (default: spec.source.name)')
      .option('--status', 'show the failover of the plan (name or file) and exit'),
  ).action(async (planArg: string, opts: RunOptions & { status?: boolean }) => {
    if (opts.status) return showStatus(planArg, opts);
    await run(planArg, 'failover', opts);
  });

  runOptions(
    withOutput(program
      .command('failback <plan>'))
      .description('return a plan to its original site (spec.source) once replication back to it has shipped a point')
      .option('--from <site>', 'the site that is primary now (default: the only standby)'),
  ).action(async (planArg: string, opts: RunOptions) => run(planArg, 'failback', opts));

  for (const verb of ['approve', 'reject'] as const) {
    program
      .command(`${verb} <plan>`)
      .description(`${verb} the gate a failover of the plan waits on`)
      .requiredOption('--gate <gate>', `the gate: ${GATES.join(', ')}`)
      .option('--by <name>', 'who decides (default: $DRCTL_USER or $USER)')
      .option('--reason <text>', 'why (recorded in the report)')
      .action(async (planArg: string, opts: { gate: string; by?: string; reason?: string }) => {
        if (!GATES.includes(opts.gate as ApprovalGate)) throw new InvalidInputError(`--gate: expected one of ${GATES.join(', ')}, got "${opts.gate}"`);
        const planName = /\.ya?ml$/.test(planArg) ? loadPlanFile(planArg).metadata.name : planArg;
        const dr = await openClient();
        try {
          const h = await findFailover(dr.client, planName, 'running');
          if (!h) throw new NotFoundError(`no failover of plan ${planName} is running; \`drctl runs list --plan ${planName}\` lists its runs`);
          const s = await h
            .executeUpdate(verb === 'approve' ? approveUpdate : rejectUpdate, { args: [{ gate: opts.gate as ApprovalGate, by: opts.by ?? whoAmI(), ...(opts.reason ? { reason: opts.reason } : {}) }] })
            .catch((err: unknown) => {
              if (err instanceof WorkflowUpdateFailedError) throw new InvalidInputError(`${verb}: ${err.cause?.message ?? err.message}`);
              if (err instanceof WorkflowNotFoundError) throw new NotFoundError(`no failover of plan ${planName} is running (workflow ${h.workflowId})`);
              throw err;
            });
          console.log(`${verb === 'approve' ? 'approved' : 'rejected'} gate ${opts.gate} of failover ${s.failoverId}`);
        } finally {
          await dr.close();
        }
      });
  }
}

async function showStatus(planArg: string, opts: OutputOptions): Promise<void> {
  const planName = /\.ya?ml$/.test(planArg) ? loadPlanFile(planArg).metadata.name : planArg;
  const dr = await openClient();
  try {
    const h = (await findFailover(dr.client, planName, 'running')) ?? (await findFailover(dr.client, planName, 'newest'));
    if (!h) throw new NotFoundError(`plan ${planName} has had no failover; \`drctl runs list --plan ${planName}\` lists its runs`);
    const s = await h.query(failoverStatusQuery);
    printOutput(opts, s, () => formatFailoverStatus(s), () => [s.failoverId]);
  } finally {
    await dr.close();
  }
}
