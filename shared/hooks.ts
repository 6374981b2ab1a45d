/** What hook runs produce, and the messages a held hook session exchanges with its workflow. */

export interface HookTarget {
  hook: string;
  namespace: string;
  pod: string;
  container: string;
  node?: string;
  /** The container's PVC mounts, to map a hook's container paths to volumes. */
  mounts: { mountPath: string; pvc: string; subPath?: string }[];
}

export interface HookRunResult {
  hook: string;
  phase: 'pre' | 'post';
  pod: string;
  container: string;
  exitCode: number;
  timedOut: boolean;
  durationMs: number;
  /**
   * For the catalog, the report and failure messages: the last 4 KiB of stdout and stderr, with
   * the container's secret values and password-like values masked (sanitizeHookOutput).
   */
  output: string;
  /** True when `output` lost its beginning to the 4 KiB limit. */
  outputTruncated?: boolean;
  /**
   * The step's exact stdout (no stderr, nothing trimmed or cut), only for a step whose stdout is
   * stored as a file (a hook artifact such as PostgreSQL's backup_label).
   */
  stdout?: string;
  ok: boolean;
}

/** Signal a held hook session sends to its workflow once its pre step finished. */
export interface HookSessionStarted {
  hook: string;
  pod: string;
  /** Which hold this is (hook, pod and quiesce attempt); absent from older releases. */
  holdId?: string;
  result: HookRunResult;
}

export const HOOK_SESSION_STARTED_SIGNAL = 'hookSessionStarted';
/** Asked by a held session with its holdId (older releases: the hook name); true once released. */
export const HOOK_RELEASE_QUERY = 'hookRelease';

/** How a held session is to be held: sent by the workflow with each hold. */
export interface HoldSettings {
  /** Names this hold in the release query and the started signal. */
  holdId: string;
  /** Longest the quiesce may be held after its pre step; past it the post step runs. */
  maxHoldMs: number;
}

/**
 * Why a quiesce ended. Only `workflow` proves it was held until the workflow released it, after
 * every copy made under it had ended.
 */
export type HoldRelease = 'workflow' | 'max-hold' | 'session-ended' | 'cancelled' | 'pre-failed';

/** What a held session returns once its post step ran (or could not). */
export interface HookHoldResult {
  pre: HookRunResult;
  post?: HookRunResult;
  /** Absent from older releases (which always released through the workflow or maxHold). */
  releasedBy?: HoldRelease;
  /** How long the quiesce was held, pre step end to post step start. */
  heldMs?: number;
  /** Wall-clock time (ISO) at which the post step started: the end of the quiesce. */
  releasedAt?: string;
}

/** The error a backup fails with when a quiesce was held longer than its hook's maxHold. */
export const MAX_HOLD_EXCEEDED_ERROR = 'QuiesceMaxHoldExceededError';
/** The error a backup fails with when a quiesce ended before the copy (and no retake was left). */
export const QUIESCE_LOST_ERROR = 'QuiesceLostError';

/**
 * Maps an absolute path inside a container to the PVC mounted there and the path inside the
 * volume, e.g. /var/lib/postgresql/data/pg_wal -> { pvc: data-postgres-0, path: pg_wal }.
 */
export function containerPathToVolume(target: HookTarget, containerPath: string): { pvc: string; path: string } | undefined {
  const norm = (p: string) => p.replace(/\/+$/, '') || '/';
  const best = target.mounts
    .filter((m) => norm(containerPath) === norm(m.mountPath) || norm(containerPath).startsWith(norm(m.mountPath) + '/'))
    .sort((a, b) => b.mountPath.length - a.mountPath.length)[0];
  if (!best) return undefined;
  const rest = norm(containerPath).slice(norm(best.mountPath).length).replace(/^\/+/, '');
  const path = [best.subPath, rest].filter(Boolean).join('/');
  return { pvc: best.pvc, path: path || '.' };
}
