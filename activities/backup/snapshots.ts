import { createHash } from 'node:crypto';
import { Context } from '@temporalio/activity';
import { PreflightFailedError } from '../../shared/errors';
import { connectCluster, classifyKubeError, statusOf, type Cluster } from '../kube/cluster';
import { bindClaim, ownerLabel, removeHelpers } from '../kube/claim-binding';
import type { VolumeLocation } from '../../shared/volume-location';

const SNAPSHOT_API = 'snapshot.storage.k8s.io/v1';
/** Label on every VolumeSnapshot and temporary PVC a backup creates; its value names the point. */
export const POINT_LABEL = 'temporal-dr.io/point';

interface VolumeSnapshot {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; labels?: Record<string, string> };
  spec: { volumeSnapshotClassName?: string; source: { persistentVolumeClaimName: string } };
  status?: { readyToUse?: boolean; restoreSize?: string; error?: { message?: string } };
}

const shortHash = (s: string) => createHash('sha256').update(s).digest('hex').slice(0, 16);
export const snapshotName = (pointId: string, attempt: number, namespace: string, pvc: string) => `tdr-${shortHash(`${pointId}/${attempt}/${namespace}/${pvc}`)}`;

async function readSnapshot(cluster: Cluster, namespace: string, name: string): Promise<VolumeSnapshot> {
  return (await cluster.objects.read({ apiVersion: SNAPSHOT_API, kind: 'VolumeSnapshot', metadata: { name, namespace } })) as unknown as VolumeSnapshot;
}

/**
 * Cuts a VolumeSnapshot of every volume at once (one consistency group while the application is
 * quiesced) and waits until all are ready to use. Idempotent: names derive from point and attempt.
 */
