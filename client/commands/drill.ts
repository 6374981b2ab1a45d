import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { drillReportHtml } from '../drill-html';
import { ScheduleAlreadyRunning, ScheduleNotFoundError, ScheduleOverlapPolicy, WorkflowFailedError, type Client } from '@temporalio/client';
import { drill } from '../../workflows';
import type { DrillInput } from '../../workflows/drill';
import { drillReportKey, drillStoreRef, drillReportsPrefix, drillScheduleId, drillWorkflowId, newDrillId, type DrillReport } from '../../shared/drill';
import type { Plan } from '../../shared/plan';
import { cronProblem } from '../../shared/cron';
import { parseDuration } from '../../shared/duration';
import { DrOperation, DrPlan } from '../../shared/search-attributes';
import { InvalidInputError, NotFoundError } from '../../shared/errors';
import { openStore } from '../../activities/store/open-store';
import { listAll } from '../../activities/store/object-store';
import { openClient } from '../temporal-client';
import { loadPlanFile } from './plan';
import { loadPlan } from '../plan-source';
import { asRunFailure, detachOnInterrupt } from '../run-result';
import { EXIT_CODES } from '../../config/exit-codes';
import { printOutput, withOutput, type OutputOptions } from '../output';


export async function startDrill(client: Client, taskQueue: string, plan: Plan, opts: Omit<DrillInput, 'plan' | 'drillId'> = {}) {
  const drillId = newDrillId(new Date(), plan.metadata.name, Math.random().toString(16).slice(2, 8));
  const handle = await client.workflow.start(drill, {
    taskQueue,
    workflowId: drillWorkflowId(plan.metadata.name, drillId),
    args: [{ ...opts, plan, drillId }],
    typedSearchAttributes: [
      { key: DrPlan, value: plan.metadata.name },
      { key: DrOperation, value: 'drill' },
    ],
    staticSummary: `DR drill of plan ${plan.metadata.name}`,
  });
  return { handle, drillId };
}

type ScheduleOptions = { cron: string; catchupWindow?: string; pauseAfterFailures?: number; restore?: DrillInput['restore'] };

/** The schedule's settings, or InvalidInputError naming the flag: checked before any server is contacted. */
function checkScheduleOptions(plan: Plan, opts: ScheduleOptions): { pauseAfter: number; catchupMs: number } {
  const pauseAfter = opts.pauseAfterFailures ?? plan.spec.drill?.pauseAfterFailures ?? 1;
  if (!Number.isInteger(pauseAfter) || pauseAfter < 0) throw new InvalidInputError(`--pause-after-failures: expected a whole number, 0 (never) or more, got ${opts.pauseAfterFailures}`);
  const problem = cronProblem(opts.cron);
  if (problem) throw new InvalidInputError(`--cron: ${problem} (expected cron like "0 3 * * 1")`);
  const catchupMs = parseDuration(opts.catchupWindow ?? '10m');
  if (catchupMs === undefined || catchupMs < 1000) throw new InvalidInputError(`--catchup-window: expected a duration of at least 1s like 10m, got "${opts.catchupWindow}"`);
  return { pauseAfter, catchupMs };
}

/**
 * Creates (or replaces) the plan's drill schedule: a Temporal Schedule that starts the drill
 * workflow on the cron, skipping a run while one is still going (overlap SKIP), catching up missed
 * runs within `catchupWindow`, and pausing itself after `pauseAfterFailures` failed drills in a row.
 */
export async function scheduleDrills(client: Client, taskQueue: string, plan: Plan, opts: ScheduleOptions) {
  const { pauseAfter, catchupMs } = checkScheduleOptions(plan, opts);
  const scheduleId = drillScheduleId(plan.metadata.name);
  const options = {
    scheduleId,
    spec: { cronExpressions: [opts.cron] },
    action: {
      type: 'startWorkflow' as const,
      workflowType: drill,
      taskQueue,
      workflowId: `drill/${plan.metadata.name}/scheduled`,
      args: [{ plan, scheduled: { pauseAfterFailures: pauseAfter }, ...(opts.restore ? { restore: opts.restore } : {}) }] as [DrillInput],
      typedSearchAttributes: [
        { key: DrPlan, value: plan.metadata.name },
        { key: DrOperation, value: 'drill' },
      ],
    },
    // One failure: the schedule's own pauseOnFailure. More: the drill counts and pauses it (workflows/drill.ts).
    policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: catchupMs, pauseOnFailure: pauseAfter === 1 },
    state: { note: `drills of plan ${plan.metadata.name} (${opts.cron})` },
  };
  try {
    return await client.schedule.create(options);
  } catch (err) {
    if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    const handle = client.schedule.getHandle(scheduleId);
    await handle.update((prev) => ({ ...prev, spec: options.spec, action: options.action, policies: options.policies }));
    return handle;
  }
}

