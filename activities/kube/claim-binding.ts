import { createHash } from 'node:crypto';
import { Context } from '@temporalio/activity';
import * as k8s from '@kubernetes/client-node';
import { PreflightFailedError } from '../../shared/errors';
import { classifyKubeError, statusOf, type Cluster } from './cluster';
import type { VolumeLocation } from '../../shared/volume-location';
import type { HelperPlacement } from '../../shared/helper-placement';

/** Label on every helper pod; its value names the run that owns it. */
export const HELPER_LABEL = 'temporal-dr.io/helper-of';
/** A valid label value naming a run, e.g. `restore-3f9c…` (ids can be longer than labels allow). */
export const ownerLabel = (kind: 'backup' | 'restore', id: string) => `${kind}-${createHash('sha256').update(id).digest('hex').slice(0, 24)}`;

const helperName = (key: string) => `tdr-helper-${createHash('sha256').update(key).digest('hex').slice(0, 12)}`;

/**
 * Mounts a PVC in a helper pod and tells the node agent where the kubelet exposes it: the pause
 * pod gets the claim bound (a WaitForFirstConsumer class provisions only for a scheduled consumer)
 * and mounted on its node, so the agent reads or writes through that pod's volume directory, for
 * any storage the kubelet can mount. `placement` (restore) gives the helper the scheduling
 * constraints of the workload pod that will mount the claim, so the volume is provisioned where
 * that pod can run. Idempotent: the pod's name derives from the claim and the owner.
 */
export async function bindClaim(cluster: Cluster, namespace: string, pvc: string, owner: string, placement?: HelperPlacement, timeoutMs = 300_000): Promise<VolumeLocation> {
  const name = helperName(`${namespace}/${pvc}/${owner}`);
  const pod: k8s.V1Pod = {
    metadata: { name, namespace, labels: { [HELPER_LABEL]: owner, ...(placement?.labels ?? {}) } },
    spec: {
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 0,
      containers: [{ name: 'pause', image: 'registry.k8s.io/pause:3.10', volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
      volumes: [{ name: 'data', persistentVolumeClaim: { claimName: pvc } }],
      ...(placement?.nodeSelector ? { nodeSelector: placement.nodeSelector } : {}),
      ...(placement?.tolerations ? { tolerations: placement.tolerations as k8s.V1Toleration[] } : {}),
      ...(placement?.affinity ? { affinity: placement.affinity as k8s.V1Affinity } : {}),
      ...(placement?.topologySpreadConstraints ? { topologySpreadConstraints: placement.topologySpreadConstraints as k8s.V1TopologySpreadConstraint[] } : {}),
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
    const helper = await cluster.core.readNamespacedPod({ name, namespace });
    // Running: the kubelet has mounted the claim's volume in the pod's volume directory.
    if (claim.status?.phase === 'Bound' && claim.spec?.volumeName && helper.status?.phase === 'Running' && helper.spec?.nodeName) {
      const pv = await cluster.core.readPersistentVolume({ name: claim.spec.volumeName });
      const hostPath = pv.spec?.hostPath?.path ?? pv.spec?.local?.path;
      return { node: helper.spec.nodeName, podUid: helper.metadata!.uid!, pvName: pv.metadata!.name!, claim: `${namespace}/${pvc}`, ...(hostPath ? { hostPath } : {}) };
    }
    if (helper.status?.phase === 'Failed' || helper.status?.phase === 'Succeeded') {
      throw new PreflightFailedError(`helper pod ${namespace}/${name} mounting PVC ${pvc} ended (${helper.status.phase}: ${helper.status.message ?? helper.status.reason ?? 'no reason'}); check the claim's storage`);
    }
    if (Date.now() > deadline) {
      const unscheduled = helper.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False');
      throw new PreflightFailedError(
        `PVC ${namespace}/${pvc} was not bound and mounted within ${timeoutMs / 1000}s on ${cluster.context}` +
          (unscheduled ? `: its helper pod cannot be scheduled (${unscheduled.message ?? unscheduled.reason})` : `: claim ${claim.status?.phase ?? 'unknown'}, helper pod ${helper.status?.phase ?? 'unknown'}`) +
          `; check the storage class's provisioner and the workload's scheduling constraints`,
      );
    }
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
      Context.current().heartbeat({ namespace, removed });
    }
    const deadline = Date.now() + 60_000;
    while ((await cluster.core.listNamespacedPod({ namespace, labelSelector: selector })).items.length && Date.now() < deadline) {
      Context.current().heartbeat({ namespace, removed, waiting: true });
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  return removed;
}
