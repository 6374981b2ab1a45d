import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { WorkflowIdConflictPolicy, WorkflowNotFoundError, WorkflowUpdateFailedError, type Client, type WorkflowHandle, type WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { replicate } from '../../workflows';
import {
  pauseReplicationUpdate,
  replicateNowUpdate,
  replicateStatusQuery,
  resumeReplicationUpdate,
  setReplicationIntervalUpdate,
  type ReplicateInput,
} from '../../workflows/replicate';
import { replicateWorkflowId, rpoHealth, type ReplicateStatus } from '../../shared/replication';
import { replicationIntervalMs, standbySite, type Plan } from '../../shared/plan';
import { formatDuration, parseDuration } from '../../shared/duration';
import { DrOperation, DrPlan, DrSourceCluster, DrTargetCluster } from '../../shared/search-attributes';
import { InvalidInputError } from '../../shared/errors';
import { openClient } from '../temporal-client';
import { loadPlan, planSource } from '../plan-source';
import { formatBytes } from '../progress';
import { printOutput, withOutput, type OutputOptions } from '../output';

/**
 * Starts the replication loop of a plan to one standby site, or finds the one already running
 * (WorkflowIdConflictPolicy USE_EXISTING): `started` says which.
 */
export async function startReplication(
  client: Client,
  taskQueue: string,
  plan: Plan,
  siteName: string,
  opts: Omit<ReplicateInput, 'plan' | 'site' | 'state'> = {},
): Promise<{ handle: WorkflowHandleWithFirstExecutionRunId<typeof replicate>; started: boolean; workflowId: string }> {
  const site = standbySite(plan, siteName);
  const intervalMs = opts.intervalMs ?? replicationIntervalMs(plan);
  const workflowId = replicateWorkflowId(plan.metadata.name, site.name);
  const running = await client.workflow
    .getHandle(workflowId)
    .describe()
    .then((d) => (d.status.name === 'RUNNING' ? d.runId : undefined))
    .catch((err: unknown) => {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    });
  const handle = await client.workflow.start(replicate, {
    taskQueue,
    workflowId,
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    args: [{ ...opts, plan, site: site.name, intervalMs }],
    typedSearchAttributes: [
      { key: DrPlan, value: plan.metadata.name },
      { key: DrOperation, value: 'replicate' },
      { key: DrSourceCluster, value: plan.spec.source.clusterName ?? plan.spec.source.context },
      { key: DrTargetCluster, value: site.clusterName ?? site.context },
    ],
    staticSummary: `Replication of plan ${plan.metadata.name} to site ${site.name} (${site.context}, ${site.store.url}), rpo ${plan.spec.rpo}`,
  });
  return { handle, started: running === undefined, workflowId };
}

/** The live achieved RPO: now − capture time of the newest point at the standby (the query's clock stops while the loop sleeps). */
export function liveRpo(s: ReplicateStatus, now = Date.now()): { achievedRpoMs?: number; rpoHealth: ReplicateStatus['rpoHealth'] } {
  const achieved = s.newest ? now - Date.parse(s.newest.capturedAt) : undefined;
  return { ...(achieved !== undefined ? { achievedRpoMs: achieved } : {}), rpoHealth: rpoHealth(achieved, s.targetRpoMs) };
}

export function formatStatus(s: ReplicateStatus): string {
  const live = liveRpo(s);
  const sec = (ms: number) => formatDuration(Math.round(ms / 1000) * 1000);
  const lines = [
    `replication of plan ${s.planName} to site ${s.site}: ${s.paused ? 'PAUSED' : s.phase}`,
    `  achieved RPO   ${live.achievedRpoMs !== undefined ? sec(live.achievedRpoMs) : '-'} (target ${formatDuration(s.targetRpoMs)}): ${live.rpoHealth.toUpperCase()}`,
    `  interval       ${formatDuration(s.intervalMs)}${s.nextCycleAt ? `, next point at ${s.nextCycleAt}` : ''}`,
    `  newest point   ${s.newest ? `${s.newest.pointId} (captured ${s.newest.capturedAt}, at the standby since ${s.newest.shippedAt})` : 'none at the standby yet'}`,
    `  shipped        ${s.pointsShipped} point(s), ${formatBytes(s.bytesShipped)} in ${s.cycles} cycle(s) (${s.failures} failed${s.consecutiveFailures ? `, ${s.consecutiveFailures} in a row` : ''})`,
  ];
  if (s.currentPointId) lines.push(`  in progress    ${s.currentPointId}`);
  if (s.lastError) lines.push(`  last error     ${s.lastError.phase} at ${s.lastError.at}: ${s.lastError.message}`);
  if (live.rpoHealth === 'warning' || live.rpoHealth === 'critical') {
    lines.push(`  ${live.rpoHealth.toUpperCase()}: the standby is ${live.rpoHealth === 'critical' ? '3' : '2'}x or more behind its target; see the last error`);
  }
  return lines.join('\n');
}

/** The sites to act on: `--site`, else every site of the plan file, else every running loop of the plan. */
async function resolveTargets(client: Client, planArg: string, site: string | undefined): Promise<{ planName: string; sites: string[] }> {
  if (planSource().namespace || /\.ya?ml$/.test(planArg) || existsSync(planArg)) {
    const plan = await loadPlan(planArg);
    if (site) standbySite(plan, site);
    const sites = site ? [site] : (plan.spec.standbys ?? []).map((s) => s.name);
    if (!sites.length) throw new InvalidInputError(`${planArg}: plan ${plan.metadata.name} lists no standby site; add spec.standbys and spec.rpo`);
    return { planName: plan.metadata.name, sites };
  }
  if (site) return { planName: planArg, sites: [site] };
  const sites: string[] = [];
  const prefix = `replicate/${planArg}/`;
  for await (const w of client.workflow.list({ query: `DrPlan = '${planArg.replace(/'/g, '')}' AND DrOperation = 'replicate' AND ExecutionStatus = 'Running'` })) {
    if (w.workflowId.startsWith(prefix)) sites.push(w.workflowId.slice(prefix.length));
  }
  if (!sites.length) throw new InvalidInputError(`no replication of plan ${planArg} is running; start one with \`drctl replicate start <plan.yaml>\``);
  return { planName: planArg, sites: sites.sort() };
}

/** Maps "no such loop" and a refused update (its validator's reason) to one-line errors. */
function notRunning(planName: string, site: string) {
  return (err: unknown): never => {
    if (err instanceof WorkflowUpdateFailedError) {
      throw new InvalidInputError(`replication ${replicateWorkflowId(planName, site)}: ${err.cause?.message ?? err.message}`);
    }
    if (err instanceof WorkflowNotFoundError) {
      throw new InvalidInputError(`no replication of plan ${planName} to site ${site} is running (workflow ${replicateWorkflowId(planName, site)}); start it with \`drctl replicate start <plan.yaml>\``);
    }
    throw err;
  };
}

export function registerReplicateCommands(program: Command): void {
  const cmd = program.command('replicate').description('keep standby sites within the plan\'s RPO: ship recovery points to their stores');

  cmd
    .command('start <plan>')
    .description('start replicating a plan to its standby sites (a running replication is returned, not started twice)')
    .option('--site <name>', 'only this standby site')
    .option('--interval <duration>', 'time between points (default: the plan\'s rpo / 2)')
    .action(async (file: string, opts: { site?: string; interval?: string }) => {
      const plan = await loadPlan(file);
      const sites = opts.site ? [opts.site] : (plan.spec.standbys ?? []).map((s) => s.name);
      if (!sites.length) throw new InvalidInputError(`${file}: plan ${plan.metadata.name} lists no standby site; add spec.standbys (name, context, store) and spec.rpo`);
      for (const s of sites) standbySite(plan, s);
      let intervalMs: number | undefined;
      if (opts.interval !== undefined) {
        intervalMs = parseDuration(opts.interval);
        if (intervalMs === undefined || intervalMs < 1000) throw new InvalidInputError(`--interval: expected a duration of at least 1s like 5m, got "${opts.interval}"`);
      }
      const dr = await openClient();
      try {
        for (const site of sites) {
          const r = await startReplication(dr.client, dr.settings.taskQueue, plan, site, intervalMs !== undefined ? { intervalMs } : {});
          const every = formatDuration(intervalMs ?? replicationIntervalMs(plan));
          console.log(
            r.started
              ? `started replication ${r.workflowId} (run ${r.handle.firstExecutionRunId}): a point every ${every}, rpo ${plan.spec.rpo}`
              : `replication ${r.workflowId} is already running (run ${r.handle.firstExecutionRunId}); see \`drctl replicate status ${plan.metadata.name}\``,
          );
        }
      } finally {
        await dr.close();
      }
    });

  withOutput(
    cmd
      .command('status <plan>')
      .description('achieved RPO, newest point at each standby, last error (plan name or file)')
      .option('--site <name>', 'only this standby site'),
  ).action(async (planArg: string, opts: OutputOptions & { site?: string }) => {
      const dr = await openClient();
      try {
        const { planName, sites } = await resolveTargets(dr.client, planArg, opts.site);
        const out: ReplicateStatus[] = [];
        for (const site of sites) {
          const s = await dr.client.workflow.getHandle(replicateWorkflowId(planName, site)).query(replicateStatusQuery).catch(notRunning(planName, site));
          out.push({ ...s, ...liveRpo(s) });
        }
        printOutput(opts, out.length === 1 ? out[0] : out, () => out.map(formatStatus).join('\n\n'), () => out.map((s) => replicateWorkflowId(s.planName, s.site)));
      } finally {
        await dr.close();
      }
    });

  const control = (name: string, description: string, run: (h: WorkflowHandle) => Promise<ReplicateStatus | void>) =>
    cmd
      .command(`${name} <plan>`)
      .description(description)
      .option('--site <name>', 'only this standby site')
      .action(async (planArg: string, opts: { site?: string }) => {
        const dr = await openClient();
        try {
          const { planName, sites } = await resolveTargets(dr.client, planArg, opts.site);
          for (const site of sites) {
            const s = await run(dr.client.workflow.getHandle(replicateWorkflowId(planName, site))).catch(notRunning(planName, site));
            console.log(s ? formatStatus(s) : `${name}: ${replicateWorkflowId(planName, site)}`);
          }
        } finally {
          await dr.close();
        }
      });
  control('pause', 'pause replication (the current point still lands; no new point until resumed)', (h) => h.executeUpdate(pauseReplicationUpdate));
  control('resume', 'resume a paused replication', (h) => h.executeUpdate(resumeReplicationUpdate));
  control('now', 'take and ship a point now instead of at the next interval', (h) => h.executeUpdate(replicateNowUpdate));
  const interval = cmd
    .command('interval <plan> <duration>')
    .description('change the time between points (at most the plan\'s rpo)')
    .option('--site <name>', 'only this standby site');
  interval.action(async (planArg: string, duration: string, opts: { site?: string }) => {
    const ms = parseDuration(duration);
    if (ms === undefined) throw new InvalidInputError(`<duration>: expected a duration like 5m, got "${duration}"`);
    const dr = await openClient();
    try {
      const { planName, sites } = await resolveTargets(dr.client, planArg, opts.site);
      for (const site of sites) {
        const h = dr.client.workflow.getHandle(replicateWorkflowId(planName, site));
        const s = await h.executeUpdate(setReplicationIntervalUpdate, { args: [ms] }).catch(notRunning(planName, site));
        console.log(formatStatus(s));
      }
    } finally {
      await dr.close();
    }
  });
  control('stop', 'stop replicating (cancels the loop; a backup in progress is cancelled cleanly)', async (h) => {
    await h.cancel();
  });
}
