import type { KubeObject } from '../../shared/kube-object';
import { volumeModeFor, type VolumesSpec } from '../../shared/plan';
import { storageClassOf } from '../../shared/storage-class';
import type { VolumeLocation } from '../../shared/volume-location';
import type { VolumeToCopy } from './backup-types';

const HOSTNAME_LABELS = ['kubernetes.io/hostname'];

interface PvSpec {
  hostPath?: { path: string };
  local?: { path: string };
  csi?: { driver: string };
  nodeAffinity?: { required?: { nodeSelectorTerms?: { matchExpressions?: { key: string; operator: string; values?: string[] }[] }[] } };
}

interface PodShape {
  metadata: { uid?: string; namespace?: string; deletionTimestamp?: unknown };
  spec?: { nodeName?: string; volumes?: { persistentVolumeClaim?: { claimName: string } }[] };
  status?: { phase?: string };
}

/** The node a PV is pinned to by its required node affinity, if any. */
function pinnedNode(pv: PvSpec): string | undefined {
  for (const term of pv.nodeAffinity?.required?.nodeSelectorTerms ?? []) {
    for (const e of term.matchExpressions ?? []) {
      if (HOSTNAME_LABELS.includes(e.key) && e.operator === 'In' && e.values?.length === 1) return e.values[0];
    }
  }
  return undefined;
}

/** `namespace/claim` -> a running pod that mounts it: its kubelet volume directory is where the agent reads. */
function runningMounters(pods: KubeObject[]): Map<string, { node: string; uid: string }> {
  const out = new Map<string, { node: string; uid: string }>();
  for (const pod of pods as unknown as PodShape[]) {
    const node = pod.spec?.nodeName;
    if (!node || !pod.metadata.uid || pod.status?.phase !== 'Running' || pod.metadata.deletionTimestamp) continue;
    for (const v of pod.spec?.volumes ?? []) {
      if (v.persistentVolumeClaim) out.set(`${pod.metadata.namespace}/${v.persistentVolumeClaim.claimName}`, { node, uid: pod.metadata.uid });
    }
  }
  return out;
}

/**
 * Every PVC among the captured objects, with its PV, mode and where a node agent reads it: the
 * kubelet volume directory of a running pod that mounts it (any storage the kubelet can mount).
 * A claim no running pod mounts gets a helper pod at copy time. Pure: derives all of it from the
 * manifests discovery captured (PVCs, PVs and pods).
 */
export function volumesToCopy(objects: KubeObject[], pods: KubeObject[], volumes: VolumesSpec): VolumeToCopy[] {
  const pvs = new Map(objects.filter((o) => o.kind === 'PersistentVolume').map((o) => [o.metadata.name, o]));
  const mounters = runningMounters(pods);
  return objects
    .filter((o) => o.kind === 'PersistentVolumeClaim')
    .map((pvc): VolumeToCopy => {
      const spec = pvc.spec as { volumeName?: string; volumeMode?: string; resources?: { requests?: { storage?: string } } };
      const status = pvc.status as { phase?: string } | undefined;
      const namespace = pvc.metadata.namespace!;
      const claim = `${namespace}/${pvc.metadata.name}`;
      const storageClass = storageClassOf(pvc as never);
      const base = {
        namespace,
        pvc: pvc.metadata.name,
        ...(spec.volumeName ? { pvName: spec.volumeName } : {}),
        ...(storageClass ? { storageClass } : {}),
        size: spec.resources?.requests?.storage ?? '0',
      };
      const mode = volumeModeFor(volumes, { namespace, name: pvc.metadata.name, storageClass });
      if (mode === 'skip') return { ...base, mode };
      const pvObject = spec.volumeName ? pvs.get(spec.volumeName) : undefined;
      if (!pvObject || (status?.phase !== undefined && status.phase !== 'Bound')) {
        // Nothing was ever written to a claim that was never bound: capture the object, note it, go on.
        return { ...base, mode, noData: `PVC ${claim} was not bound (${status?.phase ?? 'no volume'}) when the point was taken: it had no data to copy` };
      }
      if (spec.volumeMode === 'Block') {
        return {
          ...base,
          mode,
          problem: `volume ${claim} has volumeMode Block: raw block volumes are not copied by this release; set spec.volumes.byPvc["${claim}"]: skip and protect it with your storage's own replication`,
        };
      }
      const pv = pvObject.spec as PvSpec;
      const hostPath = pv.hostPath?.path ?? pv.local?.path;
      const pod = mounters.get(claim);
      const location: VolumeLocation | undefined = pod
        ? { node: pod.node, podUid: pod.uid, pvName: spec.volumeName!, claim, ...(hostPath ? { hostPath } : {}) }
        : undefined;
      const node = pod?.node ?? pinnedNode(pv);
      return { ...base, mode, ...(node ? { node } : {}), ...(location ? { location } : {}) };
    });
}
