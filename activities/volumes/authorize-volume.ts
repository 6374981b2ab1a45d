import * as k8s from '@kubernetes/client-node';
import { InvalidInputError, PermissionDeniedError, VolumeAccessRefusedError } from '../../shared/errors';
import type { VolumeLocation } from '../../shared/volume-location';
import { classifyKubeError, statusOf } from '../kube/cluster';
import { decideVolumeAccess, locationProblem, parseClaim, type VolumeObjects } from './volume-access';

/** The API calls a node agent makes to resolve a volume (a CoreV1Api fits). */
export type AgentKubeApi = Pick<k8s.CoreV1Api, 'listNamespacedPod' | 'readNamespacedPersistentVolumeClaim' | 'readPersistentVolume'>;

/** The agent's own view: its cluster's API and the nodes it serves. */
export interface AgentScope {
  cluster: string;
  nodes: readonly string[];
  kube: AgentKubeApi;
}

/**
 * The node agent's client for its own cluster: the kubeconfig TDR_AGENT_KUBECONFIG (context
 * TDR_AGENT_CONTEXT, else its current context) when set, else the pod's service account
 * (in-cluster). Deliberately not TDR_KUBECONFIG/KUBECONFIG: those hold the orchestrator's
 * contexts of every cluster, and an agent must only ever ask its own cluster.
 */
export function connectAgentCluster(cluster: string, env: NodeJS.ProcessEnv = process.env): { kube: k8s.CoreV1Api; source: string } {
  const kc = new k8s.KubeConfig();
  const file = env.TDR_AGENT_KUBECONFIG;
  if (file) {
    try {
      kc.loadFromFile(file);
    } catch (err) {
      throw new InvalidInputError(`TDR_AGENT_KUBECONFIG: cannot read ${file} (${(err as Error).message}); set it to a kubeconfig of cluster ${cluster}, or unset it to use the pod's service account`);
    }
    const context = env.TDR_AGENT_CONTEXT ?? kc.getCurrentContext();
    if (!context || !kc.getContextObject(context)) {
      throw new InvalidInputError(
        `TDR_AGENT_CONTEXT: context "${context ?? ''}" is not in ${file} (contexts: ${kc.getContexts().map((c) => c.name).join(', ') || 'none'}); set it to the context of cluster ${cluster}`,
      );
    }
    kc.setCurrentContext(context);
    return { kube: kc.makeApiClient(k8s.CoreV1Api), source: `context ${context} of ${file}` };
  }
  if (env.KUBERNETES_SERVICE_HOST && env.KUBERNETES_SERVICE_PORT) {
    kc.loadFromCluster();
    return { kube: kc.makeApiClient(k8s.CoreV1Api), source: 'in-cluster service account' };
  }
  throw new InvalidInputError(
    `the node agent of cluster ${cluster} has no Kubernetes API access: run it in the cluster (a DaemonSet pod with a service account allowed to get and list pods, get persistentvolumeclaims and persistentvolumes), or set TDR_AGENT_KUBECONFIG (and TDR_AGENT_CONTEXT) to a kubeconfig of that cluster`,
  );
}

/**
 * Resolves a task's volume through the Kubernetes API before anything on disk is touched: reads
 * the pod, claim and PV, lets decideVolumeAccess judge, and returns the location to act on (the
 * PV's own host path, if any). Throws VolumeAccessRefusedError when the objects disagree with the
 * task, PermissionDeniedError when the agent may not read them, ClusterUnreachableError (retried)
 * when the API server is down.
 */
export async function authorizeVolume(loc: VolumeLocation, scope: AgentScope): Promise<VolumeLocation> {
  const claim = parseClaim(loc.claim);
  const objects: VolumeObjects = {};
  if (claim && !locationProblem(loc, scope.nodes)) {
    objects.pod = await findPod(scope, claim.namespace, loc.podUid, loc.node);
    if (objects.pod) {
      [objects.claim, objects.pv] = await Promise.all([
        orAbsent(scope, `get persistentvolumeclaim ${loc.claim}`, () => scope.kube.readNamespacedPersistentVolumeClaim({ namespace: claim.namespace, name: claim.name })),
        orAbsent(scope, `get persistentvolume ${loc.pvName}`, () => scope.kube.readPersistentVolume({ name: loc.pvName })),
      ]);
    }
  }
  const verdict = decideVolumeAccess(loc, objects, scope.nodes);
  if (verdict.ok) return verdict.location;
  throw new VolumeAccessRefusedError(
    `node agent of cluster ${scope.cluster} refused volume ${loc.claim} (PV ${loc.pvName}) of pod ${verdict.pod} on node ${loc.node}: ${verdict.reason}. ` +
      'Nothing was read or written: an agent acts only on a volume it resolves through the Kubernetes API (a pod on its node that mounts the claim bound to that PV). ' +
      `Run the operation again so it locates the volume anew; if this repeats, check what sends tasks to the agent's task queue.`,
    loc.claim,
    verdict.pod,
    loc.node,
  );
}

/** The refusal of a task that names only a host path, as runs started before volume locations did. */
export function bareHostPathRefused(hostPath: string | undefined, scope: Pick<AgentScope, 'cluster' | 'nodes'>): VolumeAccessRefusedError {
  return new VolumeAccessRefusedError(
    `node agent of cluster ${scope.cluster} (nodes ${scope.nodes.join(', ')}) refused a volume task that names only the host path ${JSON.stringify(hostPath ?? '')} and no pod or claim: ` +
      'the run that sent it was started by an older release. Nothing was read or written: an agent acts only on a volume it resolves through the Kubernetes API. ' +
      'Run the backup or restore again; a run started by this release tells the agent the pod and claim to resolve.',
    '(none)',
    '(none)',
    scope.nodes.join(','),
  );
}

/**
 * The pod with `uid` in `namespace`. Pods cannot be selected by uid: list those on `node`, and only
 * when it is not there, the whole namespace, so a refusal can say where the pod really runs.
 */
async function findPod(scope: AgentScope, namespace: string, uid: string, node: string): Promise<k8s.V1Pod | undefined> {
  const list = (fieldSelector?: string) =>
    scope.kube.listNamespacedPod({ namespace, ...(fieldSelector ? { fieldSelector } : {}) }).catch((err) => {
      throw apiError(err, scope.cluster, 'list', `pods in namespace ${namespace}`);
    });
  const onNode = (await list(`spec.nodeName=${node}`)).items.find((p) => p.metadata?.uid === uid);
  return onNode ?? (await list()).items.find((p) => p.metadata?.uid === uid);
}

async function orAbsent<T>(scope: AgentScope, what: string, read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (err) {
    if (statusOf(err) === 404) return undefined;
    const [verb, ...rest] = what.split(' ');
    throw apiError(err, scope.cluster, verb, rest.join(' '));
  }
}

function apiError(err: unknown, cluster: string, verb: string, what: string): Error {
  const status = statusOf(err);
  if (status === 401 || status === 403) {
    return new PermissionDeniedError(
      `node agent of cluster ${cluster}: ${status === 401 ? 'credentials rejected (401)' : 'forbidden'} to ${verb} ${what}; ` +
        'the agent\'s identity needs get and list on pods, and get on persistentvolumeclaims and persistentvolumes (see the README, "The node agent DaemonSet needs")',
    );
  }
  return classifyKubeError(err, cluster, verb, what);
}
