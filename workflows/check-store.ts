import { proxyActivities, upsertSearchAttributes } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { StoreRef } from '../shared/store-ref';
import type { StoreCheckResult } from '../shared/store-check';
import { DrPhase } from '../shared/search-attributes';
import { recordingOutcome } from './run-attributes';
import { NON_RETRYABLE_ERROR_TYPES } from '../shared/errors';

const { checkStore: roundTrip } = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES },
});

export interface CheckStoreInput {
  store: StoreRef;
  /** Size of the probe object; default 1 MiB. */
  sizeBytes?: number;
}

/** Proves the object store is writable and returns what it wrote: `drctl store check`. */
export async function checkStore(input: CheckStoreInput): Promise<StoreCheckResult> {
  return recordingOutcome('store-check', '', async () => {
    upsertSearchAttributes([{ key: DrPhase, value: 'RoundTrip' }]);
    const result = await roundTrip({ store: input.store, sizeBytes: input.sizeBytes ?? 1024 * 1024 });
    upsertSearchAttributes([{ key: DrPhase, value: 'Done' }]);
    return result;
  });
}
