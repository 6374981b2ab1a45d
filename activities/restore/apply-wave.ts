import { PatchStrategy, type KubernetesObject } from '@kubernetes/client-node';
import type { KubeObject } from '../../shared/kube-object';
import { cloneJson, formatRef, refOf } from '../../shared/kube-object';
import { ClusterUnreachableError, DataCorruptionError, InvalidInputError, PreflightFailedError } from '../../shared/errors';
import { RESTORE_FIELD_MANAGER, RESTORE_LABEL, expectedOnTarget, restoreKeyRef, restorePlanKey, restoreWaveResultKey, type RestoreRequest } from '../../shared/restore-request';
import { connectCluster, classifyKubeError, statusOf, type Cluster } from '../kube/cluster';
import { mapLimit } from '../util/concurrency';
import { beat, pause, progressOf } from '../util/heartbeat';
import { openRepository } from '../store/open-repository';
import type { StoredRestorePlan } from './build-plan';

export type ObjectOutcome = 'created' | 'updated' | 'skipped' | 'failed';

export interface WaveResult {
  wave: number;
  phase: string;
  created: number;
  updated: number;
  skipped: number;
  failed: { object: string; reason: string }[];
}

const TRANSIENT_STATUS = new Set([429, 500, 502, 503, 504]);
/** Tries of one object while the API server answers 429/5xx, before the whole wave is retried. */
const OBJECT_TRIES = 5;

/**
 * Objects applied at once: TDR_APPLY_CONCURRENCY on the worker (32). An API server that cannot
 * take it answers 429 (priority and fairness): those objects back off and retry on their own.
 */
export function applyConcurrency(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.TDR_APPLY_CONCURRENCY;
  if (raw === undefined || raw === '') return 32;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 512) {
    throw new InvalidInputError(`TDR_APPLY_CONCURRENCY="${raw}" on this worker is not a whole number from 1 to 512; unset it for the default (32)`);
  }
  return n;
}

/** The delay a 429/503 asks for (Retry-After, seconds), else exponential from 200 ms, capped at 5 s. */
function backoffMs(err: unknown, attempt: number): number {
  const headers = (err as { headers?: Record<string, string> }).headers;
  const after = Number(headers?.['retry-after'] ?? headers?.['Retry-After']);
  if (Number.isFinite(after) && after > 0) return Math.min(after, 10) * 1000;
  return Math.min(5000, 200 * 2 ** attempt) * (0.5 + Math.random() / 2);
}

/** Runs `fn`, again after a back-off while the API server answers a transient status. */
export async function withTransientRetry<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt + 1 >= OBJECT_TRIES || !TRANSIENT_STATUS.has(statusOf(err) ?? 0)) throw err;
      await new Promise((r) => setTimeout(r, backoffMs(err, attempt)));
    }
  }
}

/** The message of a Kubernetes Status body; the body itself when it is not one (a proxy's HTML page). */
function statusMessage(body: string): string {
  try {
    const message = (JSON.parse(body) as { message?: unknown } | null)?.message;
    return typeof message === 'string' ? message : body;
  } catch {
    return body;
  }
}

/** Loads the stored (encrypted) plan of a restore run. */
export async function loadRestorePlan(req: RestoreRequest): Promise<StoredRestorePlan> {
  const repo = await openRepository(req.store, restoreKeyRef(req), { create: false, skipIndex: true });
  const plan = await repo.getObject<StoredRestorePlan>('manifest', restorePlanKey(req.restoreId));
  if (!plan) throw new PreflightFailedError(`restore ${req.restoreId}: its plan is missing from the store; start the restore again`);
  if (plan.restoreId !== undefined && plan.restoreId !== req.restoreId) {
    throw new DataCorruptionError(`${repo.location}/${restorePlanKey(req.restoreId)} holds the plan of restore ${plan.restoreId}, not ${req.restoreId}: someone replaced it; start the restore again`);
  }
  return plan;
}

/**
 * Applies one object: created objects carry this run's label so a rollback removes exactly them.
 * Objects preflight found absent are applied without another read (half the API calls on a fresh
 * target); the others are read again, since the target may have changed since the plan.
 */
