import { createHash } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import type { Plan } from '../../shared/plan';
import { planKeyRef, planToStoreRef } from '../../shared/plan';
import {
  CATALOG_FORMAT_VERSION,
  catalogKey,
  unsignedCatalogSchema,
  inProgressMarkerKey,
  pointPrefix,
  type CatalogVolume,
  type HookRun,
  type InProgressMarker,
  type DataCheckRecord,
} from '../../shared/catalog';
import { DataCorruptionError } from '../../shared/errors';
import { formatIssuePath } from '../../shared/validation-issues';
import { connectCluster, classifyKubeError } from '../kube/cluster';
import { openStore, ensureBucket, checkObjectLock } from '../store/open-store';
import type { ObjectStore } from '../store/object-store';
import { packKey } from '../datapath/pack';
import { readVolumeManifest, manifestChunkIds } from '../datapath/manifest';
import { mapLimit } from '../util/concurrency';
import { retainUntil, type ObjectLockRef, type ObjectRetention } from '../../shared/object-lock';
import { openRepository } from '../store/open-repository';
import type { Repository } from '../datapath/repository';
import { sealCatalog } from '../catalog/catalog-auth';
import { stagedResourcesKey, type StagedResources } from './capture-resources';

export const failedMarkerKey = (plan: string, id: string) => `${pointPrefix(plan, id)}failed.json`;

/**
 * Checks the source cluster answers, opens (or creates) the repository with the plan's key, and
 * marks the point in progress. Idempotent: a retry rewrites the same marker.
 */
export async function prepareBackup(plan: Plan, id: string, run: { workflowId: string; runId: string; startedAt: string }) {
  const cluster = connectCluster(plan.spec.source.context);
  let kubernetesVersion: string;
  try {
    kubernetesVersion = (await cluster.kc.makeApiClient(k8s.VersionApi).getCode()).gitVersion;
  } catch (err) {
    throw classifyKubeError(err, plan.spec.source.context, 'get', 'the server version');
  }
  const ref = planToStoreRef(plan);
  await ensureBucket(openStore(ref));
  await checkObjectLock(openStore(ref));
  await openRepository(ref, planKeyRef(plan), { create: true });
  const marker: InProgressMarker = { formatVersion: CATALOG_FORMAT_VERSION, pointId: id, planName: plan.metadata.name, startedAt: run.startedAt, workflowId: run.workflowId, runId: run.runId };
  await openStore(ref).put(inProgressMarkerKey(plan.metadata.name, id), JSON.stringify(marker));
  return { kubernetesVersion };
}

export interface CatalogInputs {
  plan: Plan;
  pointId: string;
  kubernetesVersion: string;
  startedAt: string;
  bundle: { key: string; sha256: string; size: number };
  volumes: CatalogVolume[];
  hooks: HookRun[];
  timings: { phase: string; startedAt: string; durationMs: number }[];
  storedBytes: number;
  dataChecks?: DataCheckRecord[];
}

/**
 * Writes the catalog, last, so a point is either complete and verifiable or visibly incomplete;
 * then removes the in-progress marker and the staging objects.
 */
