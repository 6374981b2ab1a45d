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
  /** First lines of output, for the catalog and the report. */
  output: string;
  ok: boolean;
}

/** Signal a held hook session sends to its workflow once its pre step finished. */
export interface HookSessionStarted {
  hook: string;
  pod: string;
  result: HookRunResult;
}

export const HOOK_SESSION_STARTED_SIGNAL = 'hookSessionStarted';
export const HOOK_RELEASE_QUERY = 'hookRelease';

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
