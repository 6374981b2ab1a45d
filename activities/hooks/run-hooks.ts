import { Context, sleep } from '@temporalio/activity';
import type { HookRunResult, HookSessionStarted, HookTarget } from '../../shared/hooks';
import { HOOK_RELEASE_QUERY, HOOK_SESSION_STARTED_SIGNAL } from '../../shared/hooks';
import type { ExecHook, ResolvedHook, SessionHook } from '../../shared/hook-presets';
import { durationToMs } from '../../shared/duration';
import { connectCluster, classifyKubeError } from '../kube/cluster';
import { execOnce, ExecSession, type ExecResult } from './exec';

const firstLines = (s: string, max = 2000) => (s.length > max ? s.slice(0, max) + '…' : s);

function toResult(hook: string, phase: 'pre' | 'post', t: HookTarget, r: ExecResult, started: number): HookRunResult {
  return {
    hook,
    phase,
    pod: t.pod,
    container: t.container,
    exitCode: r.exitCode,
    timedOut: r.timedOut,
    durationMs: Date.now() - started,
    output: firstLines((r.stdout + (r.stderr ? `\n[stderr] ${r.stderr}` : '')).trim()),
    ok: r.exitCode === 0 && !r.timedOut,
  };
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

/** Runs one step of a one-shot hook through the exec API. */
export async function runHookStep(context: string, hook: ExecHook, phase: 'pre' | 'post', target: HookTarget): Promise<HookRunResult> {
  const step = hook[phase]!;
  const started = Date.now();
  const r = await execOnce(connectCluster(context), target, step.command, { timeoutMs: durationToMs(step.timeout) });
  return toResult(hook.name, phase, target, r, started);
}

/**
 * Holds a session hook open for the whole copy: runs the pre step, tells the workflow (signal),
 * then waits until the workflow releases it (query) or it can no longer be asked, and always runs
 * the post step before returning. A safety net releases it after `maxHoldMs` even if the workflow
 * is gone, so a quiesce never outlives its run.
 */
export async function holdHookSession(context: string, hook: SessionHook, target: HookTarget, defaultMaxHoldMs: number): Promise<{ pre: HookRunResult; post?: HookRunResult }> {
  const ctx = Context.current();
  const wf = ctx.info.workflowExecution;
  if (!wf) throw new Error('holdHookSession must run as an activity of a workflow');
  const handle = ctx.client.workflow.getHandle(wf.workflowId, wf.runId);
  const cluster = connectCluster(context);
  const started = Date.now();
  const s = await ExecSession.open(cluster, target, hook.command, hook.markerStatement);
  let post: HookRunResult | undefined;
  try {
    const preRes = toResult(hook.name, 'pre', target, await s.step(hook.pre?.stdin ?? '', hook.pre ? durationToMs(hook.pre.timeout) : 30_000), started);
    await handle.signal<[HookSessionStarted]>(HOOK_SESSION_STARTED_SIGNAL, { hook: hook.name, pod: target.pod, result: preRes });
    if (!preRes.ok) return { pre: preRes };
    const deadline = Date.now() + (hook.maxHold ? durationToMs(hook.maxHold) : defaultMaxHoldMs);
    for (;;) {
      ctx.heartbeat();
      if (s.exited) break;
      if (Date.now() > deadline) break;
      const release = await handle.query<boolean, [string]>(HOOK_RELEASE_QUERY, hook.name).catch(() => true);
      if (release) break;
      await sleep(1000).catch(() => undefined);
    }
    const postStarted = Date.now();
    post = toResult(hook.name, 'post', target, await s.step(hook.post?.stdin ?? '', hook.post ? durationToMs(hook.post.timeout) : 30_000), postStarted);
    if (s.exited && !post.ok) post.output = firstLines(`session ended before the post step ran (the program exited); ${post.output}`);
    return { pre: preRes, post };
  } finally {
    await s.close();
  }
}

export function describeFailure(r: HookRunResult): string {
  return r.timedOut
    ? `hook ${r.hook} (${r.phase}) timed out in ${r.pod}/${r.container}`
    : `hook ${r.hook} (${r.phase}) exited ${r.exitCode} in ${r.pod}/${r.container}: ${r.output.split('\n').slice(-3).join(' | ')}`;
}
