import { matchesAnyGlob, matchesGlob } from './glob';
import { matchesAnyKindPattern, matchesKindPattern } from './kind-pattern';
import { groupOf, isObject, type KubeObject } from './kube-object';
import { matchLabelSelector } from './label-selector';
import type { Selector } from './plan';

export { matchLabelSelector, type LabelSelector } from './label-selector';

/** What the rest of the backup set says about an object's owners (for Endpoints and EndpointSlices). */
export interface SelectionContext {
  /** Whether a Service with a pod selector exists at namespace/name (its endpoints are controller-made). */
  hasSelectorService(namespace: string, name: string): boolean;
}

/** A context built from the objects being backed up. */
export function selectionContextFrom(objects: readonly KubeObject[]): SelectionContext {
  const services = new Set(
    objects
      .filter((o) => o.kind === 'Service' && o.apiVersion === 'v1' && isObject(o.spec) && isObject(o.spec.selector) && Object.keys(o.spec.selector).length > 0)
      .map((o) => `${o.metadata.namespace}/${o.metadata.name}`),
  );
  return { hasSelectorService: (namespace, name) => services.has(`${namespace}/${name}`) };
}

const NEVER_KINDS: Record<string, string> = {
  '/Event': 'events are history, not state',
  'events.k8s.io/Event': 'events are history, not state',
  'apps/ControllerRevision': 'controllers write their own revisions',
  'coordination.k8s.io/Lease': 'leases are held by running processes of the source cluster',
  '/Node': 'nodes belong to the cluster, not the application',
  'storage.k8s.io/CSINode': 'nodes belong to the cluster, not the application',
  'storage.k8s.io/VolumeAttachment': 'attachments belong to the source nodes',
  '/Binding': 'bindings are a scheduler action, not an object',
};

const ownedBy = (obj: KubeObject, kinds: readonly string[], controllerOnly = true): boolean =>
  (obj.metadata.ownerReferences ?? []).some((o) => kinds.includes(o.kind) && (!controllerOnly || o.controller === true));

const ENDPOINTSLICE_CONTROLLERS = ['endpointslice-controller.k8s.io', 'endpointslicemirroring-controller.k8s.io'];

/**
 * Why an object is never backed up or restored, or undefined when it may be: it is recreated by a
 * controller on the target, or it is only meaningful on the source cluster.
 */
export function alwaysExcludedReason(obj: KubeObject, context?: SelectionContext): string | undefined {
  const key = `${groupOf(obj.apiVersion)}/${obj.kind}`;
  if (NEVER_KINDS[key]) return NEVER_KINDS[key];
  const ns = obj.metadata.namespace ?? '';
  switch (key) {
    case '/Pod':
      if ((obj.metadata.ownerReferences ?? []).some((o) => o.controller === true)) return 'pods of a controller are recreated by it';
      // Static pods: the kubelet mirrors them from files on the node.
      return ownedBy(obj, ['Node'], false) ? 'static pods come from files on the source node' : undefined;
    case 'apps/ReplicaSet':
      return ownedBy(obj, ['Deployment']) ? 'the Deployment recreates its ReplicaSets' : undefined;
    case 'batch/Job':
      return ownedBy(obj, ['CronJob']) ? 'the CronJob creates its Jobs on schedule' : undefined;
    case '/Endpoints':
      // Endpoints of a selector-less Service are written by hand and are the only copy.
      return context?.hasSelectorService(ns, obj.metadata.name) ? 'the endpoints controller rebuilds them from the Service' : undefined;
    case 'discovery.k8s.io/EndpointSlice': {
      const managedBy = obj.metadata.labels?.['endpointslice.kubernetes.io/managed-by'];
      if (managedBy && ENDPOINTSLICE_CONTROLLERS.includes(managedBy)) return 'the endpoint slice controllers rebuild them';
      const service = obj.metadata.labels?.['kubernetes.io/service-name'];
      if (service && context?.hasSelectorService(ns, service)) return 'the endpoint slice controllers rebuild them';
      return ownedBy(obj, ['Service'], false) ? 'the endpoint slice controllers rebuild them' : undefined;
    }
    case '/Secret':
      return obj.type === 'kubernetes.io/service-account-token' ? 'token secrets are minted per cluster' : undefined;
    case '/ConfigMap':
      return obj.metadata.name === 'kube-root-ca.crt' ? "every namespace gets the target cluster's CA bundle" : undefined;
    default:
      return undefined;
  }
}

export const isNeverBackedUp = (obj: KubeObject, context?: SelectionContext): boolean => alwaysExcludedReason(obj, context) !== undefined;

/** Splits `Kind/namespace/name`, whose kind part may hold a group: `apps/Deployment/shop/web`. */
function parseNameFilter(filter: string): { kind: string; namespace: string; name: string } {
  const parts = filter.split('/');
  const name = parts.pop()!;
  const namespace = parts.pop()!;
  return { kind: parts.join('/'), namespace, name };
}

/** The plan's kind and name filters only (for cluster-scoped objects that references pull in). */
export function passesKindAndNameFilters(obj: KubeObject & { resource?: string }, selector: Selector): boolean {
  const kindOf = { apiVersion: obj.apiVersion, kind: obj.kind, resource: obj.resource };
  if (selector.includeKinds?.length && !matchesAnyKindPattern(selector.includeKinds, kindOf)) return false;
  if (selector.excludeKinds?.length && matchesAnyKindPattern(selector.excludeKinds, kindOf)) return false;
  for (const filter of selector.excludeNames ?? []) {
    const { kind, namespace, name } = parseNameFilter(filter);
    if (
      (kind === '*' || matchesKindPattern(kind, kindOf)) &&
      matchesGlob(namespace, obj.metadata.namespace ?? '') &&
      matchesGlob(name, obj.metadata.name)
    )
      return false;
  }
  return true;
}

/**
 * Whether the plan's selector picks this object. Namespaced objects: in a selected namespace and
 * matching the label selector. A Namespace: when it is a selected one (labels aside: the
 * namespace must exist for its objects). Other cluster-scoped objects are never picked directly;
 * discovery adds the ones that selected objects reference, checked with passesKindAndNameFilters.
 */
export function matchesSelection(obj: KubeObject & { resource?: string }, selector: Selector): boolean {
  const namespace = obj.metadata.namespace;
  if (!namespace) {
    if (obj.kind !== 'Namespace' || obj.apiVersion !== 'v1') return false;
    return matchesAnyGlob(selector.namespaces, obj.metadata.name) && passesKindAndNameFilters(obj, selector);
  }
  if (!matchesAnyGlob(selector.namespaces, namespace)) return false;
  if (!matchLabelSelector(obj.metadata.labels, selector.labelSelector)) return false;
  return passesKindAndNameFilters(obj, selector);
}
