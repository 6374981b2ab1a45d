import { fenceObject } from '../../shared/failover';
import { isolateForDrill } from '../../shared/drill';
import * as k8s from '@kubernetes/client-node';
import { storageClassOf } from '../../shared/storage-class';
import { helperPlacementFor } from '../../shared/helper-placement';
import type { KubeObject } from '../../shared/kube-object';
import { formatRef, groupOf, oversizeProblem, refKey, refOf } from '../../shared/kube-object';
import { transformForTarget } from '../../shared/transform';
import type { TransformRule } from '../../shared/transform-rules';
import { planRestoreOrder } from '../../shared/restore-order';
import { matchesGlob } from '../../shared/glob';
import { quotaProblems, type QuotaState } from '../../shared/quota';
import { DataCorruptionError } from '../../shared/errors';
import {
  RESTORE_LABEL,
  expectedOnTarget,
  restoreKeyRef,
  restorePlanKey,
  restorePlanReportKey,
  type RestorePlanSummary,
  type RestoreRequest,
  type RestoreVolume,
} from '../../shared/restore-request';
import { connectCluster, classifyKubeError, statusOf, type Cluster } from '../kube/cluster';
import { discoverResourceTypes } from '../discovery/resource-types';
import { mapLimit } from '../util/concurrency';
import { beat, progressOf } from '../util/heartbeat';
import { openStore } from '../store/open-store';
import { openRepository } from '../store/open-repository';
import { latestPoint, readCatalog } from '../catalog/points';
import { readBundle, verifyPoint } from '../catalog/verify-point';
import { listPage } from '../kube/list-pages';

/** One object of the plan as stored for the apply activities. */
export interface PlannedObject {
  obj: KubeObject;
  /** Ref as in the backup, for the report. */
  source: string;
  applied: string[];
  exists: boolean;
}

export interface StoredRestorePlan {
  /** The run it belongs to: sealed blobs share one domain, so this binds the plan to its place (absent when written before it was recorded). */
  restoreId?: string;
  waves: { phase: string; waitUntilEstablished?: boolean; restoresVolumeData?: boolean; objects: PlannedObject[] }[];
}

/** Transform rules of a restore: flags first, then the plan's own rules, then explicit extras. */
export function restoreRules(req: RestoreRequest, planRules: TransformRule[]): TransformRule[] {
  const rules: TransformRule[] = [];
  if (req.namespaceMapping && Object.keys(req.namespaceMapping).length) rules.push({ name: 'namespace mapping', namespaceMapping: req.namespaceMapping });
  if (req.storageClassMapping && Object.keys(req.storageClassMapping).length) rules.push({ name: 'storage class mapping', storageClassMapping: req.storageClassMapping });
  for (const r of req.imageRegistry ?? []) rules.push({ name: `image registry ${r.from} -> ${r.to}`, imageRegistry: r });
  if (!req.ignorePlanTransforms) rules.push(...planRules);
  rules.push(...(req.transforms ?? []));
  return rules;
}

const included = (req: RestoreRequest, o: KubeObject): boolean => {
  const inc = req.include;
  if (req.volumesOnly?.length) {
    return o.kind === 'PersistentVolumeClaim' && req.volumesOnly.includes(`${o.metadata.namespace}/${o.metadata.name}`);
  }
  if (!inc) return true;
  const ns = o.metadata.namespace;
  if (inc.namespaces?.length && ns && !inc.namespaces.some((p) => matchesGlob(p, ns))) return false;
  if (inc.namespaces?.length && o.kind === 'Namespace' && !inc.namespaces.some((p) => matchesGlob(p, o.metadata.name))) return false;
  if (inc.kinds?.length && !inc.kinds.some((k) => matchesGlob(k, o.kind) || k === `${groupOf(o.apiVersion)}/${o.kind}`)) return false;
  if (inc.names?.length && !inc.names.some((n) => matchesGlob(n, o.metadata.name))) return false;
  return true;
};

/**
 * Loads a recovery point, verifies it, decides what to restore in which order and how each object
 * is transformed, and checks the target can take it. Changes nothing on the target. The full plan
 * (with Secret data) is stored encrypted; a readable report and a small summary are returned.
 */
