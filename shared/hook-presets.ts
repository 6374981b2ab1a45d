import type { HookPresetName, HookSpec, HookStep } from './plan';

type OnError = HookStep['onError'];

/** A file the backup stores from a hook's output, e.g. PostgreSQL's backup_label. */
export interface HookArtifact {
  /** The output that becomes the file's content. */
  from: 'post.stdout';
  /** Absolute path inside the container; the backup maps it to a volume and a path in it. */
  path: string;
}

interface ResolvedHookBase {
  name: string;
  podSelector: HookSpec['podSelector'];
  /** Undefined: the pod's first container. */
  container?: string;
  preset?: HookPresetName;
  /** Longest time the quiesce may be held before the post step is forced and the backup fails. */
  maxHold?: string;
  artifacts: HookArtifact[];
  /** Container paths copied again after the post step (WAL written while the copy ran). */
  recopyAfterPost: string[];
  /** Container paths left out of the volume copy (they must not exist in a restored volume). */
  excludePaths: string[];
}

export interface ExecHookStep {
  command: string[];
  timeout: string;
  onError: OnError;
}

export interface SessionHookStep {
  stdin: string;
  timeout: string;
  onError: OnError;
}

/** Pre and post are separate exec calls. */
export interface ExecHook extends ResolvedHookBase {
  session: false;
  pre?: ExecHookStep;
  post?: ExecHookStep;
}

/**
 * One exec session runs `command` for the whole copy. After each step's stdin the runner writes
 * `markerStatement` with a fresh token and waits for that token on stdout: it proves the step
 * finished, and splits the output of pre from the output of post.
 */
export interface SessionHook extends ResolvedHookBase {
  session: true;
  command: string[];
  markerStatement: string;
  pre?: SessionHookStep;
  post?: SessionHookStep;
}

export type ResolvedHook = ExecHook | SessionHook;

export const DEFAULT_POSTGRES_DATA_DIRECTORY = '/var/lib/postgresql/data';

const step = <T extends object>(fields: T, timeout: string, onError: OnError = 'fail') => ({ ...fields, timeout, onError });

type PresetPart<H> = H extends ResolvedHook ? Omit<H, 'name' | 'podSelector' | 'container' | 'preset'> : never;

function presetHook(hook: HookSpec, preset: HookPresetName): PresetPart<ResolvedHook> {
  const options = hook.presetOptions ?? {};
  switch (preset) {
    case 'postgresql': {
      const dataDirectory = (options.dataDirectory ?? DEFAULT_POSTGRES_DATA_DIRECTORY).replace(/\/+$/, '');
      return {
        session: true,
        // -X: ignore ~/.psqlrc; -A -t: bare values, so post's output is the backup_label text itself.
        command: options.command ?? ['psql', '-X', '-A', '-t', '-U', options.user ?? 'postgres', '-v', 'ON_ERROR_STOP=1'],
        markerStatement: '\\echo {marker}',
        // fast=true: an immediate checkpoint, so the hold starts now rather than at the next checkpoint.
        pre: step({ stdin: "SELECT pg_backup_start('temporal-dr', true);" }, '5m'),
        // The backup is aborted if this session ends before pg_backup_stop, hence the session hook.
        // psql ends the row with a newline of its own: without the label's own final newline, the
        // step's stdout is byte for byte the label pg_backup_stop returned, and is stored as is.
        post: step({ stdin: "SELECT rtrim(labelfile, E'\\n') FROM pg_backup_stop(true);" }, '5m'),
        artifacts: [{ from: 'post.stdout', path: `${dataDirectory}/backup_label` }],
        recopyAfterPost: [`${dataDirectory}/pg_wal`],
        excludePaths: [`${dataDirectory}/postmaster.pid`, `${dataDirectory}/postmaster.opts`],
      };
    }
    case 'mysql':
      return {
        session: true,
        // --unbuffered: output reaches us per statement, so the marker shows when the lock is held.
        command: options.command ?? ['mysql', `--user=${options.user ?? 'root'}`, '--batch', '--skip-column-names', '--unbuffered'],
        markerStatement: "SELECT '{marker}';",
        pre: step({ stdin: 'FLUSH TABLES WITH READ LOCK;' }, '2m'),
        post: step({ stdin: 'UNLOCK TABLES;' }, '1m'),
        artifacts: [],
        recopyAfterPost: [],
        excludePaths: [],
        // The read lock blocks every write to the database for as long as it is held.
        maxHold: '15m',
      };
    case 'fsfreeze': {
      const mount = options.mountPath!;
      // presetOptions.command: the fsfreeze program when it is not `fsfreeze` (e.g. [busybox, fsfreeze]).
      const fsfreeze = options.command ?? ['fsfreeze'];
      return {
        session: false,
        pre: step({ command: [...fsfreeze, '-f', mount] }, '30s'),
        post: step({ command: [...fsfreeze, '-u', mount] }, '30s'),
        artifacts: [],
        recopyAfterPost: [],
        excludePaths: [],
        // A frozen filesystem blocks every writer on it: thaw early rather than hang the app.
        maxHold: '5m',
      };
    }
  }
}

/** Turns a hook as written (preset or explicit steps) into the concrete steps the runner executes. */
export function resolveHook(hook: HookSpec): ResolvedHook {
  const base: ResolvedHookBase = {
    name: hook.name,
    podSelector: hook.podSelector,
    artifacts: [],
    recopyAfterPost: [],
    excludePaths: [],
  };
  if (hook.container !== undefined) base.container = hook.container;
  if (hook.preset) {
    const resolved: ResolvedHook = { ...base, preset: hook.preset, ...presetHook(hook, hook.preset) };
    if (hook.maxHold !== undefined) resolved.maxHold = hook.maxHold;
    return resolved;
  }
  if (hook.maxHold !== undefined) base.maxHold = hook.maxHold;
  if (hook.session) {
    const resolved: SessionHook = { ...base, session: true, command: hook.command!, markerStatement: hook.markerStatement! };
    if (hook.pre) resolved.pre = { stdin: hook.pre.stdin!, timeout: hook.pre.timeout, onError: hook.pre.onError };
    if (hook.post) resolved.post = { stdin: hook.post.stdin!, timeout: hook.post.timeout, onError: hook.post.onError };
    return resolved;
  }
  const resolved: ExecHook = { ...base, session: false };
  if (hook.pre) resolved.pre = { command: hook.pre.command!, timeout: hook.pre.timeout, onError: hook.pre.onError };
  if (hook.post) resolved.post = { command: hook.post.command!, timeout: hook.post.timeout, onError: hook.post.onError };
  return resolved;
}

export const resolveHooks = (hooks: readonly HookSpec[]): ResolvedHook[] => hooks.map(resolveHook);

/** The marker statement with its token filled in, e.g. `\echo tdr-7f3a` for psql. */
export const markerFor = (hook: SessionHook, token: string): string => hook.markerStatement.split('{marker}').join(token);
