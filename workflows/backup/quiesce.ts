/**
 * The quiesce of a backup: the copy is taken while every hook holds its application still, and
 * the workflow proves afterwards that each one held until the copy had ended. Deterministic
 * workflow code: activities are imported as types only.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  condition,
  defineQuery,
  defineSignal,
  isCancellation,
  log,
  proxyActivities,
  setHandler,
  sleep,
} from '@temporalio/workflow';
import type { Activities } from '../../activities';
import type { ExecHook, ResolvedHook, SessionHook } from '../../shared/hook-presets';
import {
  HOOK_RELEASE_QUERY,
  HOOK_SESSION_STARTED_SIGNAL,
  MAX_HOLD_EXCEEDED_ERROR,
  QUIESCE_LOST_ERROR,
  type HoldRelease,
  type HookHoldResult,
  type HookRunResult,
  type HookSessionStarted,
  type HookTarget,
} from '../../shared/hooks';
import { holdActivityTimeoutMs, maxHoldMs as maxHoldOf, stepActivityTimeoutMs } from '../../shared/quiesce';
import { formatDuration } from '../../shared/duration';
import { sanitizeHookOutput } from '../../shared/catalog';
import { NON_RETRYABLE_ERROR_TYPES } from '../../shared/errors';

/** The patch that introduced this quiesce; runs started before it replay the old one (quiesce-legacy.ts). */
export const QUIESCE_PATCH = 'quiesce-held-to-the-end';

export interface QuiesceOptions {
  /** kubeconfig context of the source cluster. */
  context: string;
  /** The plan's hooks, in plan order, with the pods each runs in. */
  hooks: { hook: ResolvedHook; targets: HookTarget[] }[];
  /** maxHold of hooks that set none and whose preset sets none. */
  defaultMaxHoldMs: number;
  /** How fast a dead hook activity (a crashed worker) is noticed. */
  heartbeatTimeoutMs: number;
  /** Times the quiesce and the copy may be taken in all, when a quiesce is lost. */
  attempts: number;
  /** Runs a named phase of the backup (search attribute, details, timings). */
  phase: <T>(name: string, fn: () => Promise<T>) => Promise<T>;
  /** Called before each attempt, to forget the copies of a lost one. */
  beforeAttempt: (attempt: number) => void;
  /** Called for each hook step that failed (counted in the worker's metrics). */
  onHookFailed?: (r: HookRunResult) => void;
}

/** How one quiesce ended, for the report. */
export interface HoldOutcome {
  hook: string;
  pod: string;
  /** `workflow`: released by the workflow once the copy had ended; anything else ended it early. */
  releasedBy: HoldRelease | 'lost';
  heldMs?: number;
  /** Wall clock of the holding worker when the post step started. */
  releasedAt?: string;
}

export interface QuiescedCopy {
  /** Pre and post results of the attempt that made the copy. */
  hooks: HookRunResult[];
  /** Times the quiesce and copy were taken again because a quiesce was lost. */
  retakes: number;
  /** Workflow time at which the last copy made under the quiesce ended. */
  copiesEndedAt?: string;
  holds: HoldOutcome[];
}

/** One quiesce in one pod, for one attempt. */
interface Hold {
  id: string;
  hook: ResolvedHook;
  target: HookTarget;
  holdMs: number;
  pre?: HookRunResult;
  post?: HookRunResult;
  /** The post step must run: the pre step ran, or may have (its activity failed after starting). */
  needsPost: boolean;
  /** Why the quiesce ended before the workflow released it, if it did. */
  endedEarly?: 'max-hold' | 'lost';
  outcome?: HoldOutcome;
  /** Session hooks: the holding activity. */
  session?: Promise<HookHoldResult | undefined>;
  /** Two-command hooks: the maxHold timer. */
  timer?: CancellationScope;
}

const sessionStarted = defineSignal<[HookSessionStarted]>(HOOK_SESSION_STARTED_SIGNAL);
const releaseQuery = defineQuery<boolean, [string]>(HOOK_RELEASE_QUERY);

/** A pre step may have changed state: it is never retried, its post step runs instead. */
const preSteps = (hook: ResolvedHook, heartbeatTimeoutMs: number) =>
  proxyActivities<Activities>({ startToCloseTimeout: stepActivityTimeoutMs(hook.pre), heartbeatTimeout: heartbeatTimeoutMs, retry: { maximumAttempts: 1 } });
