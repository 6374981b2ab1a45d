/**
 * The controller's Kubernetes side, thin: informers that say what changed, reads of the current
 * objects, status and finalizer patches, server-side apply of materialised plans, and
 * SubjectAccessReviews. Every rule of the ClusterRole in templates/controller/clusterrole.yaml is
 * used here.
 */
import * as k8s from '@kubernetes/client-node';
import { DR_API_GROUP, DR_API_VERSION } from '../../shared/custom-resources';
import { statusOf } from '../../activities/kube/cluster';
import { FIELD_MANAGER, PLURALS, type ResourceKind, type Resource } from './model';
import type { NamespaceInfo } from './plans';
import type { Requester } from './requests';

const group = DR_API_GROUP;
const version = DR_API_VERSION;
const merge = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);

export interface KubeAdapter {
  get<T extends Resource<unknown, unknown>>(kind: ResourceKind, name: string, namespace?: string): Promise<T | undefined>;
  list<T extends Resource<unknown, unknown>>(kind: ResourceKind, opts?: { namespace?: string; labelSelector?: string }): Promise<T[]>;
  /** Merge-patches the status subresource; returns the object's new resourceVersion. */
  patchStatus(kind: ResourceKind, name: string, namespace: string | undefined, status: unknown): Promise<string | undefined>;
  setFinalizers(kind: ResourceKind, name: string, namespace: string | undefined, finalizers: string[], resourceVersion?: string): Promise<void>;
  applyPlan(obj: Resource<unknown, unknown>): Promise<void>;
  deletePlan(name: string, namespace: string): Promise<void>;
  namespaces(): Promise<NamespaceInfo[]>;
  /** Whether a Secret exists (metadata only). */
  secretExists(namespace: string, name: string): Promise<boolean>;
  /** A SubjectAccessReview: allowed, and the authorizer's reason when not. */
  canI(who: Requester, attrs: { verb: string; resource: string; namespace?: string }): Promise<{ allowed: boolean; reason?: string }>;
  /** Starts informers on every kind and on namespaces; `onChange` gets the kind and object of every event. */
  watch(onChange: (kind: ResourceKind | 'Namespace', obj: k8s.KubernetesObject) => void, onError: (what: string, err: unknown) => void): Promise<() => Promise<void>>;
}

export function kubeAdapter(kc: k8s.KubeConfig): KubeAdapter {
  const custom = kc.makeApiClient(k8s.CustomObjectsApi);
  const core = kc.makeApiClient(k8s.CoreV1Api);
  const authz = kc.makeApiClient(k8s.AuthorizationV1Api);
  const objects = k8s.KubernetesObjectApi.makeApiClient(kc);
  const notFound = (err: unknown) => statusOf(err) === 404;

  return {
    async get<T extends Resource<unknown, unknown>>(kind: ResourceKind, name: string, namespace?: string) {
      try {
        const plural = PLURALS[kind];
        return (namespace
          ? await custom.getNamespacedCustomObject({ group, version, namespace, plural, name })
          : await custom.getClusterCustomObject({ group, version, plural, name })) as T;
      } catch (err) {
        if (notFound(err)) return undefined;
        throw err;
      }
    },
    async list<T extends Resource<unknown, unknown>>(kind: ResourceKind, opts: { namespace?: string; labelSelector?: string } = {}) {
      const plural = PLURALS[kind];
      const r = (opts.namespace
        ? await custom.listNamespacedCustomObject({ group, version, plural, namespace: opts.namespace, labelSelector: opts.labelSelector })
        : await custom.listClusterCustomObject({ group, version, plural, labelSelector: opts.labelSelector })) as { items: T[] };
      return r.items;
    },
    async patchStatus(kind, name, namespace, status) {
      const plural = PLURALS[kind];
      const body = { status };
      const updated = (namespace
        ? await custom.patchNamespacedCustomObjectStatus({ group, version, namespace, plural, name, body }, merge)
        : await custom.patchClusterCustomObjectStatus({ group, version, plural, name, body }, merge)) as { metadata?: { resourceVersion?: string } };
      return updated?.metadata?.resourceVersion;
    },
    async setFinalizers(kind, name, namespace, finalizers, resourceVersion) {
      const plural = PLURALS[kind];
      // resourceVersion makes it a compare-and-swap: a finalizer list changed meanwhile is a conflict, retried.
      const body = { metadata: { finalizers, ...(resourceVersion ? { resourceVersion } : {}) } };
      if (namespace) await custom.patchNamespacedCustomObject({ group, version, namespace, plural, name, body }, merge);
      else await custom.patchClusterCustomObject({ group, version, plural, name, body }, merge);
    },
    async applyPlan(obj) {
      const { uid: _uid, ...metadata } = obj.metadata;
      await objects.patch({ ...obj, metadata } as k8s.KubernetesObject, undefined, undefined, FIELD_MANAGER, true, k8s.PatchStrategy.ServerSideApply);
    },
    async deletePlan(name, namespace) {
      try {
        await custom.deleteNamespacedCustomObject({ group, version, namespace, plural: PLURALS.DRPlan, name });
      } catch (err) {
        if (!notFound(err)) throw err;
      }
    },
    async namespaces() {
      const list = await core.listNamespace();
      return list.items.map((n) => ({ name: n.metadata!.name!, labels: n.metadata?.labels, terminating: !!n.metadata?.deletionTimestamp || n.status?.phase === 'Terminating' }));
    },
    async secretExists(namespace, name) {
      try {
        await core.readNamespacedSecret({ namespace, name });
        return true;
      } catch (err) {
        if (notFound(err)) return false;
        throw err;
      }
    },
    async canI(who, attrs) {
      const review = await authz.createSubjectAccessReview({
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: who.user,
            groups: who.groups,
            resourceAttributes: { group, version, resource: attrs.resource, verb: attrs.verb, ...(attrs.namespace ? { namespace: attrs.namespace } : {}) },
          },
        },
      });
      return { allowed: !!review.status?.allowed && !review.status?.denied, reason: review.status?.reason || review.status?.evaluationError };
    },
    async watch(onChange, onError) {
      const informers: k8s.Informer<k8s.KubernetesObject>[] = [];
      const add = (kind: ResourceKind | 'Namespace', path: string, list: () => Promise<k8s.KubernetesListObject<k8s.KubernetesObject>>) => {
        const inf = k8s.makeInformer(kc, path, list);
        for (const verb of [k8s.ADD, k8s.UPDATE, k8s.DELETE] as const) inf.on(verb, (obj) => onChange(kind, obj));
        inf.on(k8s.ERROR, (err) => {
          onError(`watch of ${path}`, err);
          // The informer stops on an error: start it again after a pause (it lists again, so nothing is missed).
          setTimeout(() => inf.start().catch((e) => onError(`restart of the watch of ${path}`, e)), 2000);
        });
        informers.push(inf);
      };
      for (const kind of Object.keys(PLURALS) as ResourceKind[]) {
        const plural = PLURALS[kind];
        add(kind, `/apis/${group}/${version}/${plural}`, () => custom.listClusterCustomObject({ group, version, plural }) as Promise<k8s.KubernetesListObject<k8s.KubernetesObject>>);
      }
      add('Namespace', '/api/v1/namespaces', () => core.listNamespace() as Promise<k8s.KubernetesListObject<k8s.KubernetesObject>>);
      await Promise.all(informers.map((i) => i.start().catch((err) => onError('first list', err))));
      return async () => {
        await Promise.all(informers.map((i) => i.stop()));
      };
    },
  };
}
