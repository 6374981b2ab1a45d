/**
 * The quiesce of backups started before the `quiesce-held-to-the-end` patch (see quiesce.ts),
 * kept unchanged so that those runs replay and finish after a deploy. New runs never take it: it
 * trusts a hold that released itself (failed query, maxHold) and ignores maxHold for two-command
 * hooks. Remove it once no run started before the patch can still be open (deprecatePatch first).
 */
import { ApplicationFailure, CancellationScope, condition, defineQuery, defineSignal, log, proxyActivities, setHandler } from '@temporalio/workflow';
import type { Activities } from '../../activities';
import type { ExecHook, SessionHook } from '../../shared/hook-presets';
import { HOOK_RELEASE_QUERY, HOOK_SESSION_STARTED_SIGNAL, type HookRunResult, type HookSessionStarted, type HookTarget } from '../../shared/hooks';
import { NON_RETRYABLE_ERROR_TYPES } from '../../shared/errors';
import { failedRun, hookFailure, type QuiesceOptions } from './quiesce';

const kube = proxyActivities<Activities>({ startToCloseTimeout: '5 minutes', retry: { maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES } });
const hookSessionStarted = defineSignal<[HookSessionStarted]>(HOOK_SESSION_STARTED_SIGNAL);
const hookReleaseQuery = defineQuery<boolean, [string]>(HOOK_RELEASE_QUERY);

export async function legacyCopyWhileQuiesced(
  o: Omit<QuiesceOptions, 'defaultMaxHoldMs'> & { maxHoldMs?: number },
  copy: (attempt: number) => Promise<void>,
): Promise<{ hooks: HookRunResult[]; retakes: number }> {
  const { context, phase } = o;
  let hookResults: HookRunResult[] = [];
  const sessionStarts = new Map<string, HookSessionStarted>();
  const released = new Set<string>();
  setHandler(hookSessionStarted, (s) => void sessionStarts.set(s.hook + '/' + s.pod, s));
  setHandler(hookReleaseQuery, (hook) => released.has(hook));
  for (let attempt = 1; ; attempt++) {
    sessionStarts.clear();
    released.clear();
    o.beforeAttempt(attempt);
    hookResults = [];
    const lost = await quiesceCopyRelease(attempt);
    if (!lost.length) return { hooks: hookResults, retakes: attempt - 1 };
    if (attempt >= o.attempts) {
      throw ApplicationFailure.create({
        type: 'HookFailedError',
        nonRetryable: true,
        message: `the quiesce session was lost ${attempt} times (${lost.join(', ')}); the copies are not consistent. Check the worker running hook sessions`,
      });
    }
    log.warn('hook session lost during the copy; taking the copy again', { attempt, lost });
  }

  async function quiesceCopyRelease(attempt: number): Promise<string[]> {
    const holds: { hook: SessionHook; target: HookTarget; done: Promise<{ pre: HookRunResult; post?: HookRunResult }> }[] = [];
    const execPreRan: { hook: ExecHook; target: HookTarget }[] = [];
    const lost: string[] = [];
    try {
      await phase('Quiesce', async () => {
        for (const { hook, targets: ts } of o.hooks) {
          for (const target of ts) {
            if (hook.session) {
              const holdMs = o.maxHoldMs ?? 30 * 60_000;
              const hold = proxyActivities<Activities>({
                startToCloseTimeout: holdMs + 15 * 60_000,
                heartbeatTimeout: o.heartbeatTimeoutMs,
                retry: { maximumAttempts: 1 },
              });
              const done = CancellationScope.nonCancellable(() => hold.holdHookSession(context, hook, target, holdMs));
              holds.push({ hook, target, done });
              const key = hook.name + '/' + target.pod;
              let ended = false;
              void done.then(
                () => (ended = true),
                () => (ended = true),
              );
              await condition(() => sessionStarts.has(key) || ended);
              const start = sessionStarts.get(key);
              if (!start) await done; // rethrows the activity's failure
              hookResults.push(start!.result);
              if (!start!.result.ok && hook.pre?.onError !== 'continue') {
                throw ApplicationFailure.create({ type: 'HookFailedError', nonRetryable: true, message: hookFailure(start!.result) });
              }
            } else if (hook.pre) {
              const r = await kube.runHookStep(context, hook, 'pre', target);
              hookResults.push(r);
              execPreRan.push({ hook, target });
              if (!r.ok && hook.pre.onError !== 'continue') {
                throw ApplicationFailure.create({ type: 'HookFailedError', nonRetryable: true, message: hookFailure(r) });
              }
            } else {
              execPreRan.push({ hook, target });
            }
          }
        }
      });
      await copy(attempt);
    } finally {
      await CancellationScope.nonCancellable(() =>
        phase('Release', async () => {
          for (const { hook } of holds) released.add(hook.name);
          for (const h of holds) {
            const r = await h.done.catch(() => undefined);
            if (r?.post) hookResults.push(r.post);
            else if (!r || r.pre.ok) lost.push(h.hook.name + '/' + h.target.pod);
          }
          for (const { hook, target } of [...execPreRan].reverse()) {
            if (!hook.post) continue;
            const r = await kube.runHookStep(context, hook, 'post', target).catch((err: Error) => failedRun(hook.name, 'post', target, err));
            hookResults.push(r);
          }
        }),
      );
    }
    return lost;
  }
}