export async function readDrillReports(plan: Plan): Promise<DrillReport[]> {
  const store = openStore(drillStoreRef(plan));
  const keys = (await listAll(store, drillReportsPrefix(plan.metadata.name))).map((o) => o.key).sort().reverse();
  return Promise.all(keys.map(async (k) => JSON.parse((await store.get(k))!.toString('utf8')) as DrillReport));
}

export function formatDrillReport(r: DrillReport): string {
  const s = (ms?: number) => (ms === undefined ? '-' : `${(ms / 1000).toFixed(1)} s`);
  return [
    `drill ${r.drillId} of ${r.planName}: ${r.outcome.toUpperCase()}${r.failure ? ` (${r.failure})` : ''}`,
    `  point ${r.pointId ?? '-'} from ${r.store}, captured ${r.pointCapturedAt ?? '-'}; RPO ${s(r.rpoMs)}, RTO ${s(r.rtoMs)}`,
    `  on ${r.cluster}: ${Object.entries(r.namespaces).map(([a, b]) => `${a} -> ${b}`).join(', ')}`,
    ...r.steps.map((st) => `  ${st.ok ? 'ok  ' : 'FAIL'} ${st.name.padEnd(10)} ${s(st.durationMs).padStart(8)}  ${st.detail ?? ''}`),
    ...r.checks.map((c) => `  ${c.kind ?? 'exec'} check ${c.name} in ${c.pod}: ${c.ok ? 'ok' : 'FAILED'} (${s(c.durationMs)}) ${c.output.trim().split('\n')[0] ?? ''}`),
    ...(r.leftovers.length ? [`  LEFT BEHIND: ${r.leftovers.join(', ')}`] : []),
  ].join('\n');
}