export async function snapshotVolumes(
  context: string,
  pointId: string,
  attempt: number,
  volumes: { namespace: string; pvc: string }[],
  snapshotClass: string | undefined,
  timeoutMs = 600_000,
): Promise<{ namespace: string; pvc: string; snapshot: string; restoreSize?: string }[]> {
  const cluster = connectCluster(context);
  const owner = ownerLabel('backup', pointId);
  const made = volumes.map((v) => ({ ...v, snapshot: snapshotName(pointId, attempt, v.namespace, v.pvc) }));
  for (const v of made) {
    const body: VolumeSnapshot = {
      apiVersion: SNAPSHOT_API,
      kind: 'VolumeSnapshot',
      metadata: { name: v.snapshot, namespace: v.namespace, labels: { [POINT_LABEL]: owner } },
      spec: { ...(snapshotClass ? { volumeSnapshotClassName: snapshotClass } : {}), source: { persistentVolumeClaimName: v.pvc } },
    };
    try {
      await cluster.objects.create(body as never);
    } catch (err) {
      if (statusOf(err) === 404) {
        throw new PreflightFailedError(`cluster ${context} does not serve ${SNAPSHOT_API} VolumeSnapshots; install the CSI snapshot CRDs and controller, or use volume mode copy`);
      }
      if (statusOf(err) !== 409) throw classifyKubeError(err, context, 'create', `volumesnapshots.snapshot.storage.k8s.io in namespace ${v.namespace}`);
    }
  }
  const deadline = Date.now() + timeoutMs;
  const out: { namespace: string; pvc: string; snapshot: string; restoreSize?: string }[] = [];
  for (const v of made) {
    for (;;) {
      const s = await readSnapshot(cluster, v.namespace, v.snapshot);
      if (s.status?.error?.message) throw new PreflightFailedError(`VolumeSnapshot ${v.namespace}/${v.snapshot} of PVC ${v.pvc} failed: ${s.status.error.message}`);
      if (s.status?.readyToUse) {
        out.push({ ...v, ...(s.status.restoreSize ? { restoreSize: s.status.restoreSize } : {}) });
        break;
      }
      if (Date.now() > deadline) throw new PreflightFailedError(`VolumeSnapshot ${v.namespace}/${v.snapshot} of PVC ${v.pvc} was not ready within ${timeoutMs / 1000}s; check the snapshot controller and CSI driver`);
      Context.current().heartbeat();
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  return out;
}

/**
 * Restores a snapshot into a temporary PVC and mounts it in a helper pod, so a node agent can copy
 * the snapshot's files through that pod's volume directory while the application runs on. Works
 * with any CSI driver that snapshots.
 */
export async function mountSnapshot(
  context: string,
  pointId: string,
  snap: { namespace: string; pvc: string; snapshot: string; restoreSize?: string },
  storageClass: string | undefined,
  size: string,
): Promise<VolumeLocation> {
  const cluster = connectCluster(context);
  const owner = ownerLabel('backup', pointId);
  const claim = `${snap.snapshot}-copy`;
  try {
    await cluster.core.createNamespacedPersistentVolumeClaim({
      namespace: snap.namespace,
      body: {
        metadata: { name: claim, namespace: snap.namespace, labels: { [POINT_LABEL]: owner } },
        spec: {
          accessModes: ['ReadWriteOnce'],
          ...(storageClass ? { storageClassName: storageClass } : {}),
          resources: { requests: { storage: snap.restoreSize ?? size } },
          dataSource: { apiGroup: 'snapshot.storage.k8s.io', kind: 'VolumeSnapshot', name: snap.snapshot },
        },
      },
    });
  } catch (err) {
    if (statusOf(err) !== 409) throw classifyKubeError(err, context, 'create', `persistentvolumeclaims in namespace ${snap.namespace}`);
  }
  return bindClaim(cluster, snap.namespace, claim, owner);
}

/**
 * Mounts a claim that no running pod mounts (a workload scaled to zero) in a helper pod, so the
 * node agent can read it through the kubelet. The helper goes with the backup's other temporary objects.
 */
export async function mountClaimForCopy(context: string, pointId: string, namespace: string, pvc: string): Promise<VolumeLocation> {
  return bindClaim(connectCluster(context), namespace, pvc, ownerLabel('backup', pointId));
}

/** Deletes every helper pod, temporary PVC and VolumeSnapshot a backup created, whatever the outcome. */
export async function cleanupSnapshots(context: string, pointId: string, namespaces: string[]): Promise<{ snapshots: number; claims: number }> {
  const cluster = connectCluster(context);
  const owner = ownerLabel('backup', pointId);
  const selector = `${POINT_LABEL}=${owner}`;
  await removeHelpers(cluster, owner, namespaces);
  let snapshots = 0;
  let claims = 0;
  for (const namespace of namespaces) {
    for (const pvc of (await cluster.core.listNamespacedPersistentVolumeClaim({ namespace, labelSelector: selector })).items) {
      await cluster.core.deleteNamespacedPersistentVolumeClaim({ name: pvc.metadata!.name!, namespace }).catch(() => undefined);
      claims++;
    }
    const list = await cluster.custom
      .listNamespacedCustomObject({ group: 'snapshot.storage.k8s.io', version: 'v1', namespace, plural: 'volumesnapshots', labelSelector: selector })
      .catch(() => ({ items: [] as { metadata: { name: string } }[] }));
    for (const s of (list as { items: { metadata: { name: string } }[] }).items) {
      await cluster.custom
        .deleteNamespacedCustomObject({ group: 'snapshot.storage.k8s.io', version: 'v1', namespace, plural: 'volumesnapshots', name: s.metadata.name })
        .catch(() => undefined);
      snapshots++;
    }
  }
  // Finalizers release the snapshots once their contents are gone; wait so nothing outlives the run.
  const deadline = Date.now() + 120_000;
  for (const namespace of namespaces) {
    for (;;) {
      const left =
        ((await cluster.custom
          .listNamespacedCustomObject({ group: 'snapshot.storage.k8s.io', version: 'v1', namespace, plural: 'volumesnapshots', labelSelector: selector })
          .catch(() => ({ items: [] }))) as { items: unknown[] }).items.length +
        (await cluster.core.listNamespacedPersistentVolumeClaim({ namespace, labelSelector: selector })).items.length;
      if (!left || Date.now() > deadline) break;
      Context.current().heartbeat();
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  return { snapshots, claims };
}