export async function writeCatalog(input: CatalogInputs): Promise<{ catalogKey: string; sha256: string; resources: number }> {
  const { plan, pointId } = input;
  const store = openStore(planToStoreRef(plan));
  const lock = planToStoreRef(plan).objectLock;
  const repo = await openRepository(planToStoreRef(plan), planKeyRef(plan), { create: false, skipIndex: !lock });
  const staged = await readStagedResources(repo, stagedResourcesKey(plan.metadata.name, pointId));
  const now = new Date().toISOString();
  const candidate = {
    formatVersion: CATALOG_FORMAT_VERSION,
    pointId,
    planName: plan.metadata.name,
    plan,
    status: 'complete' as const,
    source: { clusterName: plan.spec.source.clusterName ?? plan.spec.source.context, context: plan.spec.source.context, kubernetesVersion: input.kubernetesVersion },
    createdAt: now,
    startedAt: input.startedAt,
    completedAt: now,
    resources: { bundle: { ...input.bundle, encryption: 'aes-256-gcm' as const }, items: staged.items },
    volumes: input.volumes,
    images: staged.images,
    hooks: input.hooks,
    ...(input.dataChecks ? { dataChecks: input.dataChecks } : {}),
    timings: input.timings,
    totals: {
      resources: staged.items.length,
      volumes: input.volumes.length,
      files: input.volumes.reduce((n, v) => n + v.files, 0),
      bytes: input.volumes.reduce((n, v) => n + v.bytes, 0),
      storedBytes: input.storedBytes + input.bundle.size,
    },
  };
  const checked = unsignedCatalogSchema.safeParse(candidate);
  if (!checked.success) {
    throw new DataCorruptionError(
      `refusing to write an invalid catalog for ${plan.metadata.name}/${pointId}: ${checked.error.issues.map((i) => `${formatIssuePath(i.path)}: ${i.message}`).join('; ')}`,
    );
  }
  const body = sealCatalog(repo.keys, checked.data);
  const key = catalogKey(plan.metadata.name, pointId);
  const locked = lock ? await lockPointObjects(repo, store, lock, { bundleKey: input.bundle.key, manifestKeys: input.volumes.flatMap((v) => (v.snapshotKey ? [v.snapshotKey] : [])) }) : undefined;
  await store.put(key, body, { contentType: 'application/json', ...(locked ? { retainUntil: locked.retainUntil } : {}) });
  await store.delete([inProgressMarkerKey(plan.metadata.name, pointId), stagedResourcesKey(plan.metadata.name, pointId)]);
  return { catalogKey: key, sha256: createHash('sha256').update(body).digest('hex'), resources: staged.items.length };
}

/**
 * Before a point's catalog is written under Object Lock: every object the point reads is made
 * retained until the catalog's own date, so the whole point expires at once. That covers the
 * bundle and manifests (locked when written, earlier) and, since packs are deduplicated across
 * points and plans, the packs holding the point's chunks and the index objects listing them, which
 * an older point may have written with an earlier date. Retention is only ever extended.
 */
export async function lockPointObjects(
  repo: Repository,
  store: ObjectStore,
  lock: ObjectLockRef,
  point: { bundleKey: string; manifestKeys: string[] },
  now: Date = new Date(),
): Promise<ObjectRetention & { objects: number; versionsExtended: number }> {
  const retention: ObjectRetention = { mode: lock.mode, retainUntil: retainUntil(now, lock) };
  if (!store.extendRetention) return { ...retention, objects: 0, versionsExtended: 0 };
  const packs = new Set<string>();
  for (const m of point.manifestKeys) {
    for (const id of manifestChunkIds(await readVolumeManifest(repo, m))) {
      const at = repo.lookup(id);
      if (at) packs.add(at.pack);
    }
  }
  const keys = [point.bundleKey, ...point.manifestKeys, ...[...packs].map(packKey), ...repo.indexKeysListing(packs)];
  const extended = await mapLimit(keys, 8, (k) => store.extendRetention!(k, retention));
  return { ...retention, objects: keys.length, versionsExtended: extended.reduce((a, b) => a + b, 0) };
}

/** The staged catalog entries: sealed, or clear JSON when a backup started before they were sealed wrote them. */
export async function readStagedResources(repo: Repository, key: string): Promise<StagedResources> {
  const body = await repo.store.get(key);
  if (!body) throw new DataCorruptionError(`${repo.location}/${key} is missing: the point's resources were not captured; run the backup again`);
  // Sealed first: a sealed body starts with its random nonce, so 1 in 256 begins with "{" too.
  try {
    return repo.openObject<StagedResources>('manifest', key, body);
  } catch (sealedError) {
    if (body[0] !== 0x7b) throw sealedError;
    try {
      return JSON.parse(body.toString('utf8')) as StagedResources;
    } catch {
      throw sealedError;
    }
  }
}

/** Records why a point failed, next to its in-progress marker, so nobody mistakes it for a recovery point. */
export async function markPointFailed(plan: Plan, id: string, reason: string): Promise<void> {
  const store = openStore(planToStoreRef(plan));
  await store.put(failedMarkerKey(plan.metadata.name, id), JSON.stringify({ pointId: id, failedAt: new Date().toISOString(), reason: reason.slice(0, 4000) }));
}
