import { Context, log } from '@temporalio/activity';
import type { HoldRelease, HoldSettings, HookHoldResult, HookRunResult, HookSessionStarted, HookTarget } from '../../shared/hooks';
import { HOOK_RELEASE_QUERY, HOOK_SESSION_STARTED_SIGNAL } from '../../shared/hooks';
import type { ExecHook, ResolvedHook, SessionHook } from '../../shared/hook-presets';
import { durationToMs } from '../../shared/duration';
import { sanitizeHookOutput } from '../../shared/catalog';
import { stepTimeoutMs } from '../../shared/quiesce';
import { connectCluster, classifyKubeError, type Cluster } from '../kube/cluster';
import { execOnce, ExecSession, type ExecResult } from './exec';

/** Largest stdout kept whole for a hook artifact (it travels in the activity's result). */
export const ARTIFACT_LIMIT = 256 * 1024;

/** Heartbeats while a step or a hold runs: a crashed holder is noticed within the heartbeat timeout. */
const HEARTBEAT_EVERY_MS = 1000;
/** How often a held session asks its workflow whether to release, and how long one question may take. */
const RELEASE_POLL_MS = 1000;
const RELEASE_QUERY_TIMEOUT_MS = 10_000;

/** True when this step's stdout becomes a file in a volume (PostgreSQL's backup_label). */
const stdoutIsArtifact = (hook: ResolvedHook, phase: 'pre' | 'post') => hook.artifacts.some((a) => a.from === `${phase}.stdout`);

/**
 * One step's result. `output` (catalog, report, failure messages) is the last 4 KiB of stdout and
 * stderr with the container's secret values masked; `stdout`, only for artifacts, is the exact
 * stdout: no stderr, nothing trimmed, never cut (a step whose stdout does not fit fails instead).
 */
function toResult(hook: ResolvedHook, phase: 'pre' | 'post', t: HookTarget, r: ExecResult, started: number, secrets: readonly string[]): HookRunResult {
  const text = r.stdout + (r.stderr ? `${r.stdout && !r.stdout.endsWith('\n') ? '\n' : ''}[stderr] ${r.stderr}` : '');
  const shown = sanitizeHookOutput(text.trimEnd(), { knownSecrets: secrets });
  const result: HookRunResult = {
    hook: hook.name,
    phase,
    pod: t.pod,
    container: t.container,
    exitCode: r.exitCode,
    timedOut: r.timedOut,
    durationMs: Date.now() - started,
    output: shown.output,
    outputTruncated: shown.truncated || !!r.outputCut,
    ok: r.exitCode === 0 && !r.timedOut,
  };
  if (stdoutIsArtifact(hook, phase)) {
    const bytes = Buffer.byteLength(r.stdout);
    if (r.outputCut || bytes > ARTIFACT_LIMIT) {
      result.ok = false;
      result.output = sanitizeHookOutput(`stdout (${bytes} bytes or more) is larger than ${ARTIFACT_LIMIT} bytes and cannot be stored whole as a hook artifact\n${shown.output}`, { knownSecrets: secrets }).output;
    } else {
      result.stdout = r.stdout;
    }
  }
  return result;
}

/** A result for a step that could not run at all (its session was gone). */
function notRun(hook: ResolvedHook, phase: 'pre' | 'post', t: HookTarget, why: string): HookRunResult {
  return { hook: hook.name, phase, pod: t.pod, container: t.container, exitCode: -1, timedOut: false, durationMs: 0, output: why, outputTruncated: false, ok: false };
}

/**
 * The values of the Secrets the target container's environment comes from (env secretKeyRef,
 * envFrom secretRef): a hook that prints them (a connection string, `env`) must not put them into
 * the catalog or a failure message. Best effort: without read access to the Secret, the generic
 * masking of password-like values still applies.
 */
async function containerSecretValues(cluster: Cluster, t: HookTarget): Promise<string[]> {
  try {
    const pod = await cluster.core.readNamespacedPod({ namespace: t.namespace, name: t.pod });
    const c = pod.spec?.containers.find((x) => x.name === t.container);
    const wanted = new Map<string, Set<string> | 'all'>();
    for (const e of c?.env ?? []) {
      const ref = e.valueFrom?.secretKeyRef;
      if (!ref?.name || wanted.get(ref.name) === 'all') continue;
      const keys = (wanted.get(ref.name) as Set<string> | undefined) ?? new Set<string>();
      keys.add(ref.key);
      wanted.set(ref.name, keys);
    }
    for (const f of c?.envFrom ?? []) if (f.secretRef?.name) wanted.set(f.secretRef.name, 'all');
    const values: string[] = [];
    for (const [name, keys] of wanted) {
      const secret = await cluster.core.readNamespacedSecret({ namespace: t.namespace, name }).catch(() => undefined);
      for (const [k, v] of Object.entries(secret?.data ?? {})) {
        if (keys === 'all' || keys.has(k)) values.push(Buffer.from(v, 'base64').toString('utf8'));
      }
    }
    return values.filter((v) => v.length >= 4);
  } catch {
    return [];
  }
}

