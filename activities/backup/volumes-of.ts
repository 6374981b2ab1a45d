import type { KubeObject } from '../../shared/kube-object';
import { volumeModeFor, type VolumesSpec } from '../../shared/plan';
import type { VolumeToCopy } from './backup-types';

const HOSTNAME_LABELS = ['kubernetes.io/hostname'];

interface PvSpec {
  hostPath?: { path: string };
  local?: { path: string };
  csi?: { driver: string };
  storageClassName?: string;
  nodeAffinity?: { required?: { nodeSelectorTerms?: { matchExpressions?: { key: string; operator: string; values?: string[] }[] }[] } };
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

/**
 * Every bound PVC among the captured objects, with its PV, node and mode. Pure: derives all of it
 * from the manifests discovery captured (PVCs, PVs and the pods' node assignments).
 */
export function volumesToCopy(objects: KubeObject[], pods: KubeObject[], volumes: VolumesSpec): VolumeToCopy[] {
  const pvs = new Map(objects.filter((o) => o.kind === 'PersistentVolume').map((o) => [o.metadata.name, o]));
  const podNodeOfClaim = new Map<string, string>();
  for (const pod of pods) {
    const spec = pod.spec as { nodeName?: string; volumes?: { persistentVolumeClaim?: { claimName: string } }[] } | undefined;
    for (const v of spec?.volumes ?? []) {
      if (v.persistentVolumeClaim && spec?.nodeName) podNodeOfClaim.set(`${pod.metadata.namespace}/${v.persistentVolumeClaim.claimName}`, spec.nodeName);
    }
  }
  return objects
    .filter((o) => o.kind === 'PersistentVolumeClaim')
    .map((pvc): VolumeToCopy => {
      const spec = pvc.spec as { volumeName?: string; storageClassName?: string; resources?: { requests?: { storage?: string } } };
      const namespace = pvc.metadata.namespace!;
      const base = {
        namespace,
        pvc: pvc.metadata.name,
        pvName: spec.volumeName,
        storageClass: spec.storageClassName,
        size: spec.resources?.requests?.storage ?? '0',
      };
      const mode = volumeModeFor(volumes, { namespace, name: pvc.metadata.name, storageClass: spec.storageClassName });
      if (mode === 'skip') return { ...base, mode };
      const pv = spec.volumeName ? (pvs.get(spec.volumeName)?.spec as PvSpec | undefined) : undefined;
      if (!pv) return { ...base, mode, problem: `PVC ${namespace}/${pvc.metadata.name} is not bound to a PersistentVolume yet` };
      const hostPath = pv.hostPath?.path ?? pv.local?.path;
      const node = pinnedNode(pv) ?? podNodeOfClaim.get(`${namespace}/${pvc.metadata.name}`);
      // Snapshot copies read a temporary PVC restored from the snapshot, not the live PV.
      if (mode === 'snapshot-then-copy') return { ...base, mode, ...(node ? { node } : {}), ...(hostPath ? { hostPath } : {}) };
      if (!hostPath) {
        return { ...base, mode, problem: `volume ${namespace}/${pvc.metadata.name}: PV ${spec.volumeName} is not a hostPath/local volume, so node agents cannot read it; set spec.volumes.byPvc["${namespace}/${pvc.metadata.name}"]: skip` };
      }
      if (!node) return { ...base, mode, hostPath, problem: `volume ${namespace}/${pvc.metadata.name}: no node found for PV ${spec.volumeName} (no node affinity and no running pod mounts it)` };
      return { ...base, mode, node, hostPath };
    });
}
