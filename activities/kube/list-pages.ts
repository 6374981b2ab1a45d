import type { KubernetesObject } from '@kubernetes/client-node';
import type { Cluster } from './cluster';

/** What a list needs to know about a kind. */
export interface ListableType {
  group: string;
  version: string;
  apiVersion: string;
  kind: string;
  /** Plural resource name, e.g. `deployments`. */
  resource: string;
}

export interface ListPage {
  items: KubernetesObject[];
  /** Token of the next page; undefined on the last one. */
  continue?: string;
}

/**
 * One page of a list. Kinds outside the core group are read as the server sent them: client-node's
 * generic object API turns a list it has no model for (any custom resource's) into an object whose
 * metadata is an ObjectMeta, which has no `continue`, so paging stopped after the first page and a
 * namespace with more than one page of a custom kind was captured in part. The core group's typed
 * lists keep the token (`_continue`).
 */
export async function listPage(
  cluster: Cluster,
  type: ListableType,
  namespace: string | undefined,
  opts: { labelSelector?: string; limit: number; token?: string },
): Promise<ListPage> {
  if (type.group === '') {
    const page = await cluster.objects.list(type.apiVersion, type.kind, namespace, undefined, undefined, undefined, undefined, opts.labelSelector, opts.limit, opts.token);
    return { items: page.items, continue: page.metadata?._continue || undefined };
  }
  const query = { group: type.group, version: type.version, plural: type.resource, labelSelector: opts.labelSelector, limit: opts.limit, _continue: opts.token };
  const page = (namespace ? await cluster.custom.listNamespacedCustomObject({ ...query, namespace }) : await cluster.custom.listClusterCustomObject(query)) as {
    items?: KubernetesObject[];
    metadata?: { continue?: string };
  };
  return { items: page.items ?? [], continue: page.metadata?.continue || undefined };
}
