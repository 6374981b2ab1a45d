import type { RestoreRequest } from '../../shared/restore-request';
import { connectCluster } from '../kube/cluster';
import { bindClaim, ownerLabel, removeHelpers, type BoundClaim } from '../kube/claim-binding';

/** Binds a restored PVC so its data is written before any workload mounts it. */
export const bindVolumeForRestore = (req: RestoreRequest, namespace: string, pvc: string): Promise<BoundClaim> =>
  bindClaim(connectCluster(req.target.context), namespace, pvc, ownerLabel('restore', req.restoreId));

/** Removes the run's helper pods, so workloads get the volumes. */
export const removeRestoreHelpers = (req: RestoreRequest, namespaces: string[]): Promise<number> =>
  removeHelpers(connectCluster(req.target.context), ownerLabel('restore', req.restoreId), namespaces);
