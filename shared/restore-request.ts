import type { KeyRef, StoreRef } from './store-ref';
import { planKeyRef, type Plan } from './plan';
import { InvalidInputError } from './errors';
import type { HelperPlacement } from './helper-placement';
import type { TransformRule } from './transform-rules';

/** Everything a restore run needs; small, and free of secrets (the key is named, never passed). */
export interface RestoreRequest {
  /** Unique per run; names the run's objects in the store and the label on what it creates. */
  restoreId: string;
  store: StoreRef;
  /** Environment variable holding the repository key on every worker (requests made before `key`). */
  keyEnv?: string;
  /** Where the repository key comes from; wins over keyEnv. A Secret is read in the target cluster. */
  key?: KeyRef;
  planName: string;
  /** A point id, or `latest`. */
  pointId: string;
  target: { context: string; clusterName: string };
  namespaceMapping?: Record<string, string>;
  storageClassMapping?: Record<string, string>;
  imageRegistry?: { from: string; to: string }[];
  /** Extra transform rules, applied after the plan's own. */
  transforms?: TransformRule[];
  /** Skip the transforms stored in the plan of the recovery point. */
  ignorePlanTransforms?: boolean;
  include?: { namespaces?: string[]; kinds?: string[]; names?: string[] };
  /** Restore only the data of these PVCs (`namespace/name` as in the backup), nothing else. */
  volumesOnly?: string[];
  existingPolicy: 'skip' | 'update' | 'fail';
  dryRun: boolean;
  rollbackOnFailure: boolean;
  /** Commands run in restored pods once they are ready (e.g. a SQL check); any failure fails the run. */
  postRestoreChecks?: { name: string; namespace: string; matchLabels: Record<string, string>; container?: string; command: string[]; timeout?: string }[];
  waitReadyTimeoutMs?: number;
  /**
   * Warm standby: apply everything fenced for this plan (workloads at zero replicas, CronJobs
   * suspended, namespaces labelled; see fenceObject), so nothing runs until a failover activates it.
   */
  fencedFor?: string;
  /** A drill's restore: every object isolated and labelled for this drill (see isolateForDrill). */
  drillId?: string;
  /** Warm standby: also write the data of claims that exist already, making each an exact copy of the point (unchanged files are not rewritten). */
  hydrateVolumes?: boolean;
  /** Heartbeat timeout of planning, apply waves, rollback, helper removal and wait-ready: how fast a dead worker is noticed (default 2 min). */
  heartbeatTimeoutMs?: number;
  agentHeartbeatTimeoutMs?: number;
}

export interface RestoreVolume {
  /** As in the backup. */
  source: { namespace: string; pvc: string };
  /** On the target, after namespace mapping. */
  namespace: string;
  pvc: string;
  manifestKey: string;
  bytes: number;
  /** True when the PVC already existed on the target and the policy kept it. */
  existing: boolean;
  /** Scheduling constraints of the workload that mounts it, for the helper pod that binds it. */
  placement?: HelperPlacement;
}

export interface RestorePlanSummary {
  restoreId: string;
  planName: string;
  pointId: string;
  objects: number;
  existing: number;
  waves: { phase: string; objects: number; waitUntilEstablished?: boolean; restoresVolumeData?: boolean }[];
  volumes: RestoreVolume[];
  namespaces: string[];
  dropped: number;
  problems: string[];
  /** Store key of the human-readable plan (every object, its transforms, whether it exists). */
  reportKey: string;
}

export const RESTORE_LABEL = 'temporal-dr.io/restore';
export const RESTORE_FIELD_MANAGER = 'temporal-dr';
export const restorePrefix = (restoreId: string) => `restores/${restoreId}/`;
export const restorePlanKey = (restoreId: string) => `${restorePrefix(restoreId)}plan`;
export const restorePlanReportKey = (restoreId: string) => `${restorePrefix(restoreId)}plan-report.json`;
export const restoreWaveResultKey = (restoreId: string, wave: number) => `${restorePrefix(restoreId)}waves/${String(wave).padStart(3, '0')}.json`;

/** A restore id that sorts by time and names the plan it restores, e.g. `shop-20261122t023000z`. */
export function newRestoreId(now: Date, planName: string, suffix: string): string {
  return `${planName}-${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z').toLowerCase()}-${suffix}`;
}

/**
 * Objects the target is expected to have already, so finding one is not a conflict: cluster-scoped
 * objects shared by everything on the cluster (storage classes, cluster roles, CRDs), and the
 * `default` ServiceAccount that the cluster creates in every new namespace.
 */
export function expectedOnTarget(obj: { kind: string; metadata: { name: string; namespace?: string } }): boolean {
  return !obj.metadata.namespace || (obj.kind === 'ServiceAccount' && obj.metadata.name === 'default');
}

/** The key a restore opens the store with. */
export function restoreKeyRef(req: Pick<RestoreRequest, 'key' | 'keyEnv' | 'restoreId'>): KeyRef {
  if (req.key) return req.key;
  if (req.keyEnv) return { env: req.keyEnv };
  throw new InvalidInputError(`restore ${req.restoreId}: no repository key named (key or keyEnv)`);
}

/** A restore request's key fields for a plan restored into `targetContext` (where a Secret key is read). */
export function restoreKeyOf(plan: Plan, targetContext: string): Pick<RestoreRequest, 'key' | 'keyEnv'> {
  const key = planKeyRef(plan, targetContext);
  return 'env' in key && key.env ? { keyEnv: key.env, key } : { key };
}
