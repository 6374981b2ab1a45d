import type { RestoreRequest } from '../../shared/restore-request';
import { connectCluster } from '../kube/cluster';
import { bindClaim, ownerLabel, removeHelpers } from '../kube/claim-binding';
import type { HelperPlacement } from '../../shared/helper-placement';
import type { VolumeLocation } from '../../shared/volume-location';

/**
 * Binds and mounts a restored PVC in a helper pod placed as the workload's pod would be, so its
 * data is written through the kubelet's volume directory before any workload mounts it.
 */
export const bindVolumeForRestore = (req: RestoreRequest, namespace: string, pvc: string, placement?: HelperPlacement): Promise<VolumeLocation> =>
  bindClaim(connectCluster(req.target.context), namespace, pvc, ownerLabel('restore', req.restoreId), placement);

/** Removes the run's helper pods, so workloads get the volumes. */
export const removeRestoreHelpers = (req: RestoreRequest, namespaces: string[]): Promise<number> =>
  removeHelpers(connectCluster(req.target.context), ownerLabel('restore', req.restoreId), namespaces);
