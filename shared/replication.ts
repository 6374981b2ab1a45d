/**
 * Replication vocabulary shared by the replicate workflow, its activities and drctl. Pure: no
 * Node imports, so the workflow bundle may include it.
 */

/** One replication loop per plan and standby site: starting it again finds the running one. */
export const replicateWorkflowId = (planName: string, site: string): string => `replicate/${planName}/${site}`;

/** Where the loop is: taking a point, shipping it, waiting for the next interval, or paused. */
export type ReplicatePhase = 'Starting' | 'Fence' | 'Backup' | 'Ship' | 'Hydrate' | 'Waiting' | 'Paused';

/**
 * How the achieved RPO compares with the plan's target. Warning at 2x and critical at 3x the
 * target, as Ramen alerts on its replication lag; `over-target` in between.
 */
export type RpoHealth = 'no-point-yet' | 'ok' | 'over-target' | 'warning' | 'critical';

export function rpoHealth(achievedMs: number | undefined, targetMs: number): RpoHealth {
  if (achievedMs === undefined) return 'no-point-yet';
  if (achievedMs >= 3 * targetMs) return 'critical';
  if (achievedMs >= 2 * targetMs) return 'warning';
  if (achievedMs > targetMs) return 'over-target';
  return 'ok';
}

/** The newest point complete at the standby. */
export interface ShippedPoint {
  pointId: string;
  /** When its backup started: every write committed before it is in the point. */
  capturedAt: string;
  /** When its catalog landed at the standby. */
  shippedAt: string;
  bytesShipped: number;
}

export interface ReplicateError {
  at: string;
  /** `Starting` (the standby store could not be read), `Backup` or `Ship`. */
  phase: string;
  message: string;
  pointId?: string;
}

export interface ReplicateCycle {
  pointId?: string;
  startedAt: string;
  durationMs: number;
  ok: boolean;
  bytesShipped: number;
  /** Bytes the backup uploaded to the primary store. */
  bytesBackedUp: number;
}

/** Everything the loop carries across continue-as-new: small, counts and ids only. */
export interface ReplicateState {
  /** When the first run of this loop started. */
  startedAt: string;
  intervalMs: number;
  paused: boolean;
  cycles: number;
  pointsShipped: number;
  bytesShipped: number;
  failures: number;
  consecutiveFailures: number;
  /** Start of the last cycle (the next is due one interval later); absent before the first. */
  lastCycleStartedAt?: string;
  newest?: ShippedPoint;
  lastError?: ReplicateError;
  lastCycle?: ReplicateCycle;
  /** Runs of the workflow id so far (1 + continue-as-new count). */
  runs: number;
  /** The last check that the standby (a former primary) is fenced; only on loops a failover started. */
  standbyFence?: StandbyFence;
  /** Warm standbys: the last pre-staging of the standby cluster. */
  lastHydration?: Hydration;
}

export interface Hydration {
  pointId: string;
  at: string;
  ok: boolean;
  durationMs: number;
  objects?: number;
  /** Files written because they changed since the last hydration, and files left as they were. */
  filesWritten?: number;
  filesUnchanged?: number;
  bytesWritten?: number;
  /** Files and directories the point no longer holds, removed from the standby's claims. */
  entriesRemoved?: number;
  error?: string;
}

export interface StandbyFence {
  at: string;
  ok: boolean;
  detail: string;
}

/** The `status` query's answer. */
export interface ReplicateStatus {
  planName: string;
  site: string;
  phase: ReplicatePhase;
  paused: boolean;
  intervalMs: number;
  targetRpoMs: number;
  /**
   * now − capture time of the newest point complete at the standby, where now is the workflow's
   * clock at `asOf` (it does not advance while the loop sleeps): a caller with a real clock
   * computes the live value from `newest.capturedAt`, as drctl does.
   */
  achievedRpoMs?: number;
  rpoHealth: RpoHealth;
  asOf: string;
  nextCycleAt?: string;
  cycles: number;
  cyclesThisRun: number;
  runs: number;
  pointsShipped: number;
  bytesShipped: number;
  failures: number;
  consecutiveFailures: number;
  newest?: ShippedPoint;
  lastError?: ReplicateError;
  lastCycle?: ReplicateCycle;
  /** The point being taken or shipped now. */
  currentPointId?: string;
  standbyFence?: StandbyFence;
  lastHydration?: Hydration;
}
