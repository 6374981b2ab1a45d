import { Context } from '@temporalio/activity';
import type { StoreRef } from '../shared/store-ref';
import { checkStoreRoundTrip } from './store/check-store';

/**
 * The orchestrator's activities. Every side effect of a workflow lives behind one of these;
 * each is idempotent so a retry after a crash converges.
 */
export function createActivities() {
  return {
    async checkStore(input: { store: StoreRef; sizeBytes: number }) {
      const info = Context.current().info;
      const run = info.workflowExecution ? `${info.workflowExecution.workflowId}/${info.workflowExecution.runId}` : info.activityId;
      return checkStoreRoundTrip(input.store, run, input.sizeBytes);
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