/** Heartbeats every second until stopped, whatever else the activity is waiting on. */
function keepBeating(details: () => unknown): () => void {
  let ctx: Context | undefined;
  try {
    ctx = Context.current();
  } catch {
    return () => undefined; // not in an activity (a tool or a test calling the function directly)
  }
  const timer = setInterval(() => ctx!.heartbeat(details()), HEARTBEAT_EVERY_MS);
  ctx.heartbeat(details());
  return () => clearInterval(timer);
}

/** Pods a hook runs in: Running pods matching its labels, with the container and PVCs to tie volumes to. */
export async function resolveHookTargets(context: string, hook: ResolvedHook): Promise<HookTarget[]> {
  const cluster = connectCluster(context);
  const { namespace, matchLabels } = hook.podSelector;
  const selector = Object.entries(matchLabels).map(([k, v]) => `${k}=${v}`).join(',');
  let pods;
  try {
    pods = await cluster.core.listNamespacedPod({ namespace, labelSelector: selector });
  } catch (err) {
    throw classifyKubeError(err, context, 'list', `pods in namespace ${namespace}`);
  }
  return pods.items
    .filter((p) => p.status?.phase === 'Running' && !p.metadata?.deletionTimestamp)
    .map((p) => {
      const container = p.spec!.containers.find((c) => c.name === hook.container) ?? p.spec!.containers[0];
      const claims = new Map((p.spec?.volumes ?? []).flatMap((v) => (v.persistentVolumeClaim ? [[v.name, v.persistentVolumeClaim.claimName] as const] : [])));
      return {
        hook: hook.name,
        namespace,
        pod: p.metadata!.name!,
        container: container.name,
        node: p.spec?.nodeName,
        mounts: (container.volumeMounts ?? []).flatMap((m) =>
          claims.has(m.name) ? [{ mountPath: m.mountPath, pvc: claims.get(m.name)!, ...(m.subPath ? { subPath: m.subPath } : {}) }] : [],
        ),
      };
    })
    .sort((a, b) => a.pod.localeCompare(b.pod));
}

/**
 * Runs one step of a two-command hook through the exec API, heartbeating while it runs. The
 * workflow never retries a pre step: it may have changed state, so its post step runs instead.
 */
export async function runHookStep(context: string, hook: ExecHook, phase: 'pre' | 'post', target: HookTarget): Promise<HookRunResult> {
  const step = hook[phase]!;
  const stop = keepBeating(() => ({ hook: hook.name, phase, pod: target.pod }));
  try {
    const cluster = connectCluster(context);
    const secrets = await containerSecretValues(cluster, target);
    const started = Date.now();
    const r = await execOnce(cluster, target, step.command, { timeoutMs: durationToMs(step.timeout) });
    return toResult(hook, phase, target, r, started, secrets);
  } finally {
    stop();
  }
}

/**
 * Runs one step of a session hook in a session of its own: the post step of a hold whose session
 * was lost (its worker died), so whatever the pre step left behind is undone. For PostgreSQL the
 * lost session already ended the backup, and pg_backup_stop says so; for a hook whose quiesce
 * outlives its session, this is what releases it.
 */
export async function runSessionHookStep(context: string, hook: SessionHook, phase: 'pre' | 'post', target: HookTarget): Promise<HookRunResult> {
  const stop = keepBeating(() => ({ hook: hook.name, phase, pod: target.pod }));
  try {
    const cluster = connectCluster(context);
    const secrets = await containerSecretValues(cluster, target);
    const started = Date.now();
    const s = await ExecSession.open(cluster, target, hook.command, hook.markerStatement);
    try {
      return toResult(hook, phase, target, await s.step(hook[phase]?.stdin ?? '', stepTimeoutMs(hook[phase])), started, secrets);
    } finally {
      await s.close();
    }
  } finally {
    stop();
  }
}