export async function planRestore(req: RestoreRequest): Promise<RestorePlanSummary> {
  beat({ stage: 'verify' });
  const store = openStore(req.store);
  const repo = await openRepository(req.store, restoreKeyRef(req), { create: false });
  const pointId = req.pointId === 'latest' ? await latestPoint(store, req.planName, repo.keys) : req.pointId;
  const catalog = await readCatalog(store, req.planName, pointId, repo.keys);
  const verified = await verifyPoint(repo, catalog, { readData: false });
  if (verified.problems.length) {
    throw new DataCorruptionError(`recovery point ${req.planName}/${pointId} failed verification; nothing was changed on the target:\n  ${verified.problems.slice(0, 20).join('\n  ')}`);
  }
  beat({ stage: 'read bundle' });
  const backedUp = await readBundle(repo, catalog);
  beat({ stage: 'transform', objects: backedUp.length });
  const rules = restoreRules(req, catalog.plan.spec.transforms);

  // Dynamically provisioned PVs are not restored: the target provisions a fresh volume for each claim.
  const restoredClaims = new Set(backedUp.filter((o) => o.kind === 'PersistentVolumeClaim').map((o) => `${o.metadata.namespace}/${o.metadata.name}`));
  const problems: string[] = [];
  let dropped = 0;
  const planned: PlannedObject[] = [];
  for (const o of backedUp) {
    if (!included(req, o)) continue;
    const claim = (o.spec as { claimRef?: { namespace?: string; name?: string } } | undefined)?.claimRef;
    if (o.kind === 'PersistentVolume' && claim && restoredClaims.has(`${claim.namespace}/${claim.name}`)) {
      dropped++;
      continue;
    }
    let result;
    try {
      result = transformForTarget(o, rules);
    } catch (err) {
      problems.push((err as Error).message);
      continue;
    }
    if (!result.obj) {
      dropped++;
      continue;
    }
    let obj = req.fencedFor ? fenceObject(result.obj, req.fencedFor) : result.obj;
    if (req.drillId) {
      const isolated = isolateForDrill(obj, req.drillId);
      if (!isolated) {
        dropped++;
        continue;
      }
      obj = isolated;
    }
    const oversize = oversizeProblem(obj);
    if (oversize) problems.push(oversize);
    planned.push({ obj, source: formatRef(refOf(o)), applied: result.applied, exists: false });
  }

  const target = connectCluster(req.target.context);
  beat({ stage: 'preflight', objects: planned.length });
  await preflight(target, req, planned, problems);
  beat({ stage: 'store plan', objects: planned.length });

  const byKey = new Map(planned.map((p) => [refKey(refOf(p.obj)), p]));
  const waves = planRestoreOrder(planned.map((p) => p.obj)).map((w) => ({
    phase: w.phase,
    ...(w.waitUntilEstablished ? { waitUntilEstablished: true as const } : {}),
    ...(w.restoresVolumeData ? { restoresVolumeData: true as const } : {}),
    objects: w.objects.map((o) => byKey.get(refKey(o.ref))!).filter(Boolean),
  }));

  const volumes: RestoreVolume[] = [];
  for (const v of catalog.volumes) {
    if (v.mode === 'skip' || !v.snapshotKey) continue;
    const source = `PersistentVolumeClaim ${v.pvc.namespace}/${v.pvc.name}`;
    const p = planned.find((x) => x.source === source);
    if (!p) continue;
    volumes.push({
      source: { namespace: v.pvc.namespace, pvc: v.pvc.name },
      namespace: p.obj.metadata.namespace!,
      pvc: p.obj.metadata.name,
      manifestKey: v.snapshotKey,
      bytes: v.bytes,
      existing: p.exists,
      placement: helperPlacementFor(planned.map((x) => x.obj), p.obj.metadata.namespace!, p.obj.metadata.name),
    });
  }

  await repo.putObject('manifest', restorePlanKey(req.restoreId), { restoreId: req.restoreId, waves } satisfies StoredRestorePlan);
  const report = {
    restoreId: req.restoreId,
    point: `${req.planName}/${pointId}`,
    target: req.target,
    existingPolicy: req.existingPolicy,
    waves: waves.map((w) => ({
      phase: w.phase,
      objects: w.objects.map((p) => ({ object: formatRef(refOf(p.obj)), from: p.source, transforms: p.applied, existsOnTarget: p.exists })),
    })),
    volumes,
    problems,
  };
  await store.put(restorePlanReportKey(req.restoreId), JSON.stringify(report, null, 1));
  return {
    restoreId: req.restoreId,
    planName: req.planName,
    pointId,
    objects: planned.length,
    existing: planned.filter((p) => p.exists).length,
    waves: waves.map((w) => ({ phase: w.phase, objects: w.objects.length, ...(w.waitUntilEstablished ? { waitUntilEstablished: true } : {}), ...(w.restoresVolumeData ? { restoresVolumeData: true } : {}) })),
    volumes,
    namespaces: [...new Set(planned.flatMap((p) => (p.obj.metadata.namespace ? [p.obj.metadata.namespace] : [])))].sort(),
    dropped,
    problems: problems.slice(0, 100),
    reportKey: restorePlanReportKey(req.restoreId),
  };
}

