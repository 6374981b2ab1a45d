import * as k8s from '@kubernetes/client-node';
import type { Cluster } from '../kube/cluster';
import { classifyKubeError } from '../kube/cluster';

/** One listable kind as the API server serves it, at its preferred version. */
export interface ResourceType {
  group: string;
  version: string;
  apiVersion: string;
  kind: string;
  /** Plural resource name, e.g. `deployments`. */
  resource: string;
  namespaced: boolean;
}

/**
 * Every kind the cluster serves at its preferred version that can be listed and read, CRDs
 * included (they appear as API groups). Subresources are skipped.
 */
export async function discoverResourceTypes(cluster: Cluster): Promise<ResourceType[]> {
  const out: ResourceType[] = [];
  const add = (group: string, version: string, list: k8s.V1APIResourceList) => {
    for (const r of list.resources) {
      if (r.name.includes('/') || !r.verbs.includes('list') || !r.verbs.includes('get')) continue;
      out.push({ group, version, apiVersion: group ? `${group}/${version}` : version, kind: r.kind, resource: r.name, namespaced: r.namespaced });
    }
  };
  try {
    add('', 'v1', await cluster.core.getAPIResources());
    const groups = await cluster.kc.makeApiClient(k8s.ApisApi).getAPIVersions();
    const lists = await Promise.all(
      groups.groups.map(async (g) => {
        const v = g.preferredVersion?.version ?? g.versions[0].version;
        return { group: g.name, version: v, list: await cluster.custom.getAPIResources({ group: g.name, version: v }) };
      }),
    );
    for (const l of lists) add(l.group, l.version, l.list);
  } catch (err) {
    throw classifyKubeError(err, cluster.context, 'discover', 'API resources');
  }
  return out;
}
