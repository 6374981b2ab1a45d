import { Context } from '@temporalio/activity';

/**
 * Heartbeats for long activities, safe to call from code that also runs outside an activity
 * (drctl, tests): there it does nothing.
 *
 * `beat(details)` records liveness with small progress details (the SDK throttles what reaches the
 * server to 0.8 × heartbeatTimeout) and throws the activity's cancellation (a CancelledFailure)
 * once Temporal delivered one. Cancellation only reaches an activity through its heartbeats, so
 * every loop of a long activity calls it: the call both keeps the activity alive and lets it stop.
 */
export function currentActivity(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

export function beat(details?: unknown): void {
  const ctx = currentActivity();
  if (!ctx) return;
  ctx.heartbeat(details);
  throwIfCancelled(ctx);
}

/** Throws the activity's cancellation if it was cancelled (no-op outside an activity). */
export function throwIfCancelled(ctx: Context | undefined = currentActivity()): void {
  const signal = ctx?.cancellationSignal;
  if (signal?.aborted) {
    throw signal.reason instanceof Error ? signal.reason : Object.assign(new Error('activity cancelled'), { name: 'CancelledFailure' });
  }
}

/** Waits `ms`, heartbeating first; rejects at once when the activity is cancelled. */
export async function pause(ms: number, details?: unknown): Promise<void> {
  const ctx = currentActivity();
  if (!ctx) return new Promise((r) => setTimeout(r, ms));
  ctx.heartbeat(details);
  throwIfCancelled(ctx);
  await ctx.sleep(ms);
}

/**
 * A progress callback for loops over many items: heartbeats at most every `everyItems` calls
 * (and on the last), with `{ stage, done, total }` as details.
 */
export function progressOf(stage: string, total: number, everyItems = 50): () => void {
  let done = 0;
  return () => {
    done++;
    if (done % everyItems === 0 || done === total) beat({ stage, done, total });
    else throwIfCancelled();
  };
}

/**
 * Runs `work` while heartbeating every `everyMs` (liveness only, no details), so a workflow can
 * give a short activity a heartbeat timeout and notice a dead worker in seconds rather than at
 * the start-to-close timeout. Only for activities that do not keep resume state in their details.
 */
export async function withKeepAlive<T>(work: () => Promise<T>, everyMs = 5000): Promise<T> {
  const ctx = currentActivity();
  if (!ctx) return work();
  ctx.heartbeat();
  const timer = setInterval(() => ctx.heartbeat(), everyMs);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}
