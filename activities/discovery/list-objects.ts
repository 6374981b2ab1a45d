import type { KubernetesObject } from '@kubernetes/client-node';
import type { Cluster } from '../kube/cluster';
import { classifyKubeError } from '../kube/cluster';
import type { ResourceType } from './resource-types';
import { listPage } from '../kube/list-pages';

const PAGE_SIZE = 500;

/** Lists every object of one kind in one namespace (or cluster-wide), page by page. */
export async function listObjects(
  cluster: Cluster,
  type: ResourceType,
  namespace: string | undefined,
  labelSelector?: string,
): Promise<KubernetesObject[]> {
  const items: KubernetesObject[] = [];
  let token: string | undefined;
  do {
    let page;
    try {
      page = await listPage(cluster, type, namespace, { labelSelector, limit: PAGE_SIZE, token });
    } catch (err) {
      throw classifyKubeError(err, cluster.context, 'list', `${type.resource}.${type.group || 'core'}${namespace ? ` in namespace ${namespace}` : ''}`);
    }
    for (const item of page.items) items.push({ ...item, apiVersion: type.apiVersion, kind: type.kind });
    token = page.continue;
  } while (token);
  return items;
}
