import { ContinueAsNew, isCancellation, metricMeter, patched, upsertSearchAttributes } from '@temporalio/workflow';
import { DrOutcome, DrRecoveryPoint, DrSite } from '../shared/search-attributes';

/**
 * DrSite, DrRecoveryPoint and DrOutcome, and the per-run metrics, came after runs were in flight:
 * their upserts are new commands, so only runs that reach them on this worker version make them.
 */
const RUN_ATTRIBUTES_PATCH = 'dr-run-attributes';

export function recordPoint(pointId: string): void {
  if (patched(RUN_ATTRIBUTES_PATCH)) upsertSearchAttributes([{ key: DrRecoveryPoint, value: pointId }]);
}

export function recordSite(site: string): void {
  if (patched(RUN_ATTRIBUTES_PATCH)) upsertSearchAttributes([{ key: DrSite, value: site }]);
}

/**
 * Runs a workflow's body and records how it ended: the DrOutcome search attribute and
 * `dr_runs_total{operation,plan,outcome}` with `dr_run_duration_seconds`, so a failed backup
 * or failover is both filterable in the UI and alertable. `outcomeOf` names a success in the
 * operation's own words (a rejected failover ends without an error).
 */
export async function recordingOutcome<T>(operation: string, plan: string, body: () => Promise<T>, outcomeOf: (result: T) => string = () => 'succeeded'): Promise<T> {
  if (!patched(RUN_ATTRIBUTES_PATCH)) return body();
  const started = Date.now();
  const end = (outcome: string) => {
    upsertSearchAttributes([{ key: DrOutcome, value: outcome }]);
    const tags = { operation, plan, outcome };
    metricMeter.createCounter('dr_runs_total', '', 'DR runs ended, by operation, plan and outcome').withTags(tags).add(1);
    metricMeter.createHistogram('dr_run_duration_seconds', 'float', 's', 'duration of DR runs').withTags(tags).record((Date.now() - started) / 1000);
  };
  try {
    const result = await body();
    end(outcomeOf(result));
    return result;
  } catch (err) {
    if (err instanceof ContinueAsNew) throw err; // the run goes on in its next execution
    end(isCancellation(err) ? 'cancelled' : 'failed');
    throw err;
  }
}