/**
 * Holds a session hook's quiesce for the whole copy, as a runbook:
 *
 * 1. open the session and run the pre step;
 * 2. tell the workflow the quiesce is in place (a signal, retried until it is delivered);
 * 3. hold: heartbeat, and ask the workflow every second whether to release. A question that fails
 *    or times out (the workflow's worker restarting, the server unreachable) is asked again: it
 *    never releases the quiesce. Only three things end the hold: the workflow's answer (given once
 *    every copy made under the quiesce ended), `maxHoldMs` since the pre step, or the activity
 *    being cancelled (its workflow is gone, or this worker is shutting down);
 * 4. run the post step, in the same session, whatever ended the hold;
 * 5. return why the hold ended. The workflow accepts the copy only when it was `workflow`.
 *
 * `settings` is a number in runs started by older releases: their default maxHold, released by
 * hook name.
 */
export async function holdHookSession(context: string, hook: SessionHook, target: HookTarget, settings: HoldSettings | number): Promise<HookHoldResult> {
  const ctx = Context.current();
  const wf = ctx.info.workflowExecution;
  if (!wf) throw new Error('holdHookSession must run as an activity of a workflow');
  const { holdId, maxHoldMs } =
    typeof settings === 'number' ? { holdId: hook.name, maxHoldMs: hook.maxHold ? durationToMs(hook.maxHold) : settings } : settings;
  const handle = ctx.client.workflow.getHandle(wf.workflowId, wf.runId);
  let state = 'pre';
  const stop = keepBeating(() => ({ holdId, state }));
  try {
    return await holdOpenSession();
  } finally {
    stop();
  }

  async function holdOpenSession(): Promise<HookHoldResult> {
    const cluster = connectCluster(context);
    const secrets = await containerSecretValues(cluster, target);
    const cancelled = () => ctx.cancellationSignal.aborted;
    const pause = (ms: number) => ctx.sleep(ms).catch(() => undefined);
    const started = Date.now();
    const s = await ExecSession.open(cluster, target, hook.command, hook.markerStatement);
    try {
      // 1. Pre step.
      const pre = toResult(hook, 'pre', target, await s.step(hook.pre?.stdin ?? '', stepTimeoutMs(hook.pre)), started, secrets);
      const heldSince = Date.now();
      const deadline = heldSince + maxHoldMs;

      // 2. Tell the workflow.
      state = 'telling';
      for (let tries = 1; ; tries++) {
        try {
          await handle.signal<[HookSessionStarted]>(HOOK_SESSION_STARTED_SIGNAL, { hook: hook.name, pod: target.pod, holdId, result: pre });
          break;
        } catch (err) {
          if (cancelled() || Date.now() >= deadline) break;
          if (tries === 1 || tries % 30 === 0) log.warn('cannot tell the workflow the quiesce is held; trying again, still holding', { holdId, error: String(err) });
          await pause(RELEASE_POLL_MS);
        }
      }

      // 3. Hold.
      state = 'holding';
      let releasedBy: HoldRelease;
      if (!pre.ok) {
        releasedBy = 'pre-failed';
      } else {
        let released = false;
        let asking: Promise<void> | undefined;
        let failures = 0;
        while (!released && !s.exited && !cancelled() && Date.now() < deadline) {
          // One question at a time, each with a deadline, so unanswered ones do not pile up.
          asking ??= withTimeout(
            ctx.client.withDeadline(Date.now() + RELEASE_QUERY_TIMEOUT_MS, () => handle.query<boolean, [string]>(HOOK_RELEASE_QUERY, holdId)),
            RELEASE_QUERY_TIMEOUT_MS + 5_000,
          )
            .then((answer) => {
              released ||= answer === true;
              failures = 0;
            })
            .catch((err: unknown) => {
              if (++failures === 1 || failures % 30 === 0) log.warn('cannot ask the workflow whether to release; still holding', { holdId, error: String(err) });
            })
            .finally(() => (asking = undefined));
          await pause(Math.min(RELEASE_POLL_MS, Math.max(1, deadline - Date.now())));
        }
        releasedBy = released ? 'workflow' : s.exited ? 'session-ended' : cancelled() ? 'cancelled' : 'max-hold';
      }

      // 4. Post step, in the session that holds the quiesce.
      state = 'post';
      const releasedAt = new Date();
      const post = s.exited
        ? notRun(hook, 'post', target, `the session ended (the program exited with ${s.exitCode ?? '?'}) before the post step ran; the quiesce ended with it`)
        : toResult(hook, 'post', target, await s.step(hook.post?.stdin ?? '', stepTimeoutMs(hook.post)), releasedAt.getTime(), secrets);
      if (releasedBy !== 'workflow') log.warn('quiesce released before the workflow asked', { holdId, releasedBy });
      return { pre, post, releasedBy, heldMs: releasedAt.getTime() - heldSince, releasedAt: releasedAt.toISOString() };
    } finally {
      await s.close();
    }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      (e) => (clearTimeout(t), reject(e)),
    );
  });
}
