/**
 * Failover vocabulary shared by the failover workflow, its activities and drctl, and the pure
 * logic of sites: which cluster and store each site of a plan is, and the plan as seen from
 * another primary (the reverse replication after a failover runs that plan). No Node imports.
 */
import { InvalidInputError } from './errors';
import type { ApprovalGate, Plan, StandbySpec } from './plan';

/** One DR operation per plan at a time: a second failover (or failback) of the plan is refused while one runs. */
export const failoverWorkflowId = (planName: string): string => `failover/${planName}`;

/** Marks what a failover fenced: workloads scaled to zero keep their replicas here, namespaces carry the plan. */
export const FENCED_REPLICAS_ANNOTATION = 'temporal-dr.io/fenced-replicas';
export const FENCED_SUSPEND_ANNOTATION = 'temporal-dr.io/fenced-suspend';
export const FENCED_BY_LABEL = 'temporal-dr.io/fenced-by';

export type FailoverMode = 'planned' | 'unplanned';

/** A site of a plan: the source (spec.source + spec.store) or a standby. */
export interface Site {
  name: string;
  context: string;
  clusterName: string;
  store: StandbySpec['store'];
}

export function sitesOf(plan: Plan): Site[] {
  const { source, store } = plan.spec;
  const { encryption: _key, ...location } = store;
  return [
    { name: source.name, context: source.context, clusterName: source.clusterName ?? source.context, store: location },
    ...(plan.spec.standbys ?? []).map((s) => ({ name: s.name, context: s.context, clusterName: s.clusterName ?? s.context, store: s.store })),
  ];
}

export function siteNamed(plan: Plan, name: string): Site {
  const sites = sitesOf(plan);
  const site = sites.find((s) => s.name === name);
  if (!site) throw new InvalidInputError(`plan ${plan.metadata.name} has no site "${name}"; its sites are ${sites.map((s) => s.name).join(', ')}`);
  return site;
}

/**
 * The plan as run when `primary` is the primary site: its cluster and store become spec.source and
 * spec.store (same key), and every other site, the original source included, becomes a standby.
 * The reverse replication after a failover runs this plan. Identity for the original source.
 */
export function planWithPrimary(plan: Plan, primary: string): Plan {
  if (primary === plan.spec.source.name) return plan;
  const sites = sitesOf(plan);
  const p = siteNamed(plan, primary);
  const { clusterName: _c, ...source } = plan.spec.source;
  return {
    ...plan,
    spec: {
      ...plan.spec,
      source: { ...source, name: p.name, context: p.context, clusterName: p.clusterName },
      store: { ...p.store, encryption: plan.spec.store.encryption },
      standbys: sites.filter((s) => s.name !== primary).map((s) => ({ name: s.name, context: s.context, clusterName: s.clusterName, store: s.store })),
    },
  };
}

/** Where a failover is: named for the runbook step it is in. */
export type FailoverPhase =
  | 'Preflight'
  | 'AwaitingApproval'
  | 'StopReplication'
  | 'Fence'
  | 'FinalPoint'
  | 'PrepareTarget'
  | 'Restore'
  | 'Activate'
  | 'Verify'
  | 'SwitchTraffic'
  | 'StartReverseReplication'
  | 'RevertAfterRejection'
  | 'Done'
  | 'Rejected'
  | 'Failed';

export interface ApprovalRequest {
  gate: ApprovalGate;
  /** Who decides (recorded in the report); required. */
  by: string;
  reason?: string;
}

export interface ApprovalRecord extends ApprovalRequest {
  decision: 'approved' | 'rejected' | 'timed-out-approved' | 'timed-out-rejected';
  at: string;
  waitedMs: number;
}

export interface FailoverStep {
  name: string;
  startedAt: string;
  durationMs: number;
  detail?: string;
}

export interface FailoverStatus {
  failoverId: string;
  planName: string;
  mode: FailoverMode;
  from: string;
  to: string;
  phase: FailoverPhase;
  /** The gate the run waits on, while phase is AwaitingApproval. */
  awaiting?: { gate: ApprovalGate; since: string; timeoutAt: string; question: string };
  steps: FailoverStep[];
  approvals: ApprovalRecord[];
}

export interface FailoverReport extends FailoverStatus {
  outcome: 'completed' | 'rejected';
  startedAt: string;
  finishedAt: string;
  /** The point brought up on the new primary. */
  pointId?: string;
  pointCapturedAt?: string;
  /**
   * The data-loss window: writes committed after the point's capture and before the trigger.
   * Zero for a planned failover (the old primary was fenced before the final point was taken).
   */
  rpoMs?: number;
  /** Trigger to the app Ready on the new primary and traffic switched. */
  rtoMs?: number;
  /** How the old primary was fenced: scaled to zero (and how many workloads), by webhook, or confirmed by a human. */
  fencing?: { how: 'scaled-to-zero' | 'webhook' | 'confirmed-by-human'; workloads?: number; detail?: string };
  trafficSwitched?: string[];
  /** The replication from the new primary to the old one, started at the end. */
  reverseReplication?: string;
  /** Where the report is stored in the new primary's store. */
  reportKey?: string;
  /** What an operator must know: e.g. a rejected gate left the new primary fenced. */
  notes: string[];
}

export const failoverReportKey = (planName: string, failoverId: string): string => `failovers/${planName}/${failoverId}.json`;

/** A failover id that sorts by time: `shop-20261201t180000z-planned`. */
export function newFailoverId(now: Date, planName: string, mode: FailoverMode): string {
  return `${planName}-${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z').toLowerCase()}-${mode}`;
}
