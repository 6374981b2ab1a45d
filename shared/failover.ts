/**
 * Failover vocabulary shared by the failover workflow, its activities and drctl, and the pure
 * logic of sites: which cluster and store each site of a plan is, and the plan as seen from
 * another primary (the reverse replication after a failover runs that plan). No Node imports.
 */
import { InvalidInputError } from './errors';
import type { ApprovalGate, Plan, StandbySpec } from './plan';

/**
 * The workflow id of a plan's n-th failover or failback: `failover/<plan>/<n>`. Both operations
 * share the sequence, so two starts that race for the same n collide on the id and one is refused
 * (with the visibility check for a running one, this keeps one DR operation per plan at a time).
 */
export const failoverWorkflowId = (planName: string, n: number): string => `failover/${planName}/${n}`;

/** The sequence number in a failover workflow id; 0 for the ids before numbering (`failover/<plan>`) and for other ids. Pure. */
export function failoverSequence(workflowId: string, planName: string): number {
  const prefix = `failover/${planName}/`;
  if (!workflowId.startsWith(prefix)) return 0;
  const n = Number(workflowId.slice(prefix.length));
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}

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
  /** Warm standbys hold the application fenced; the primary site is `cold` as a failback target. */
  standby: StandbySpec['standby'];
}

export function sitesOf(plan: Plan): Site[] {
  const { source, store } = plan.spec;
  const { encryption: _key, ...location } = store;
  return [
    { name: source.name, context: source.context, clusterName: source.clusterName ?? source.context, store: location, standby: 'cold' as const },
    ...(plan.spec.standbys ?? []).map((s) => ({ name: s.name, context: s.context, clusterName: s.clusterName ?? s.context, store: s.store, standby: s.standby })),
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
      standbys: sites.filter((s) => s.name !== primary).map((s) => ({ name: s.name, context: s.context, clusterName: s.clusterName, store: s.store, standby: s.standby })),
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
  /** The spec.failover.verify checks run on the new primary. */
  checks?: { name: string; pod: string; ok: boolean; output: string; durationMs: number }[];
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

type Obj = { apiVersion?: string; kind?: string; metadata?: { name?: string; labels?: Record<string, string>; annotations?: Record<string, string>; ownerReferences?: unknown[] }; spec?: Record<string, unknown> };

/**
 * The object as a warm standby holds it: workloads at zero replicas (the replicas they had kept in
 * FENCED_REPLICAS_ANNOTATION, or the one already there), CronJobs suspended, namespaces labelled
 * as fenced by the plan. What activate (the failover) undoes. Pure; other objects are unchanged.
 */
export function fenceObject<T extends Obj>(obj: T, planName: string): T {
  const kind = obj.kind;
  const annotations = obj.metadata?.annotations ?? {};
  if (kind === 'Namespace') return { ...obj, metadata: { ...obj.metadata, labels: { ...obj.metadata?.labels, [FENCED_BY_LABEL]: planName } } };
  const scalable = obj.apiVersion === 'apps/v1' && (kind === 'Deployment' || kind === 'StatefulSet' || (kind === 'ReplicaSet' && !obj.metadata?.ownerReferences?.length));
  if (scalable) {
    const replicas = (obj.spec?.replicas as number | undefined) ?? 1;
    return {
      ...obj,
      metadata: { ...obj.metadata, annotations: { ...annotations, [FENCED_REPLICAS_ANNOTATION]: annotations[FENCED_REPLICAS_ANNOTATION] ?? String(replicas) } },
      spec: { ...obj.spec, replicas: 0 },
    };
  }
  if (obj.apiVersion === 'batch/v1' && kind === 'CronJob') {
    return {
      ...obj,
      metadata: { ...obj.metadata, annotations: { ...annotations, [FENCED_SUSPEND_ANNOTATION]: annotations[FENCED_SUSPEND_ANNOTATION] ?? String(obj.spec?.suspend ?? false) } },
      spec: { ...obj.spec, suspend: true },
    };
  }
  return obj;
}