/** Objects of one kind in one namespace above this many are found with a LIST instead of a read each. */
const LIST_WHEN_MORE_THAN = 20;

/**
 * Read-only checks against the target: every kind is served (or its CRD is in the restore),
 * storage classes exist, what already exists (and whether the policy allows it), and that we may
 * create each kind in each namespace. Fills `exists` and appends problems.
 */
async function preflight(target: Cluster, req: RestoreRequest, planned: PlannedObject[], problems: string[]): Promise<void> {
  const types = await discoverResourceTypes(target);
  const served = new Map(types.map((t) => [`${t.group}/${t.kind}`, t]));
  const restoredCrds = new Set(
    planned
      .filter((p) => p.obj.kind === 'CustomResourceDefinition')
      .map((p) => {
        const s = p.obj.spec as { group: string; names: { kind: string } };
        return `${s.group}/${s.names.kind}`;
      }),
  );
  for (const p of planned) {
    const gk = `${groupOf(p.obj.apiVersion)}/${p.obj.kind}`;
    if (!served.has(gk) && !restoredCrds.has(gk)) {
      problems.push(`${formatRef(refOf(p.obj))}: kind ${p.obj.kind} (${p.obj.apiVersion}) is not served by ${req.target.context}; install its CRD there or exclude the kind`);
    }
  }
  let classes: string[] = [];
  try {
    classes = (await target.kc.makeApiClient(k8s.StorageV1Api).listStorageClass()).items.map((c) => c.metadata!.name!);
  } catch (err) {
    throw classifyKubeError(err, req.target.context, 'list', 'storageclasses.storage.k8s.io');
  }
  const restoredClasses = new Set(planned.filter((p) => p.obj.kind === 'StorageClass').map((p) => p.obj.metadata.name));
  const claimClasses = planned.flatMap((p) => {
    if (p.obj.kind === 'PersistentVolumeClaim') return [{ p, sc: storageClassOf(p.obj as never) }];
    if (p.obj.kind === 'StatefulSet') {
      const tpls = (p.obj.spec as { volumeClaimTemplates?: object[] }).volumeClaimTemplates ?? [];
      return tpls.map((t) => ({ p, sc: storageClassOf(t as never) }));
    }
    return [];
  });
  for (const { p, sc } of claimClasses) {
    if (sc && !classes.includes(sc) && !restoredClasses.has(sc)) {
      problems.push(`${formatRef(refOf(p.obj))}: storage class "${sc}" does not exist on ${req.target.context} (it has: ${classes.join(', ') || 'none'}); map it with --storage-class-map ${sc}=<class>`);
    }
  }

  // What already exists: one paged LIST per kind and namespace that has many objects in the
  // restore (10,000 ConfigMaps cost 100 requests, not 10,000 reads), a read each for the others.
  const exists = (p: PlannedObject, existing: k8s.KubernetesObject) => {
    p.exists = true;
    const ours = existing.metadata?.labels?.[RESTORE_LABEL] === req.restoreId;
    if (req.existingPolicy === 'fail' && !ours && !expectedOnTarget(p.obj)) {
      problems.push(`${formatRef(refOf(p.obj))} already exists on ${req.target.context}; restore with --existing skip or --existing update, or into another namespace`);
    }
  };
  const byKind = new Map<string, PlannedObject[]>();
  for (const p of planned) {
    if (!served.has(`${groupOf(p.obj.apiVersion)}/${p.obj.kind}`)) continue;
    const k = `${p.obj.apiVersion}|${p.obj.kind}|${p.obj.metadata.namespace ?? ''}`;
    const list = byKind.get(k);
    if (list) list.push(p);
    else byKind.set(k, [p]);
  }
  const oneByOne: PlannedObject[] = [];
  let listedPages = 0;
  await mapLimit([...byKind.values()], 4, async (ps) => {
    if (ps.length <= LIST_WHEN_MORE_THAN) return void oneByOne.push(...ps);
    const { apiVersion, kind, metadata: { namespace } } = ps[0].obj;
    const type = served.get(`${groupOf(apiVersion)}/${kind}`)!;
    const live = new Map<string, k8s.KubernetesObject>();
    try {
      let token: string | undefined;
      do {
        beat({ stage: 'preflight: list existing', kind, namespace, pages: ++listedPages });
        const page = await listPage(target, type, namespace, { limit: 100, token });
        for (const item of page.items) live.set(item.metadata!.name!, item);
        token = page.continue;
      } while (token);
    } catch (err) {
      // Allowed to read these but not to list them: read them one by one.
      if (statusOf(err) === 403) return void oneByOne.push(...ps);
      throw classifyKubeError(err, req.target.context, 'list', `${kind} (${apiVersion})${namespace ? ` in namespace ${namespace}` : ''}`);
    }
    for (const p of ps) {
      const e = live.get(p.obj.metadata.name);
      if (e) exists(p, e);
    }
  });
  const checked = progressOf('preflight: existing objects', oneByOne.length);
  await mapLimit(oneByOne, 16, async (p) => {
    checked();
    try {
      exists(p, await target.objects.read({ apiVersion: p.obj.apiVersion, kind: p.obj.kind, metadata: { name: p.obj.metadata.name, namespace: p.obj.metadata.namespace } }));
    } catch (err) {
      if (statusOf(err) !== 404) throw classifyKubeError(err, req.target.context, 'get', formatRef(refOf(p.obj)));
    }
  });

  // Will the namespaces' quotas (those on the target, and those the restore brings) take it?
  const namespaces = [...new Set(planned.flatMap((p) => (p.obj.metadata.namespace ? [p.obj.metadata.namespace] : [])))];
  const quotas: QuotaState[] = [];
  for (const namespace of namespaces) {
    const live = await target.core.listNamespacedResourceQuota({ namespace }).catch(() => ({ items: [] as k8s.V1ResourceQuota[] }));
    for (const q of live.items) quotas.push({ namespace, name: q.metadata!.name!, hard: q.status?.hard ?? q.spec?.hard ?? {}, used: q.status?.used ?? {} });
  }
  for (const p of planned) {
    if (p.obj.kind !== 'ResourceQuota' || p.exists) continue;
    const hard = ((p.obj.spec as { hard?: Record<string, string> } | undefined)?.hard) ?? {};
    quotas.push({ namespace: p.obj.metadata.namespace!, name: p.obj.metadata.name, hard, used: {} });
  }
  problems.push(...quotaProblems(planned.filter((p) => !p.exists).map((p) => ({ obj: p.obj, resource: types.find((t) => t.kind === p.obj.kind && t.group === groupOf(p.obj.apiVersion))?.resource ?? '' })), quotas));

  // May we create what we plan to? One access review per kind and namespace.
  const reviews = new Map<string, { group: string; resource: string; namespace?: string }>();
  const resourceOf = new Map(types.map((t) => [`${t.group}/${t.kind}`, t.resource]));
  for (const p of planned) {
    const group = groupOf(p.obj.apiVersion);
    const resource = resourceOf.get(`${group}/${p.obj.kind}`);
    if (!resource) continue;
    reviews.set(`${group}/${resource}/${p.obj.metadata.namespace ?? ''}`, { group, resource, namespace: p.obj.metadata.namespace });
  }
  const authz = target.kc.makeApiClient(k8s.AuthorizationV1Api);
  const reviewed = progressOf('preflight: access reviews', reviews.size);
  await mapLimit([...reviews.values()], 8, async (r) => {
    reviewed();
    const review = await authz.createSelfSubjectAccessReview({
      body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { resourceAttributes: { verb: 'create', group: r.group, resource: r.resource, namespace: r.namespace } } },
    });
    if (!review.status?.allowed) {
      problems.push(`not allowed to create ${r.resource}${r.group ? '.' + r.group : ''}${r.namespace ? ` in namespace ${r.namespace}` : ''} on ${req.target.context}; grant "create" on it to the restore's identity`);
    }
  });
}
