import { PatchStrategy, type KubernetesObject } from '@kubernetes/client-node';
import type { KubeObject } from '../../shared/kube-object';
import { cloneJson, formatRef, refOf } from '../../shared/kube-object';
import { ClusterUnreachableError, DataCorruptionError, PreflightFailedError } from '../../shared/errors';
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

const APPLY_CONCURRENCY = 16;
const TRANSIENT_STATUS = new Set([429, 500, 502, 503, 504]);

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
  const outcomes = await mapLimit(w.objects, APPLY_CONCURRENCY, async (p) => {
    applied();
    try {
      return { object: formatRef(refOf(p.obj)), outcome: await applyOne(cluster, req, p.obj, p.exists) };
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
    await mapLimit(w.objects, APPLY_CONCURRENCY, async (p) => {
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