async function applyOne(cluster: Cluster, req: RestoreRequest, obj: KubeObject, existedAtPlan: boolean): Promise<ObjectOutcome> {
  const header = { apiVersion: obj.apiVersion, kind: obj.kind, metadata: { name: obj.metadata.name, namespace: obj.metadata.namespace } };
  let existing: KubernetesObject | undefined;
  if (existedAtPlan) {
    try {
      existing = await cluster.objects.read(header);
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
  }
  const ours = existing?.metadata?.labels?.[RESTORE_LABEL] === req.restoreId;
  if (existing && !ours) {
    if (req.existingPolicy === 'skip' || (req.existingPolicy === 'fail' && expectedOnTarget(obj))) return 'skipped';
    if (req.existingPolicy === 'fail') throw new PreflightFailedError(`${formatRef(refOf(obj))} already exists on ${req.target.context} (existing-object policy is fail)`);
  }
  const body = cloneJson(obj) as KubeObject;
  if (!existing || ours) body.metadata.labels = { ...(body.metadata.labels ?? {}), [RESTORE_LABEL]: req.restoreId };
  await cluster.objects.patch(body as KubernetesObject, undefined, undefined, RESTORE_FIELD_MANAGER, true, PatchStrategy.ServerSideApply);
  return existing && !ours ? 'updated' : 'created';
}

/** Waits until restored CRDs are Established and their kinds served, so custom resources can follow. */
async function waitEstablished(cluster: Cluster, crds: KubeObject[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const crd of crds) {
    for (;;) {
      const live = (await cluster.objects.read({ apiVersion: crd.apiVersion, kind: crd.kind, metadata: { name: crd.metadata.name } })) as KubernetesObject & {
        status?: { conditions?: { type: string; status: string }[] };
      };
      if (live.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True')) break;
      if (Date.now() > deadline) throw new PreflightFailedError(`CRD ${crd.metadata.name} did not become Established on the target within ${timeoutMs / 1000}s`);
      await pause(500, { stage: 'establish', crd: crd.metadata.name });
    }
  }
}

/**
 * Applies one wave of the restore plan with server-side apply under the project's field manager,
 * honouring the existing-object policy; records the outcome per object in the store. Heartbeats
 * its progress (objects applied) and stops when the activity is cancelled; a retry re-applies
 * the wave, which converges (server-side apply, this run's label).
 */
export async function applyRestoreWave(req: RestoreRequest, wave: number): Promise<WaveResult> {
  beat({ wave, stage: 'load' });
  const plan = await loadRestorePlan(req);
  const w = plan.waves[wave];
  const cluster = connectCluster(req.target.context);
  const applied = progressOf(`apply wave ${wave}`, w.objects.length);
  const outcomes = await mapLimit(w.objects, applyConcurrency(), async (p) => {
    applied();
    try {
      return { object: formatRef(refOf(p.obj)), outcome: await withTransientRetry(() => applyOne(cluster, req, p.obj, p.exists)) };
    } catch (err) {
      const e = classifyKubeError(err, req.target.context, 'apply', formatRef(refOf(p.obj)));
      // An API server that is down or overloaded rejected nothing: the wave is retried (applying is idempotent).
      if (e instanceof ClusterUnreachableError || TRANSIENT_STATUS.has(statusOf(err) ?? 0)) throw e;
      const body = (err as { body?: unknown }).body;
      const reason = typeof body === 'string' ? statusMessage(body) : e.message;
      return { object: formatRef(refOf(p.obj)), outcome: 'failed' as const, reason: String(reason).slice(0, 500) };
    }
  });
  if (w.waitUntilEstablished) await waitEstablished(cluster, w.objects.map((p) => p.obj).filter((o) => o.kind === 'CustomResourceDefinition'), 60_000);
  const result: WaveResult = {
    wave,
    phase: w.phase,
    created: outcomes.filter((o) => o.outcome === 'created').length,
    updated: outcomes.filter((o) => o.outcome === 'updated').length,
    skipped: outcomes.filter((o) => o.outcome === 'skipped').length,
    failed: outcomes.filter((o) => o.outcome === 'failed').map((o) => ({ object: o.object, reason: (o as { reason?: string }).reason ?? '' })),
  };
  const repo = await openRepository(req.store, restoreKeyRef(req), { create: false });
  await repo.store.put(restoreWaveResultKey(req.restoreId, wave), JSON.stringify({ ...result, objects: outcomes }, null, 1));
  if (result.failed.length) {
    throw new PreflightFailedError(
      `the target rejected ${result.failed.length} object(s) in wave ${wave} (${w.phase}):\n  ${result.failed.slice(0, 20).map((f) => `${f.object}: ${f.reason}`).join('\n  ')}`,
    );
  }
  return { ...result, failed: [] };
}

/**
 * Deletes exactly what this run created (objects carrying its label), newest wave first. Objects
 * that existed before the run, even if updated, are left alone. Returns how many were deleted and
 * the first 100 of them (a payload stays small whatever the size of the restore).
 */
export async function rollbackRestore(req: RestoreRequest): Promise<{ deleted: string[]; deletedCount: number }> {
  beat({ stage: 'load' });
  const plan = await loadRestorePlan(req);
  const cluster = connectCluster(req.target.context);
  const deleted: string[] = [];
  const checked = progressOf('rollback', plan.waves.reduce((n, w) => n + w.objects.length, 0));
  for (const w of [...plan.waves].reverse()) {
    await mapLimit(w.objects, applyConcurrency(), async (p) => {
      checked();
      const header = { apiVersion: p.obj.apiVersion, kind: p.obj.kind, metadata: { name: p.obj.metadata.name, namespace: p.obj.metadata.namespace } };
      try {
        const live = await cluster.objects.read(header);
        if (live.metadata?.labels?.[RESTORE_LABEL] !== req.restoreId) return;
        await cluster.objects.delete(header, undefined, undefined, undefined, undefined, 'Background');
        deleted.push(formatRef(refOf(p.obj)));
      } catch (err) {
        if (statusOf(err) !== 404) throw classifyKubeError(err, req.target.context, 'delete', formatRef(refOf(p.obj)));
      }
    });
  }
  return { deleted: deleted.slice(0, 100), deletedCount: deleted.length };
}
