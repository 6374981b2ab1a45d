/** Small values the backup workflow and its activities exchange (keys, counts, short lists). */
import type { VolumeMode } from '../../shared/plan';
import type { VolumeLocation } from '../../shared/volume-location';

/** One PVC whose data must be copied, and where its agent finds it. */
export interface VolumeToCopy {
  namespace: string;
  pvc: string;
  pvName?: string;
  storageClass?: string;
  size: string;
  mode: VolumeMode;
  /** Node whose agent serves the PV (the running pod that mounts it, or the PV's node affinity). */
  node?: string;
  /** Where the agent reads the live volume: the kubelet directory of a running pod that mounts it. */
  location?: VolumeLocation;
  /** @deprecated a PV host path, in results recorded by runs of an older release. */
  hostPath?: string;
  /** Why the point holds no data for it although its mode copies (an unbound claim): a warning, not a failure. */
  noData?: string;
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