/** A post step undoes the quiesce (thaw, unlock): it is retried if its activity is lost. */
const postSteps = (hook: ResolvedHook, heartbeatTimeoutMs: number) =>
  proxyActivities<Activities>({
    startToCloseTimeout: stepActivityTimeoutMs(hook.post),
    heartbeatTimeout: heartbeatTimeoutMs,
    retry: { maximumAttempts: 3, nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES },
  });

/**
 * Takes the copy under the quiesce of every hook, as a runbook:
 *
 * 1. Quiesce: each hook's pre step in each of its pods, in plan order. A session hook's quiesce is
 *    held by an activity that keeps its session open; a two-command hook's by the workflow, with
 *    a maxHold timer. Each quiesce's post step is owed from the moment its pre step may have run.
 * 2. Copy while every quiesce holds. If one passes its maxHold, the copy stops at once so the
 *    application is released now. If one is lost (its session or worker died), the copy goes on:
 *    the chunks it uploads are reused by the retake, which then only reads.
 * 3. Release every quiesce, newest first, whatever happened; never cancelled.
 * 4. Prove the copy was quiesced to its end: every quiesce was released by the workflow, after the
 *    copy. One held past its maxHold fails the backup (QuiesceMaxHoldExceededError); one that was
 *    lost means the copy is not consistent: take it again, up to `attempts` times in all, then
 *    fail (QuiesceLostError).
 */