export function registerDrillCommands(program: Command): void {
  const cmd = program.command('drill').description('prove recovery works: restore into isolated namespaces, check, tear down, report');

  withOutput(
    cmd
      .command('run <plan>')
      .description('run a drill now and wait for its report (plan file)')
      .option('--to <context>', 'restore into this cluster (default: the plan\'s first standby, else its target)')
      .option('--cluster-name <name>', 'the cluster name its node agents use (default: the context)')
      .option('--detach', 'print the workflow id and return'),
  ).action(async (file: string, opts: OutputOptions & { to?: string; clusterName?: string; detach?: boolean }) => {
      const plan = await loadPlan(file);
      if (opts.clusterName && !opts.to) throw new InvalidInputError('--cluster-name: give it with --to <context>');
      const dr = await openClient();
      try {
        const { handle, drillId } = await startDrill(dr.client, dr.settings.taskQueue, plan, opts.to ? { cluster: { context: opts.to, clusterName: opts.clusterName ?? opts.to } } : {});
        process.stderr.write(`started drill ${drillId} (workflow ${handle.workflowId})\n`);
        if (opts.detach) return;
        detachOnInterrupt(handle.workflowId);
        const report = await handle.result().catch(async (err: unknown) => {
          if (!(err instanceof WorkflowFailedError)) throw err;
          const stored = (await readDrillReports(plan)).find((r) => r.drillId === drillId);
          if (stored) return stored;
          throw asRunFailure(err, handle.workflowId, `drill ${drillId}`);
        });
        printOutput(opts, report, () => formatDrillReport(report), () => [report.drillId]);
        if (report.outcome !== 'passed') process.exitCode = report.outcome === 'cancelled' ? EXIT_CODES.runCancelled : EXIT_CODES.runFailed;
      } finally {
        await dr.close();
      }
    });

  cmd
    .command('schedule <plan>')
    .description('run drills on a cron (a Temporal Schedule; re-running updates it)')
    .option('--cron <expr>', 'cron expression (default: the plan\'s spec.drill.schedule)')
    .option('--catchup-window <duration>', 'how late a missed run may still start', '10m')
    .option('--pause-after-failures <n>', 'pause the schedule after n failed drills in a row, 0 never (default: spec.drill.pauseAfterFailures, 1)')
    .action(async (file: string, opts: { cron?: string; catchupWindow: string; pauseAfterFailures?: string }) => {
      const plan = await loadPlan(file);
      const cron = opts.cron ?? plan.spec.drill?.schedule;
      if (!cron) throw new InvalidInputError(`--cron: plan ${plan.metadata.name} has no spec.drill.schedule; give --cron "0 3 * * 1"`);
      const n = opts.pauseAfterFailures === undefined ? undefined : Number(opts.pauseAfterFailures);
      const settings = { cron, catchupWindow: opts.catchupWindow, ...(n === undefined ? {} : { pauseAfterFailures: n }) };
      checkScheduleOptions(plan, settings);
      const dr = await openClient();
      try {
        const h = await scheduleDrills(dr.client, dr.settings.taskQueue, plan, settings);
        const after = n ?? plan.spec.drill?.pauseAfterFailures ?? 1;
        console.log(`drill schedule ${h.scheduleId}: ${cron}, overlap skip, catch-up ${opts.catchupWindow}, ${after ? `pauses after ${after} failed drill(s) in a row` : 'never pauses itself'}`);
      } finally {
        await dr.close();
      }
    });

  for (const [verb, what] of [
    ['pause', 'pause the plan\'s drill schedule'],
    ['unpause', 'resume the plan\'s drill schedule'],
    ['delete', 'delete the plan\'s drill schedule (reports stay in the store)'],
  ] as const) {
    cmd
      .command(`${verb} <plan>`)
      .description(what)
      .action(async (planArg: string) => {
        const planName = /\.ya?ml$/.test(planArg) ? loadPlanFile(planArg).metadata.name : planArg;
        const dr = await openClient();
        try {
          const h = dr.client.schedule.getHandle(drillScheduleId(planName));
          await (verb === 'pause' ? h.pause('paused with drctl') : verb === 'unpause' ? h.unpause('unpaused with drctl') : h.delete()).catch((err: unknown) => {
            if (err instanceof ScheduleNotFoundError) throw new NotFoundError(`plan ${planName} has no drill schedule (${drillScheduleId(planName)}); create it with \`drctl drill schedule <plan.yaml>\``);
            throw err;
          });
          console.log(`${verb}d ${drillScheduleId(planName)}`);
        } finally {
          await dr.close();
        }
      });
  }

  withOutput(cmd.command('list <plan>').description('past drills of a plan, newest first, from the store (plan file)')).action(async (file: string, opts: OutputOptions) => {
    const reports = await readDrillReports(await loadPlan(file));
    printOutput(
      opts,
      reports.map(({ steps: _s, checks: _c, ...r }) => r),
      () =>
        reports.length
          ? reports.map((r) => `${r.drillId}  ${r.outcome.padEnd(9)}  RTO ${((r.rtoMs ?? 0) / 1000).toFixed(1)} s  RPO ${((r.rpoMs ?? 0) / 1000).toFixed(1)} s  ${r.failure ?? ''}`).join('\n')
          : 'no drills yet',
      () => reports.map((r) => r.drillId),
    );
  });

  withOutput(
    cmd
      .command('report <plan> <id>')
      .description('one drill\'s report (plan file and drill id)')
      .option('--html <file>', 'also write it as one self-contained HTML page with a timeline chart'),
  ).action(async (file: string, id: string, opts: OutputOptions & { html?: string }) => {
      const plan = await loadPlan(file);
      const body = await openStore(drillStoreRef(plan)).get(drillReportKey(plan.metadata.name, id));
      if (!body) throw new NotFoundError(`no drill ${id} of plan ${plan.metadata.name}; see \`drctl drill list ${file}\``);
      const report = JSON.parse(body.toString('utf8')) as DrillReport;
      if (opts.html) writeFileSync(opts.html, drillReportHtml(report));
      printOutput(opts, report, () => formatDrillReport(report), () => [report.drillId]);
    });
}
