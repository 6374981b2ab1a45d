import type { KubernetesObject } from '@kubernetes/client-node';
import type { KubeObject, ObjectRef } from '../../shared/kube-object';
import { groupOf, refKey, refOf } from '../../shared/kube-object';
import { objectReferences, podSpecReferences, BUILT_IN_GROUPS } from '../../shared/references';
import type { LabelSelector } from '../../shared/label-selector';
import { matchesGlob } from '../../shared/glob';
import type { Selector } from '../../shared/plan';
import { isNeverBackedUp, passesKindAndNameFilters, selectionContextFrom } from '../../shared/selection';
import type { Cluster } from '../kube/cluster';
import { classifyKubeError, statusOf } from '../kube/cluster';
import { discoverResourceTypes, type ResourceType } from './resource-types';
import { listObjects } from './list-objects';
import { mapLimit } from '../util/concurrency';

export type DiscoverySelector = Selector;

export interface DiscoveredApplication {
  objects: KubeObject[];
  /** Objects pulled in because something selected references them, with the referrer. */
  followed: { ref: string; from: string }[];
  /** References to objects that do not exist on the cluster (reported, not fatal). */
  dangling: { ref: string; from: string }[];
  images: { workload: string; images: string[] }[];
  resourceTypes: number;
  namespaces: string[];
  /** The plural resource name discovery served for an object's kind. */
  resourceOf(obj: KubeObject): string;
}

const LIST_CONCURRENCY = 8;

/**
 * Finds everything that makes up the application: every listable namespaced kind in the selected
 * namespaces (label selector applied at list time, so apps deployed after the plan was written
 * are included), then every object those reference (ConfigMaps, Secrets, ServiceAccounts, PVCs,
 * PVs, StorageClasses, Roles, ClusterRoles, PriorityClasses, CRDs), transitively.
 */
export async function discoverApplication(cluster: Cluster, selector: DiscoverySelector): Promise<DiscoveredApplication> {
  const types = await discoverResourceTypes(cluster);
  const byKind = new Map<string, ResourceType>();
  for (const t of types) byKind.set(`${t.apiVersion}/${t.kind}`, t);
  const byGroupKind = new Map<string, ResourceType>();
  for (const t of types) byGroupKind.set(`${t.group}/${t.kind}`, t);

  let allNamespaces: string[];
  try {
    allNamespaces = (await cluster.core.listNamespace()).items.map((n) => n.metadata!.name!);
  } catch (err) {
    throw classifyKubeError(err, cluster.context, 'list', 'namespaces');
  }
  const namespaces = allNamespaces.filter((n) => selector.namespaces.some((p) => matchesGlob(p, n))).sort();

  const resourceOf = (o: KubeObject) => byKind.get(`${o.apiVersion}/${o.kind}`)?.resource ?? byGroupKind.get(`${groupOf(o.apiVersion)}/${o.kind}`)?.resource ?? '';
  // Kinds the plan excludes are not even listed.
  const namespaced = types.filter((t) =>
    t.namespaced && passesKindAndNameFilters({ apiVersion: t.apiVersion, kind: t.kind, resource: t.resource, metadata: { name: '\u0000' } }, selector),
  );
  const labelSelector = selector.labelSelector ? toSelectorString(selector.labelSelector) : undefined;

  const jobs = namespaces.flatMap((ns) => namespaced.map((t) => ({ ns, t })));
  const listed = (await mapLimit(jobs, LIST_CONCURRENCY, ({ ns, t }) => listObjects(cluster, t, ns, labelSelector))).flat() as unknown as KubeObject[];
  const context = selectionContextFrom(listed);

  const found = new Map<string, KubeObject>();
  const accept = (o: KubernetesObject) => {
    const obj = o as unknown as KubeObject;
    if (isNeverBackedUp(obj, context) || !passesKindAndNameFilters({ ...obj, resource: resourceOf(obj) }, selector)) return false;
    found.set(refKey(refOf(obj)), obj);
    return true;
  };
  listed.forEach((o) => accept(o as unknown as KubernetesObject));
  // Namespaces themselves, so a restore recreates their labels and annotations.
  const nsType = byKind.get('v1/Namespace')!;
  for (const ns of namespaces) {
    const [obj] = (await listObjects(cluster, nsType, undefined, undefined)).filter((n) => n.metadata?.name === ns);
    if (obj) accept(obj);
  }

  // Follow references until nothing new turns up.
  const followed: { ref: string; from: string }[] = [];
  const dangling: { ref: string; from: string }[] = [];
  const tried = new Set<string>();
  let frontier = [...found.values()];
  while (frontier.length) {
    const next: KubeObject[] = [];
    const wanted: { ref: ObjectRef; from: KubeObject }[] = [];
    for (const obj of frontier) {
      for (const ref of referencesOf(obj, byGroupKind)) {
        const key = refKey(ref);
        if (found.has(key) || tried.has(key)) continue;
        tried.add(key);
        wanted.push({ ref, from: obj });
      }
    }
    const fetched = await mapLimit(wanted, LIST_CONCURRENCY, async ({ ref }) => readRef(cluster, ref));
    fetched.forEach((raw, i) => {
      const from = describe(wanted[i].from);
      if (!raw) {
        dangling.push({ ref: describe(wanted[i].ref), from });
        return;
      }
      const obj = raw as unknown as KubeObject;
      if (accept(raw)) {
        followed.push({ ref: describe(obj), from });
        next.push(obj);
      }
    });
    frontier = next;
  }

  const objects = [...found.values()].sort((a, b) => refKey(refOf(a)).localeCompare(refKey(refOf(b))));
  const images = objects.flatMap((o) => {
    const refs = podSpecReferences(o);
    return refs && refs.images.length ? [{ workload: describe(o), images: refs.images }] : [];
  });
  return { objects, followed, dangling, images, resourceTypes: types.length, namespaces, resourceOf };
}

/** References with CRD names taken from discovery (the plural the server serves, not a guess). */
function referencesOf(obj: KubeObject, byGroupKind: Map<string, ResourceType>): ObjectRef[] {
  const group = groupOf(obj.apiVersion);
  const refs = objectReferences(obj).filter((r) => r.kind !== 'CustomResourceDefinition');
  if (group && !BUILT_IN_GROUPS.has(group)) {
    const t = byGroupKind.get(`${group}/${obj.kind}`);
    if (t) refs.push({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name: `${t.resource}.${group}` });
  }
  return refs;
}

async function readRef(cluster: Cluster, ref: ObjectRef): Promise<KubernetesObject | undefined> {
  try {
    const obj = await cluster.objects.read({ apiVersion: ref.apiVersion, kind: ref.kind, metadata: { name: ref.name, namespace: ref.namespace } });
    return { ...obj, apiVersion: ref.apiVersion, kind: ref.kind };
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    throw classifyKubeError(err, cluster.context, 'get', describe(ref));
  }
}

const describe = (o: { kind: string; namespace?: string; name?: string; metadata?: { name: string; namespace?: string } }) => {
  const ns = o.metadata ? o.metadata.namespace : o.namespace;
  const name = o.metadata ? o.metadata.name : o.name;
  return `${o.kind}/${ns ? ns + '/' : ''}${name}`;
};

function toSelectorString(s: LabelSelector): string {
  const parts = Object.entries(s.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of s.matchExpressions ?? []) {
    if (e.operator === 'In') parts.push(`${e.key} in (${(e.values ?? []).join(',')})`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${(e.values ?? []).join(',')})`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else parts.push(`!${e.key}`);
  }
  return parts.join(',');
}

