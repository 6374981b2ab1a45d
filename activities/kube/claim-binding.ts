import { createHash } from 'node:crypto';
import { Context } from '@temporalio/activity';
import * as k8s from '@kubernetes/client-node';
import { PreflightFailedError } from '../../shared/errors';
import { classifyKubeError, statusOf, type Cluster } from './cluster';

/** Label on every helper pod; its value names the run that owns it. */
export const HELPER_LABEL = 'temporal-dr.io/helper-of';
/** A valid label value naming a run, e.g. `restore-3f9c…` (ids can be longer than labels allow). */
export const ownerLabel = (kind: 'backup' | 'restore', id: string) => `${kind}-${createHash('sha256').update(id).digest('hex').slice(0, 24)}`;

const helperName = (key: string) => `tdr-helper-${createHash('sha256').update(key).digest('hex').slice(0, 12)}`;

export interface BoundClaim {
  node: string;
  hostPath: string;
  pvName: string;
}

/**
 * Gets a PVC bound and tells where its data lives: a pause pod mounts the claim (a
 * WaitForFirstConsumer class provisions only for a scheduled consumer), then the PV's node and
 * directory are read back for the node agent. Idempotent: the pod's name derives from the claim.
 */
export async function bindClaim(cluster: Cluster, namespace: string, pvc: string, owner: string, timeoutMs = 300_000): Promise<BoundClaim> {
  const name = helperName(`${namespace}/${pvc}/${owner}`);
  const pod: k8s.V1Pod = {
    metadata: { name, namespace, labels: { [HELPER_LABEL]: owner } },
    spec: {
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 0,
      containers: [{ name: 'pause', image: 'registry.k8s.io/pause:3.10', volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
      volumes: [{ name: 'data', persistentVolumeClaim: { claimName: pvc } }],
    },
  };
  try {
    await cluster.core.createNamespacedPod({ namespace, body: pod });
  } catch (err) {
    if (statusOf(err) !== 409) throw classifyKubeError(err, cluster.context, 'create', `pods in namespace ${namespace}`);
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const claim = await cluster.core.readNamespacedPersistentVolumeClaim({ name: pvc, namespace });
    if (claim.status?.phase === 'Bound' && claim.spec?.volumeName) {
      const pv = await cluster.core.readPersistentVolume({ name: claim.spec.volumeName });
      const hostPath = pv.spec?.hostPath?.path ?? pv.spec?.local?.path;
      const node =
        pv.spec?.nodeAffinity?.required?.nodeSelectorTerms?.[0]?.matchExpressions?.find((e) => e.key === 'kubernetes.io/hostname')?.values?.[0] ??
        (await cluster.core.readNamespacedPod({ name, namespace })).spec?.nodeName;
      if (!hostPath || !node) {
        throw new PreflightFailedError(`PVC ${namespace}/${pvc} bound to PV ${pv.metadata?.name}, which is not a hostPath/local volume with a node; node agents cannot reach it`);
      }
      return { node, hostPath, pvName: pv.metadata!.name! };
    }
    if (Date.now() > deadline) throw new PreflightFailedError(`PVC ${namespace}/${pvc} did not bind within ${timeoutMs / 1000}s on ${cluster.context}; check its storage class's provisioner`);
    Context.current().heartbeat();
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Deletes a run's helper pods and waits until they are gone, so the claims are free again. */
export async function removeHelpers(cluster: Cluster, owner: string, namespaces: string[]): Promise<number> {
  let removed = 0;
  const selector = `${HELPER_LABEL}=${owner}`;
  for (const namespace of namespaces) {
    const pods = await cluster.core.listNamespacedPod({ namespace, labelSelector: selector }).catch(() => ({ items: [] as k8s.V1Pod[] }));
    for (const p of pods.items) {
      await cluster.core.deleteNamespacedPod({ name: p.metadata!.name!, namespace, gracePeriodSeconds: 0 }).catch((err) => {
        if (statusOf(err) !== 404) throw err;
      });
      removed++;
    }
    const deadline = Date.now() + 60_000;
    while ((await cluster.core.listNamespacedPod({ namespace, labelSelector: selector })).items.length && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  return removed;
}
