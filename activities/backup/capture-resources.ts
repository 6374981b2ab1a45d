import { createHash } from 'node:crypto';
import type { Plan } from '../../shared/plan';
import { planKeyRef, planToStoreRef } from '../../shared/plan';
import { resourcesKey, pointPrefix, type CatalogResource } from '../../shared/catalog';
import { groupOf, type KubeObject } from '../../shared/kube-object';
import { podSpecReferences } from '../../shared/references';
import { chunkId, type RepositoryKeys } from '../datapath/crypto';
import { connectCluster } from '../kube/cluster';
import { discoverApplication } from '../discovery/discover-application';
import { openRepository } from '../store/open-repository';
import { volumesToCopy } from './volumes-of';
import type { CapturedResources } from './backup-types';
import type { ObjectStore } from '../store/object-store';
import { newestPoint } from '../catalog/points';

/** Staging object the catalog writer reads: per-object summaries and images (no Secret content). */
export const stagedResourcesKey = (plan: string, id: string) => `${pointPrefix(plan, id)}staging/resources.json`;

export interface StagedResources {
  items: CatalogResource[];
  images: { kind: string; namespace: string; name: string; containers: { name: string; image: string }[] }[];
}

/**
 * Discovers the application and stores every manifest in one encrypted bundle. Returns only keys,
 * counts and the volume list: manifests never pass through Temporal.
 */
export async function captureResources(plan: Plan, id: string): Promise<CapturedResources> {
  const cluster = connectCluster(plan.spec.source.context);
  const app = await discoverApplication(cluster, plan.spec.selector);
  const repo = await openRepository(planToStoreRef(plan), planKeyRef(plan), { create: false });

  const items: CatalogResource[] = app.objects.map((o) => {
    const json = Buffer.from(JSON.stringify(o));
    // A Secret's checksum is keyed so a guessable value cannot be confirmed from the catalog.
    const isSecret = o.kind === 'Secret' && o.apiVersion === 'v1';
    return {
      apiVersion: o.apiVersion,
      kind: o.kind,
      ...(o.metadata.namespace ? { namespace: o.metadata.namespace } : {}),
      name: o.metadata.name,
      group: groupOf(o.apiVersion),
      resource: app.resourceOf(o),
      sha256: isSecret ? chunkId(repo.keys, json) : createHash('sha256').update(json).digest('hex'),
      ...(isSecret ? { keyed: true } : {}),
      size: json.length,
      ownerRefs: (o.metadata.ownerReferences ?? []).map((r) => ({ kind: r.kind, name: r.name, ...(r.controller ? { controller: true } : {}) })),
    };
  });
  const images = app.objects.flatMap((o) => {
    const refs = podSpecReferences(o);
    return refs && refs.images.length && o.metadata.namespace
      ? [{ kind: o.kind, namespace: o.metadata.namespace, name: o.metadata.name, containers: containerImages(o) }]
      : [];
  });

  const bundleKey = resourcesKey(plan.metadata.name, id);
  const stored = await repo.putObject('manifest', bundleKey, { format: 'tdr-resources', version: 1, objects: app.objects });
  // Sealed: the catalog, which is signed, is built from it.
  await repo.putObject('manifest', stagedResourcesKey(plan.metadata.name, id), { items, images } satisfies StagedResources);

  const pods = await cluster.core
    .listPodForAllNamespaces()
    .then((l) => l.items.filter((p) => app.namespaces.includes(p.metadata!.namespace!)) as unknown as KubeObject[]);
  return {
    bundleKey,
    bundleSha256: createHash('sha256').update(stored).digest('hex'),
    bundleSize: stored.length,
    objects: app.objects.length,
    followed: app.followed.length,
    dangling: app.dangling.map((d) => `${d.ref} (referenced by ${d.from})`).slice(0, 50),
    namespaces: app.namespaces,
    volumes: volumesToCopy(app.objects, pods, plan.spec.volumes),
    parents: await latestSnapshots(repo.store, plan.metadata.name, repo.keys),
  };
}

function containerImages(o: KubeObject): { name: string; image: string }[] {
  const tpl = (o.spec as { template?: { spec?: unknown }; jobTemplate?: { spec?: { template?: { spec?: unknown } } } } | undefined) ?? {};
  const podSpec = (o.kind === 'Pod' ? o.spec : o.kind === 'CronJob' ? tpl.jobTemplate?.spec?.template?.spec : tpl.template?.spec) as
    | { containers?: { name: string; image: string }[]; initContainers?: { name: string; image: string }[] }
    | undefined;
  return [...(podSpec?.initContainers ?? []), ...(podSpec?.containers ?? [])].map((c) => ({ name: c.name, image: c.image }));
}

/** The volume snapshots of the plan's latest authenticated point; an unreadable point just means no parent. */
async function latestSnapshots(store: ObjectStore, planName: string, keys: RepositoryKeys): Promise<Record<string, string>> {
  try {
    const latest = await newestPoint(store, planName, keys);
    if (!latest) return {};
    const { catalog } = latest;
    return Object.fromEntries(catalog.volumes.filter((v) => v.snapshotKey).map((v) => [`${v.pvc.namespace}/${v.pvc.name}`, v.snapshotKey!]));
  } catch {
    return {};
  }
}
