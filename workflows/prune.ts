import {
  ApplicationFailure,
  ParentClosePolicy,
  defineQuery,
  executeChild,
  log,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  sleep,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities } from '../activities';
import type { RetentionResult } from '../activities/backup/retention';
import type { Plan } from '../shared/plan';
import { planToStoreRef } from '../shared/plan';
import { storeUrl, type StoreRef } from '../shared/store-ref';
import { NON_RETRYABLE_ERROR_TYPES } from '../shared/errors';
import { DrOperation, DrPhase, DrPlan } from '../shared/search-attributes';
import { recordingOutcome } from './run-attributes';

/**
 * Retention and garbage collection as workflows, one at a time per store.
 *
 * The lock: GC is store-wide (chunks are deduplicated across plans), so at most one retention+GC
 * may run per repository. That run is the `storeGc` workflow whose ID is `gc/<store>`
 * (gcWorkflowId): Temporal refuses to start a second execution with the ID of a running one, so
 * whoever starts it holds the lock for as long as it runs, and loses it when it ends, however it
 * ends (completed, failed, cancelled, terminated by an operator). Nothing can go stale: a worker
 * crash does not end the run, it resumes on another worker (the GC activity is retried after its
 * heartbeat timeout and its store-side lock object is reused, see GcOptions.lockId).
 * Both `drctl points prune` (the `prune` workflow) and the backup workflow's Retention phase
 * start `storeGc` as a child through runRetentionUnderLock, which waits while another holds it.
 */

export interface PruneInput {
  plan: Plan;
  /** Decide and report; delete nothing. */
  dryRun?: boolean;
  /** Failed and abandoned points older than this are removed (default 24 h). */
  abandonedAfterMs?: number;
  /** Unused packs younger than this are kept (default 1 h). */
  gcGraceMs?: number;
  /** First wait before trying the store's GC lock again; doubles up to 1 min (default 5 s). */
  lockRetryMs?: number;
  /** Give up waiting for the lock after this long (default: wait until it is free). */
  lockWaitMs?: number;
  /** Heartbeat timeout of the retention activity: how fast a dead worker is noticed (default 2 min). */
  heartbeatTimeoutMs?: number;
}

export interface PruneProgress {
  phase: 'WaitingForLock' | 'Pruning' | 'Done' | 'Failed';
  /** The lock's workflow ID (`gc/<store>`). */
  lock: string;
  /** Times the lock was found held by another run. */
  lockBusy: number;
}

export const pruneProgressQuery = defineQuery<PruneProgress>('progress');

/** The store-wide maintenance lock: the workflow ID of the one GC allowed per store. */
export function gcWorkflowId(store: StoreRef): string {
  const host = store.endpoint ? store.endpoint.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').replace(/\/.*$/, '') : 'aws';
  return `gc/${host}/${storeUrl(store).slice('s3://'.length)}`;
}

/** Workflow ID of one `drctl points prune` run. */
export const pruneWorkflowId = (planName: string, startedAt: Date) =>
  `prune/${planName}/${startedAt.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z').toLowerCase()}`;

/** Failure type when the lock stayed busy longer than lockWaitMs. */
export const GC_LOCK_BUSY = 'GcLockBusy';

/**
 * Runs the plan's retention and the store's GC as the child `storeGc` holding the store's lock,
 * waiting (durably, with timers) while another run holds it. `onWait` is told each time it is busy.
 */
