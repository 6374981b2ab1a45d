import type { Command } from 'commander';
import { WorkflowNotFoundError, type Client, type WorkflowExecutionInfo, type WorkflowHandle } from '@temporalio/client';
import { DrOperation, DrOutcome, DrPhase, DrPlan, DrRecoveryPoint, DrSite, DrSourceCluster, DrTargetCluster } from '../../shared/search-attributes';
import { InvalidInputError, NotFoundError } from '../../shared/errors';
import { openClient } from '../temporal-client';
import { printOutput, withOutput, type OutputOptions } from '../output';
import { detachOnInterrupt, runResult } from '../run-result';
import { wholeNumber } from '../flags';

/** One run as `drctl runs` prints it (the JSON and YAML of `-o`). */
export interface RunSummary {
  workflowId: string;
  runId: string;
  type: string;
  status: string;
  plan?: string;
  operation?: string;
  phase?: string;
  sourceCluster?: string;
  targetCluster?: string;
  site?: string;
  point?: string;
  outcome?: string;
  startTime: string;
  closeTime?: string;
  durationMs: number;
}

export function runSummary(w: Omit<WorkflowExecutionInfo, 'raw'>, now = Date.now()): RunSummary {
  const sa = w.typedSearchAttributes;
  const defined = <T>(k: string, v: T | undefined) => (v === undefined ? {} : { [k]: v });
  return {
    workflowId: w.workflowId,
    runId: w.runId,
    type: w.type,
    status: w.status.name,
    ...defined('plan', sa.get(DrPlan)),
    ...defined('operation', sa.get(DrOperation)),
    ...defined('phase', sa.get(DrPhase)),
    ...defined('sourceCluster', sa.get(DrSourceCluster)),
    ...defined('targetCluster', sa.get(DrTargetCluster)),
    ...defined('site', sa.get(DrSite)),
    ...defined('point', sa.get(DrRecoveryPoint)),
    ...defined('outcome', sa.get(DrOutcome)),
    startTime: w.startTime.toISOString(),
    ...(w.closeTime ? { closeTime: w.closeTime.toISOString() } : {}),
    durationMs: (w.closeTime?.getTime() ?? now) - w.startTime.getTime(),
  };
}

/** The visibility query for the filters: only runs of this tool (they all carry DrOperation). Pure. */
export function runsQuery(f: { plan?: string; operation?: string; running?: boolean }): string {
  const quote = (v: string, flag: string) => {
    if (!/^[A-Za-z0-9._/-]+$/.test(v)) throw new InvalidInputError(`${flag}: expected a plan or operation name (letters, digits, . _ / -), got ${JSON.stringify(v)}`);
    return `'${v}'`;
  };
  return [
    `${DrOperation.name} IS NOT NULL`,
    ...(f.plan ? [`${DrPlan.name} = ${quote(f.plan, '--plan')}`] : []),
    ...(f.operation ? [`${DrOperation.name} = ${quote(f.operation, '--operation')}`] : []),
    ...(f.running ? [`ExecutionStatus = 'Running'`] : []),
  ].join(' AND ');
}

/** Runs matching a visibility query, newest first, at most `limit`. */
export async function listRuns(client: Client, query: string, limit: number): Promise<RunSummary[]> {
  const out: RunSummary[] = [];
  for await (const w of client.workflow.list({ query })) {
    out.push(runSummary(w));
    if (out.length >= limit) break;
  }
  return out;
}

/** Runs `fn` with a Temporal client, closing its connection whatever happens. */
async function withClient<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const dr = await openClient();
  try {
    return await fn(dr.client);
  } finally {
    await dr.close();
  }
}

const seconds = (ms: number) => (ms < 120_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 60_000)} min`);
const row = (r: RunSummary) => `${r.workflowId.padEnd(48)} ${(r.operation ?? r.type).padEnd(16)} ${r.status.padEnd(11)} ${(r.phase ?? '').padEnd(16)} ${(r.outcome ?? '').padEnd(11)} ${r.startTime}  ${seconds(r.durationMs)}`;

async function describeRun(client: Client, workflowId: string): Promise<{ handle: WorkflowHandle; summary: RunSummary }> {
  const handle = client.workflow.getHandle(workflowId);
  const d = await handle.describe().catch((err: unknown) => {
    if (err instanceof WorkflowNotFoundError) throw new NotFoundError(`no run ${workflowId}; list them with \`drctl runs list\``);
    throw err;
  });
  return { handle, summary: runSummary(d) };
}

export function registerRunsCommands(program: Command): void {
  const runs = program.command('runs').description('every run of this tool (backups, restores, replication, failovers, drills), from Temporal');

  withOutput(
    runs
      .command('list')
      .description('runs, newest first')
      .option('--plan <name>', 'only this plan\'s runs')
      .option('--operation <name>', 'only this operation (backup, restore, replicate, failover, failback, drill, prune, ...)')
      .option('--running', 'only runs still going')
      .option('--limit <n>', 'at most this many', wholeNumber(1), 20),
  ).action(async (opts: OutputOptions & { plan?: string; operation?: string; running?: boolean; limit: number }) => {
    const query = runsQuery(opts);
    const out = await withClient((client) => listRuns(client, query, opts.limit));
    printOutput(opts, out, () => (out.length ? [`${'WORKFLOW'.padEnd(48)} ${'OPERATION'.padEnd(16)} ${'STATUS'.padEnd(11)} ${'PHASE'.padEnd(16)} ${'OUTCOME'.padEnd(11)} STARTED                   DURATION`, ...out.map(row)].join('\n') : 'no runs'), () => out.map((r) => r.workflowId));
  });

  withOutput(runs.command('describe <workflow-id>').description('one run: status, phase, plan, clusters, times')).action(async (workflowId: string, opts: OutputOptions) => {
    const { summary: s } = await withClient((client) => describeRun(client, workflowId));
    printOutput(opts, s, () => Object.entries(s).map(([k, v]) => `${k.padEnd(14)} ${k === 'durationMs' ? seconds(v as number) : String(v)}`).join('\n'), () => [s.workflowId]);
  });

  runs
    .command('watch <workflow-id>')
    .description('follow a run until it ends: each phase on stderr, then its outcome; exits like the command that started it')
    .action((workflowId: string) =>
      withClient(async (client) => {
        const { handle, summary } = await describeRun(client, workflowId);
        let last = '';
        let finished = false;
        detachOnInterrupt(workflowId);
        const result = runResult(handle, `${summary.operation ?? summary.type} ${workflowId}`).finally(() => (finished = true));
        result.catch(() => undefined);
        while (!finished) {
          const phase = runSummary(await handle.describe()).phase ?? '';
          if (phase !== last) process.stderr.write(`${new Date().toISOString()} ${workflowId}: ${phase || 'started'}\n`);
          last = phase;
          await Promise.race([result.catch(() => undefined), new Promise((r) => setTimeout(r, 1000))]);
        }
        await result;
        console.log(`${workflowId}: completed`);
      }),
    );

  runs
    .command('cancel <workflow-id>')
    .description('ask a run to stop: it cleans up (releases quiesces, tears down drills) and ends CANCELLED')
    .action((workflowId: string) =>
      withClient(async (client) => {
        const { handle, summary } = await describeRun(client, workflowId);
        if (summary.status !== 'RUNNING') throw new InvalidInputError(`${workflowId} is not running (${summary.status}); nothing to cancel`);
        await handle.cancel();
        console.log(`cancellation requested for ${workflowId}; follow it with \`drctl runs watch ${workflowId}\``);
      }),
    );
}
