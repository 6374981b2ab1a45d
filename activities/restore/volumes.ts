import { createHash } from 'node:crypto';
import { Context } from '@temporalio/activity';
import * as k8s from '@kubernetes/client-node';
import { PreflightFailedError } from '../../shared/errors';
import { RESTORE_LABEL, type RestoreRequest } from '../../shared/restore-request';
import { connectCluster, classifyKubeError, statusOf } from '../kube/cluster';

const HELPER_LABEL = 'temporal-dr.io/restore-helper';
const helperName = (pvc: string) => `tdr-restore-${createHash('sha256').update(pvc).digest('hex').slice(0, 10)}`;

/**
 * Makes a restored PVC bind so its data can be written before any workload mounts it: a pause pod
 * mounts the claim (a WaitForFirstConsumer class provisions only for a scheduled consumer), then
 * the PV's node and directory are read back for the node agent. Idempotent.
 */
export async function bindVolumeForRestore(req: RestoreRequest, namespace: string, pvc: string, timeoutMs = 300_000): Promise<{ node: string; hostPath: string; pvName: string }> {
  const cluster = connectCluster(req.target.context);
  const name = helperName(`${namespace}/${pvc}`);
  const pod: k8s.V1Pod = {
    metadata: { name, namespace, labels: { [HELPER_LABEL]: 'true', [RESTORE_LABEL]: req.restoreId } },
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
    if (statusOf(err) !== 409) throw classifyKubeError(err, req.target.context, 'create', `pods in namespace ${namespace}`);
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const claim = await cluster.core.readNamespacedPersistentVolumeClaim({ name: pvc, namespace });
    if (claim.status?.phase === 'Bound' && claim.spec?.volumeName) {
      const pv = await cluster.core.readPersistentVolume({ name: claim.spec.volumeName });
      const hostPath = pv.spec?.hostPath?.path ?? pv.spec?.local?.path;
      const node = pv.spec?.nodeAffinity?.required?.nodeSelectorTerms?.[0]?.matchExpressions?.find((e) => e.key === 'kubernetes.io/hostname')?.values?.[0]
        ?? (await cluster.core.readNamespacedPod({ name, namespace })).spec?.nodeName;
      if (!hostPath || !node) {
        throw new PreflightFailedError(`PVC ${namespace}/${pvc} bound to PV ${pv.metadata?.name}, which is not a hostPath/local volume with a node; node agents cannot write it`);
      }
      return { node, hostPath, pvName: pv.metadata!.name! };
    }
    if (Date.now() > deadline) throw new PreflightFailedError(`PVC ${namespace}/${pvc} did not bind within ${timeoutMs / 1000}s on ${req.target.context}; check its storage class's provisioner`);
    Context.current().heartbeat();
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Removes the run's helper pods and waits until they are gone, so workloads get the volumes. */
export async function removeRestoreHelpers(req: RestoreRequest, namespaces: string[]): Promise<number> {
  const cluster = connectCluster(req.target.context);
  let removed = 0;
  for (const namespace of namespaces) {
    const selector = `${HELPER_LABEL}=true,${RESTORE_LABEL}=${req.restoreId}`;
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
