/**
 * How long a quiesce may last and how long the activities that make it may run. Every timeout of
 * a hook's activities comes from the hook itself (its step timeouts and maxHold), never from a
 * workflow-wide default, so a hook that needs a two-hour hold gets one. Pure: workflows import it.
 */
import { durationToMs } from './duration';
import type { ResolvedHook } from './hook-presets';

/** maxHold of a hook that sets none and whose preset has none (BackupInput.maxHoldMs overrides it). */
export const DEFAULT_MAX_HOLD_MS = 30 * 60_000;
/** A step without a timeout (a session hook with no post step still writes its marker). */
export const DEFAULT_STEP_TIMEOUT_MS = 30_000;
/** Room for the exec connection, the API server and the activity's own start and reply. */
export const HOOK_ACTIVITY_SLACK_MS = 2 * 60_000;

export const stepTimeoutMs = (step: { timeout: string } | undefined): number => (step ? durationToMs(step.timeout) : DEFAULT_STEP_TIMEOUT_MS);

/** The longest the hook may hold its quiesce, from the end of its pre step to the start of its post step. */
export const maxHoldMs = (hook: ResolvedHook, defaultMs = DEFAULT_MAX_HOLD_MS): number => (hook.maxHold ? durationToMs(hook.maxHold) : defaultMs);

/** startToClose of the activity that holds a session: its pre step, the longest hold, its post step. */
export const holdActivityTimeoutMs = (hook: ResolvedHook, holdMs: number): number =>
  stepTimeoutMs(hook.pre) + holdMs + stepTimeoutMs(hook.post) + HOOK_ACTIVITY_SLACK_MS;

/** startToClose of the activity that runs one step of a two-command hook. */
export const stepActivityTimeoutMs = (step: { timeout: string } | undefined): number => stepTimeoutMs(step) + HOOK_ACTIVITY_SLACK_MS;