export async function copyWhileQuiesced(o: QuiesceOptions, copy: (attempt: number) => Promise<void>): Promise<QuiescedCopy> {
  const started = new Map<string, HookSessionStarted>();
  const released = new Set<string>();
  setHandler(sessionStarted, (s) => void started.set(s.holdId ?? `${s.hook}/${s.pod}`, s));
  setHandler(releaseQuery, (holdId) => released.has(holdId));

  for (let attempt = 1; ; attempt++) {
    o.beforeAttempt(attempt);
    const holds: Hold[] = [];
    const results: HookRunResult[] = [];
    const record = (r: HookRunResult) => {
      results.push(r);
      if (!r.ok) o.onHookFailed?.(r);
    };
    let copiesEndedAt: string | undefined;
    /** Set when the release starts: a quiesce that ends after it did not end early. */
    let releasing = false;
    try {
      await o.phase('Quiesce', () => quiesceAll(attempt));
      if (!holds.some((h) => h.endedEarly)) copiesEndedAt = await copyUntilMaxHold(attempt);
    } finally {
      await CancellationScope.nonCancellable(() => o.phase('Release', () => releaseAll()));
    }

    const outcomes = holds.map((h) => h.outcome!);
    const pastMaxHold = holds.filter((h) => h.endedEarly === 'max-hold');
    if (pastMaxHold.length) {
      throw ApplicationFailure.create({
        type: MAX_HOLD_EXCEEDED_ERROR,
        nonRetryable: true,
        message:
          `the quiesce was held longer than its maxHold: ${pastMaxHold.map((h) => `hook ${h.hook.name} in pod ${h.target.pod} (maxHold ${formatDuration(h.holdMs)})`).join(', ')}. ` +
          `The post step ran and no point was written: a copy that was not quiesced to its end is not consistent. ` +
          `Raise the hook's maxHold, or copy faster (spec.volumes.defaultMode: snapshot-then-copy holds only while snapshotting)`,
      });
    }
    const lost = holds.filter((h) => h.endedEarly === 'lost');
    if (!lost.length) return { hooks: results, retakes: attempt - 1, copiesEndedAt, holds: outcomes };
    const names = lost.map((h) => `${h.hook.name}/${h.target.pod}`).join(', ');
    if (attempt >= o.attempts) {
      throw ApplicationFailure.create({
        type: QUIESCE_LOST_ERROR,
        nonRetryable: true,
        message: `the quiesce ended before the copy did ${attempt} time(s) (${names}): the copies are not consistent and no point was written. Check the worker that runs hook sessions (was it restarted?)`,
      });
    }
    log.warn('a quiesce ended before the copy did; taking the copy again', { attempt, lost: names });

    // ---- The steps, for this attempt's holds and results. ----

    async function quiesceAll(n: number): Promise<void> {
      for (const { hook, targets } of o.hooks) {
        for (const target of targets) {
          if (holds.some((h) => h.endedEarly)) return; // a quiesce already ended: release, do not take more
          const h: Hold = { id: `${hook.name}/${target.pod}#${n}`, hook, target, holdMs: maxHoldOf(hook, o.defaultMaxHoldMs), needsPost: false };
          holds.push(h);
          if (hook.session) await holdSession(h, hook);
          else await runPre(h, hook);
          if (h.pre) record(h.pre);
          if (h.pre && !h.pre.ok && h.endedEarly === undefined && hook.pre?.onError !== 'continue') {
            throw ApplicationFailure.create({ type: 'HookFailedError', nonRetryable: true, message: hookFailure(h.pre) });
          }
        }
      }
    }

    /** Session hook: the activity runs pre, signals, holds until released, runs post. */
    async function holdSession(h: Hold, hook: SessionHook): Promise<void> {
      const holding = proxyActivities<Activities>({
        summary: `quiesce held by session hook ${hook.name} in ${h.target.pod}`,
        startToCloseTimeout: holdActivityTimeoutMs(hook, h.holdMs),
        heartbeatTimeout: o.heartbeatTimeoutMs,
        retry: { maximumAttempts: 1 },
      });
      h.needsPost = true;
      let ended = false;
      let failure: unknown;
      // Not cancellable: cancelling the run must not cut the session before its post step.
      h.session = CancellationScope.nonCancellable(() => holding.holdHookSession(o.context, hook, h.target, { holdId: h.id, maxHoldMs: h.holdMs })).then(
        (r) => {
          ended = true;
          if (!releasing && r.releasedBy !== 'pre-failed') h.endedEarly = r.releasedBy === 'max-hold' ? 'max-hold' : 'lost';
          return r;
        },
        (err: unknown) => {
          ended = true;
          failure = err;
          log.warn('the activity holding a hook session failed', { hold: h.id, error: String((err as Error)?.message ?? err) });
          if (!releasing) h.endedEarly = 'lost';
          return undefined;
        },
      );
      await condition(() => started.has(h.id) || ended);
      h.pre = started.get(h.id)?.result ?? (await h.session)?.pre;
      if (!h.pre && cannotSucceed(failure)) throw failure; // e.g. exec forbidden: a retake would fail the same way
    }

    /** Two-command hook: pre now (never retried), post at release, a timer for maxHold. */
    async function runPre(h: Hold, hook: ExecHook): Promise<void> {
      if (!hook.pre) {
        h.needsPost = !!hook.post;
        startMaxHoldTimer(h);
        return;
      }
      h.needsPost = !!hook.post; // owed from now: the pre step may run even if its activity fails
      try {
        h.pre = await preSteps(hook, o.heartbeatTimeoutMs).runHookStep.executeWithOptions({ summary: `quiesce: hook ${hook.name} (pre) in ${h.target.pod}` }, [o.context, hook, 'pre', h.target]);
      } catch (err) {
        h.pre = failedRun(hook.name, 'pre', h.target, err);
        if (cannotSucceed(err)) throw err;
        h.endedEarly = 'lost'; // not known whether it ran: post step, then take the quiesce again
        return;
      }
      startMaxHoldTimer(h);
    }

    function startMaxHoldTimer(h: Hold): void {
      h.timer = new CancellationScope();
      h.timer
        .run(() => sleep(h.holdMs))
        .then(
          () => void (releasing || (h.endedEarly ??= 'max-hold')),
          () => undefined,
        );
    }

    /** The copy, stopped as soon as a quiesce passes its maxHold. Returns when the copy ended. */
    async function copyUntilMaxHold(n: number): Promise<string | undefined> {
      const copyScope = new CancellationScope();
      const watchScope = new CancellationScope();
      const copying = copyScope.run(() => copy(n));
      const watching = watchScope.run(() => condition(() => holds.some((h) => h.endedEarly === 'max-hold'))).then(
        () => 'past-max-hold' as const,
        () => 'stopped' as const,
      );
      let first: 'copied' | 'past-max-hold' | 'stopped';
      try {
        first = await Promise.race([copying.then(() => 'copied' as const), watching]);
      } finally {
        watchScope.cancel();
      }
      if (first === 'copied') return new Date().toISOString();
      copyScope.cancel();
      await copying.catch((err: unknown) => {
        if (!isCancellation(err)) log.warn('the copy failed while being stopped', { error: String((err as Error)?.message ?? err) });
      });
      return undefined;
    }

    /** Every quiesce released, newest first; each post step owed runs, whatever happened. */
    async function releaseAll(): Promise<void> {
      releasing = true;
      for (const h of holds) h.timer?.cancel();
      for (const h of [...holds].reverse()) {
        if (h.session) await releaseSession(h);
        else await runPost(h);
      }
    }

    async function releaseSession(h: Hold): Promise<void> {
      released.add(h.id);
      const r = await h.session!;
      if (r) {
        if (r.post) {
          h.post = r.post;
          record(r.post);
        }
        h.outcome = { hook: h.hook.name, pod: h.target.pod, releasedBy: r.releasedBy ?? 'lost', heldMs: r.heldMs, releasedAt: r.releasedAt };
        if (!r.releasedBy) h.endedEarly ??= 'lost'; // a holder from an older release cannot prove when it released
        return;
      }
      // The holder died with its session: run the post step in a new one, so nothing stays quiesced.
      h.outcome = { hook: h.hook.name, pod: h.target.pod, releasedBy: 'lost' };
      const hook = h.hook as SessionHook;
      if (!hook.post) return;
      h.post = await postSteps(hook, o.heartbeatTimeoutMs)
        .runSessionHookStep(o.context, hook, 'post', h.target)
        .catch((err: unknown) => failedRun(hook.name, 'post', h.target, err));
      record(h.post);
    }

    async function runPost(h: Hold): Promise<void> {
      const hook = h.hook as ExecHook;
      h.outcome = { hook: hook.name, pod: h.target.pod, releasedBy: h.endedEarly === 'max-hold' ? 'max-hold' : h.endedEarly === 'lost' ? 'lost' : 'workflow' };
      if (!h.needsPost || !hook.post) return;
      h.post = await postSteps(hook, o.heartbeatTimeoutMs)
        .runHookStep.executeWithOptions({ summary: `release: hook ${hook.name} (post) in ${h.target.pod}` }, [o.context, hook, 'post', h.target])
        .catch((err: unknown) => failedRun(hook.name, 'post', h.target, err));
      record(h.post);
    }
  }
}

