import type { Command } from 'commander';
import type { Client } from '@temporalio/client';
import { replicateStatusQuery } from '../../workflows/replicate';
import type { BackupReport } from '../../workflows/backup';
import { openClient } from '../temporal-client';
import { printOutput, withOutput, type OutputOptions } from '../output';
import { liveRpo } from './replicate';
import { listRuns, runsQuery, type RunSummary } from './runs';

/** One plan as `drctl status` sees it through Temporal (the JSON and YAML of `-o`). */
export interface PlanStatus {
  plan: string;
  /** The newest point of the plan's last completed backup run. */
  lastPoint?: { pointId: string; completedAt: string; ageMs: number };
  replication: { site: string; phase: string; paused: boolean; achievedRpoMs?: number; targetRpoMs: number; rpoHealth: string; lastError?: string }[];
  running: RunSummary[];
  lastDrill?: { workflowId: string; status: string; closeTime?: string };
}

/** Every plan that has runs (or the ones named), from Temporal's visibility and the replication loops' status. */
export async function planStatuses(client: Client, plans: string[], now = Date.now()): Promise<PlanStatus[]> {
  const names = plans.length ? plans : [...new Set((await listRuns(client, runsQuery({}), 1000)).flatMap((r) => (r.plan ? [r.plan] : [])))].sort();
  const out: PlanStatus[] = [];
  for (const plan of names) {
    const [backup] = await listRuns(client, `${runsQuery({ plan, operation: 'backup' })} AND ExecutionStatus = 'Completed'`, 1);
    const report = backup && ((await client.workflow.getHandle(backup.workflowId, backup.runId).result().catch(() => undefined)) as BackupReport | undefined);
    const running = await listRuns(client, runsQuery({ plan, running: true }), 100);
    const replication: PlanStatus['replication'] = [];
    for (const r of running.filter((x) => x.operation === 'replicate')) {
      const s = await client.workflow.getHandle(r.workflowId).query(replicateStatusQuery).catch(() => undefined);
      if (!s) continue;
      const live = liveRpo(s, now);
      replication.push({ site: s.site, phase: s.phase, paused: s.paused, ...(live.achievedRpoMs !== undefined ? { achievedRpoMs: live.achievedRpoMs } : {}), targetRpoMs: s.targetRpoMs, rpoHealth: live.rpoHealth, ...(s.lastError ? { lastError: s.lastError.message } : {}) });
    }
    const [drill] = await listRuns(client, `${runsQuery({ plan, operation: 'drill' })} AND ExecutionStatus != 'Running'`, 1);
    out.push({
      plan,
      ...(report && backup.closeTime ? { lastPoint: { pointId: report.pointId, completedAt: backup.closeTime, ageMs: now - Date.parse(backup.closeTime) } } : {}),
      replication,
      running: running.filter((x) => x.operation !== 'replicate'),
      ...(drill ? { lastDrill: { workflowId: drill.workflowId, status: drill.status, ...(drill.closeTime ? { closeTime: drill.closeTime } : {}) } } : {}),
    });
  }
  return out;
}

const age = (ms: number) => (ms < 120_000 ? `${Math.round(ms / 1000)} s` : ms < 7_200_000 ? `${Math.round(ms / 60_000)} min` : `${(ms / 3_600_000).toFixed(1)} h`);

/** The table, coloured on a terminal: green healthy, yellow warning, red critical or failed. */
export function formatPlanStatuses(all: PlanStatus[], colour: boolean): string {
  const paint = (code: number, s: string) => (colour ? `\x1b[${code}m${s}\x1b[0m` : s);
  const health = (h: string) => paint(h === 'ok' ? 32 : h === 'critical' ? 31 : h === 'no-point-yet' ? 0 : 33, h.toUpperCase());
  if (!all.length) return 'no plan has run yet';
  return all
    .map((p) => {
      const lines = [`plan ${p.plan}`, `  last point   ${p.lastPoint ? `${p.lastPoint.pointId}, ${age(p.lastPoint.ageMs)} ago` : 'none yet'}`];
      for (const r of p.replication) {
        lines.push(`  replication  to ${r.site}: RPO ${r.achievedRpoMs !== undefined ? age(r.achievedRpoMs) : '-'} of ${age(r.targetRpoMs)} ${health(r.rpoHealth)}${r.paused ? ' (PAUSED)' : ''}${r.lastError ? `; last error: ${r.lastError}` : ''}`);
      }
      if (!p.replication.length) lines.push('  replication  not running');
      for (const r of p.running) lines.push(`  running      ${r.workflowId} (${r.operation ?? r.type}, ${r.phase ?? 'started'}, ${age(r.durationMs)})`);
      lines.push(`  last drill   ${p.lastDrill ? `${p.lastDrill.status === 'COMPLETED' ? paint(32, 'PASSED') : paint(31, p.lastDrill.status)} ${p.lastDrill.workflowId}${p.lastDrill.closeTime ? ` at ${p.lastDrill.closeTime}` : ''}` : 'none yet'}`);
      return lines.join('\n');
    })
    .join('\n\n');
}

export function registerStatusCommand(program: Command): void {
  withOutput(
    program
      .command('status [plans...]')
      .description('every plan (or those named): last point and its age, achieved RPO against target, running operations, last drill'),
  ).action(async (plans: string[], opts: OutputOptions) => {
    const dr = await openClient();
    try {
      const all = await planStatuses(dr.client, plans);
      printOutput(opts, all, () => formatPlanStatuses(all, !!process.stdout.isTTY), () => all.map((p) => p.plan));
    } finally {
      await dr.close();
    }
  });
}
