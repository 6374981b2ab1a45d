import type { Command } from 'commander';
import { WorkflowIdConflictPolicy } from '@temporalio/client';
import type { RetentionResult } from '../../activities/backup/retention';
import { prune } from '../../workflows';
import { gcWorkflowId, pruneWorkflowId, type PruneProgress } from '../../workflows/prune';
import { DataCorruptionError, InvalidInputError } from '../../shared/errors';
import { parseDuration } from '../../shared/duration';
import { RETENTION_RULE_FIELD } from '../../shared/retention';
import { planToStoreRef, type Plan } from '../../shared/plan';
import { storeUrl } from '../../shared/store-ref';
import { DrOperation, DrPlan } from '../../shared/search-attributes';
import { formatBytes } from '../progress';
import { openClient } from '../temporal-client';
import { loadPlan } from '../plan-source';
import { asRunFailure, detachOnInterrupt } from '../run-result';
import { printOutput, withOutput, type OutputOptions } from '../output';

/** The human report of a prune run: kept (with the rules that kept each), expired, removed, collected. */
export function formatRetentionReport(r: RetentionResult): string {
  const lines: string[] = [];
  const verb = r.dryRun ? 'would ' : '';
  lines.push(`${r.dryRun ? 'dry run: ' : ''}plan ${r.plan}: ${r.kept.length} kept, ${r.expired.length} ${r.dryRun ? 'to expire' : 'expired'}, ${r.abandonedRemoved.length} failed/abandoned ${r.dryRun ? 'to remove' : 'removed'}`);
  for (const id of r.kept) lines.push(`  keep    ${id}  (${r.locked?.[id] ?? (r.reasons[id] ?? []).map((x) => RETENTION_RULE_FIELD[x]).join(', ')})`);
  for (const id of r.expired) lines.push(`  expire  ${id}`);
  for (const id of r.abandonedRemoved) lines.push(`  remove  ${id}  (failed or abandoned)`);
  for (const id of r.incompleteKept) lines.push(`  leave   ${id}  (${r.locked?.[id] ?? 'in progress or recently failed'})`);
  lines.push(`  ${verb}delete ${r.objectsDeleted} object(s) under points/`);
  const g = r.gc;
  if (g.ran) {
    lines.push(
      `garbage collection: ${g.manifests} live volume snapshot(s), ${g.packsTotal} pack(s): ${verb}delete ${g.packsDeleted} (${formatBytes(g.bytesDeleted ?? 0)}), keep ${g.packsKept}` +
        (g.packsInGrace ? ` (${g.packsInGrace} unreferenced but younger than the grace period)` : ''),
    );
    if (g.packsLocked || g.indexObjectsLocked) {
      lines.push(`  keep ${g.packsLocked ?? 0} unreferenced pack(s) and ${g.indexObjectsLocked ?? 0} index object(s) under Object Lock:`);
      for (const k of g.lockedKept ?? []) lines.push(`    ${k.key}  ${k.reason}`);
    }
    if (g.staleSessionsRemoved) lines.push(`  ${verb}remove ${g.staleSessionsRemoved} abandoned backup session(s)`);
    if (g.reason) lines.push(`  WARNING: ${g.reason}`);
  } else if (g.deferred) {
    lines.push(`garbage collection deferred: ${g.reason}`);
  } else {
    lines.push(`garbage collection not run: ${g.reason}`);
  }
  return lines.join('\n');
}

export function registerPruneCommand(points: Command): void {
  withOutput(points
    .command('prune'))
    .description("apply the plan's retention policy: expire old recovery points, remove failed/abandoned ones, collect unused data")
    .requiredOption('--plan <file>', 'the plan (its spec.retention and spec.store)')
    .option('--dry-run', 'show what would be expired and collected; delete nothing')
    .option('--abandoned-after <duration>', 'remove failed and abandoned in-progress points older than this', '24h')
    .option('--gc-grace <duration>', 'collect unused packs only when older than this (protects uploads of a backup that just crashed)', '1h')
    .action(async (opts: OutputOptions & { plan: string; dryRun?: boolean; abandonedAfter: string; gcGrace: string }) => {
      const abandonedAfterMs = parseDuration(opts.abandonedAfter);
      if (abandonedAfterMs === undefined) throw new InvalidInputError(`--abandoned-after ${JSON.stringify(opts.abandonedAfter)}: expected a duration like 24h or 2d`);
      const gcGraceMs = parseDuration(opts.gcGrace);
      if (gcGraceMs === undefined) throw new InvalidInputError(`--gc-grace ${JSON.stringify(opts.gcGrace)}: expected a duration like 1h or 0s`);
      const plan = await loadPlan(opts.plan);
      if (!plan.spec.retention) {
        throw new InvalidInputError(`plan ${plan.metadata.name} has no retention policy`, ['spec.retention: required to prune; add e.g. `retention: { keepLast: 7, keepDaily: 14 }`']);
      }
      const r = await runPruneWorkflow(plan, { dryRun: !!opts.dryRun, abandonedAfterMs, gcGraceMs }, (line) => console.error(line));
      printOutput(opts, r, () => formatRetentionReport(r), () => r.expired.map((p) => `${plan.metadata.name}/${p}`));
      if (r.gc.problem) throw new DataCorruptionError(`prune of ${plan.metadata.name}: ${r.gc.reason}`);
    });
}

/**
 * Runs a prune as the `prune` workflow on the worker (never in this process): it takes the store's
 * GC lock (the workflow gc/<store>, shared with the backups' retention), waiting for the one
 * running if any, and returns the report.
 */
export async function runPruneWorkflow(
  plan: Plan,
  opts: { dryRun: boolean; abandonedAfterMs: number; gcGraceMs: number },
  say: (line: string) => void = () => undefined,
): Promise<RetentionResult> {
  const dr = await openClient();
  try {
    const workflowId = pruneWorkflowId(plan.metadata.name, new Date());
    const handle = await dr.client.workflow.start(prune, {
      taskQueue: dr.settings.taskQueue,
      workflowId,
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
      args: [{ plan, dryRun: opts.dryRun, abandonedAfterMs: opts.abandonedAfterMs, gcGraceMs: opts.gcGraceMs }],
      typedSearchAttributes: [
        { key: DrPlan, value: plan.metadata.name },
        { key: DrOperation, value: 'prune' },
      ],
      staticSummary: `${opts.dryRun ? 'Dry run of prune' : 'Prune'} of plan ${plan.metadata.name} in ${storeUrl(planToStoreRef(plan))}`,
    });
    say(`started prune ${workflowId} (store lock ${gcWorkflowId(planToStoreRef(plan))})`);
    // Say once if the store's lock is held by another run (stderr: stdout is the report).
    let finished = false;
    const stopDetach = detachOnInterrupt(workflowId);
    const result = handle.result().finally(() => {
      finished = true;
      stopDetach();
    });
    result.catch(() => undefined);
    void (async () => {
      while (!finished) {
        const p = await handle.query<PruneProgress>('progress').catch(() => undefined);
        if (p?.lockBusy) return say(`another garbage collection of this store is running (${p.lock}); waiting for it to finish`);
        await Promise.race([result.catch(() => undefined), new Promise((r) => setTimeout(r, 1000))]);
      }
    })();
    try {
      return await result;
    } catch (err) {
      // The root cause names what failed (a wrong key, a missing policy...), not the workflow wrapper.
      throw asRunFailure(err, workflowId, `prune of plan ${plan.metadata.name}`);
    }
  } finally {
    await dr.close();
  }
}