export async function runRetentionUnderLock(input: PruneInput, onWait: (lock: string) => void = () => undefined): Promise<RetentionResult> {
  const store = planToStoreRef(input.plan);
  const lock = gcWorkflowId(store);
  const started = Date.now();
  let delay = input.lockRetryMs ?? 5_000;
  for (;;) {
    try {
      return await executeChild(storeGc, {
        workflowId: lock,
        args: [input],
        // A parent that ends (even terminated) cancels the GC, whose activity stops at its next
        // heartbeat; the lock is released only once it has.
        parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
        typedSearchAttributes: [
          { key: DrPlan, value: input.plan.metadata.name },
          { key: DrOperation, value: 'gc' },
        ],
        staticSummary: `${input.dryRun ? 'Dry run of retention' : 'Retention'} of plan ${input.plan.metadata.name} and garbage collection of ${storeUrl(store)}`,
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      if (input.lockWaitMs !== undefined && Date.now() - started + delay > input.lockWaitMs) {
        throw ApplicationFailure.create({
          type: GC_LOCK_BUSY,
          nonRetryable: true,
          message: `another garbage collection of ${storeUrl(store)} (workflow ${lock}) held the store for ${Math.round((Date.now() - started) / 1000)} s; run \`drctl points prune\` later`,
        });
      }
      onWait(lock);
      log.info('the store is being garbage-collected by another run; waiting', { lock, delayMs: delay });
      await sleep(delay, { summary: `wait for ${lock} to finish` });
      delay = Math.min(delay * 2, 60_000);
    }
  }
}

/**
 * `drctl points prune`: applies the plan's retention policy and collects unused data store-wide,
 * after taking the store's GC lock (waiting for the one running, if any). Returns the full report.
 */
export async function prune(input: PruneInput): Promise<RetentionResult> {
  return recordingOutcome('prune', input.plan.metadata.name, () => pruneUnderLock(input));
}

async function pruneUnderLock(input: PruneInput): Promise<RetentionResult> {
  const progress: PruneProgress = { phase: 'WaitingForLock', lock: gcWorkflowId(planToStoreRef(input.plan)), lockBusy: 0 };
  setHandler(pruneProgressQuery, () => progress);
  const setPhase = (p: PruneProgress['phase']) => {
    progress.phase = p;
    upsertSearchAttributes([{ key: DrPhase, value: p }]);
    setCurrentDetails(
      `**${input.dryRun ? 'Dry run of prune' : 'Prune'}** of plan ${input.plan.metadata.name}\n\n` +
        `phase: **${p}** · store lock: \`${progress.lock}\`${progress.lockBusy ? ` (found busy ${progress.lockBusy} time(s))` : ''}`,
    );
  };
  setPhase('WaitingForLock');
  try {
    const r = await runRetentionUnderLock(input, () => {
      progress.lockBusy++;
      setPhase('WaitingForLock');
    });
    setPhase('Done');
    return r;
  } catch (err) {
    setPhase('Failed');
    throw err;
  }
}

/**
 * The store's GC lock holder (workflow ID `gc/<store>`): one retention + GC activity, heartbeating
 * its progress, so a worker crash costs a heartbeat timeout and a retry, not a stale lock.
 */
export async function storeGc(input: PruneInput): Promise<RetentionResult> {
  return recordingOutcome('gc', input.plan.metadata.name, () => collectGarbage(input));
}

async function collectGarbage(input: PruneInput): Promise<RetentionResult> {
  const maintenance = proxyActivities<Activities>({
    startToCloseTimeout: '12 hours',
    heartbeatTimeout: input.heartbeatTimeoutMs ?? 120_000,
    retry: { maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES },
  });
  upsertSearchAttributes([{ key: DrPhase, value: 'Retention' }]);
  setCurrentDetails(`**${input.dryRun ? 'Dry run of retention' : 'Retention'}** of plan ${input.plan.metadata.name}, then garbage collection of the store (lock \`${workflowInfo().workflowId}\`)`);
  const r = await maintenance.pruneStore(input.plan, {
    dryRun: !!input.dryRun,
    ...(input.abandonedAfterMs !== undefined ? { abandonedAfterMs: input.abandonedAfterMs } : {}),
    ...(input.gcGraceMs !== undefined ? { gcGraceMs: input.gcGraceMs } : {}),
  });
  upsertSearchAttributes([{ key: DrPhase, value: 'Done' }]);
  return r;
}