/** An activity failure that no retake can fix (forbidden, invalid input): fail with it. */
function cannotSucceed(err: unknown): boolean {
  const cause = err instanceof ActivityFailure ? err.cause : undefined;
  return cause instanceof ApplicationFailure && (cause.nonRetryable || NON_RETRYABLE_ERROR_TYPES.includes(cause.type ?? ''));
}

/** The message of a failed hook step: what, where, and the tail of its (masked) output. */
export function hookFailure(r: HookRunResult): string {
  if (r.timedOut) return `hook ${r.hook} (${r.phase}) timed out in pod ${r.pod}, container ${r.container}; raise its timeout or fix the command`;
  const tail = sanitizeHookOutput(r.output, { maxChars: 1024 }).output.split('\n').slice(-3).join(' | ');
  return `hook ${r.hook} (${r.phase}) failed in pod ${r.pod}, container ${r.container} (exit ${r.exitCode}): ${tail}`;
}

/** A step whose activity failed: recorded like a failed run, with the (masked) error as output. */
export function failedRun(hook: string, phase: 'pre' | 'post', t: HookTarget, err: unknown): HookRunResult {
  const message = String((err as { cause?: Error })?.cause?.message ?? (err as Error)?.message ?? err);
  const { output, truncated } = sanitizeHookOutput(`the step's activity failed: ${message}`);
  return { hook, phase, pod: t.pod, container: t.container, exitCode: -1, timedOut: false, durationMs: 0, output, outputTruncated: truncated, ok: false };
}

/**
 * The file a hook artifact becomes: the step's exact stdout. Results from older releases carry
 * no stdout; for those, the old rule (trailing blank lines cut, one newline kept) still applies.
 */
export function artifactContent(r: HookRunResult | undefined): string {
  if (r?.stdout !== undefined) return r.stdout;
  const s = r?.output ?? '';
  return s.trim() ? s.replace(/\s+$/, '') + '\n' : '';
}

/** Size in bytes (UTF-8) of an artifact's content. */
export function artifactBytes(r: HookRunResult | undefined): number {
  let n = 0;
  for (const ch of artifactContent(r)) {
    const c = ch.codePointAt(0)!;
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
  }
  return n;
}
