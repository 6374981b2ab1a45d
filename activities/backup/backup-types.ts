/** Small values the backup workflow and its activities exchange (keys, counts, short lists). */
import type { VolumeMode } from '../../shared/plan';

/** One PVC whose data must be copied, and where its agent finds it. */
export interface VolumeToCopy {
  namespace: string;
  pvc: string;
  pvName?: string;
  storageClass?: string;
  size: string;
  mode: VolumeMode;
  /** Node whose agent serves the PV (from the PV's node affinity or the pod using it). */
  node?: string;
  /** The PV's directory on that node (hostPath or local volumes). */
  hostPath?: string;
  /** Why the volume cannot be copied, when it cannot. */
  problem?: string;
}

export interface CapturedResources {
  bundleKey: string;
  bundleSha256: string;
  bundleSize: number;
  objects: number;
  followed: number;
  dangling: string[];
  namespaces: string[];
  volumes: VolumeToCopy[];
  /** `namespace/pvc` -> the volume's snapshot in the plan's latest complete point (parent for incremental copies). */
  parents: Record<string, string>;
}
