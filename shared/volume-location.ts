/**
 * Where a node agent finds a volume's files: the way the kubelet exposes it, through the volume
 * directory of a pod that mounts the claim on that node
 * (`<kubelet root>/pods/<pod uid>/volumes/<plugin>/<pv>`, `.../kubernetes.io~csi/<pv>/mount` for CSI).
 * That works for every filesystem volume a kubelet can mount. The pod is the workload's own
 * (live copy) or a helper pod that mounts a claim restored from a snapshot, or a claim being
 * restored. Pure data: workflows pass it from the orchestrator to the node's agent, which
 * treats it as a claim to check, not an instruction: it reads the pod, claim and PV from the API
 * server and refuses the task unless they agree (activities/volumes/volume-access.ts).
 */
export interface VolumeLocation {
  /** The node whose agent serves the volume: where the pod runs. */
  node: string;
  /** The pod whose kubelet volume directory holds the volume. */
  podUid: string;
  /** The PersistentVolume's name: the kubelet names the pod's volume directory after it. */
  pvName: string;
  /** `namespace/name` of the claim: the pod must mount it and it must be bound to `pvName`. */
  claim: string;
  /**
   * The PV's own directory on the node, for hostPath and local PVs only. hostPath volumes have no
   * kubelet pod directory (the kubelet uses the host path as is); for local PVs it is a shortcut.
   * The agent uses the path in the PV's spec and refuses a task whose path differs from it.
   */
  hostPath?: string;
}

/** The directory, under a pod's `volumes/<plugin>/`, that holds a PV's files for that plugin. */
export const kubeletVolumeSubdir = (plugin: string, pvName: string): string => (plugin === 'kubernetes.io~csi' ? `${pvName}/mount` : pvName);

/** A pod uid as the API server writes it (a UUID): the only form accepted as a path component. */
export const POD_UID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** A PV name (RFC 1123 subdomain): the only form accepted as a path component. */
export const PV_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
