/**
 * DR drill vocabulary and the pure rules of isolation: what a drill restores, where, and how each
 * object is changed so that the restored copy cannot reach or disturb production. No Node imports.
 */
import { InvalidInputError } from './errors';
import { matchesAnyGlob } from './glob';
import { planToStoreRef, standbyStoreRef, type Plan } from './plan';
import type { StoreRef } from './store-ref';

/** Everything a drill creates carries this label with the drill's id; teardown deletes by it and then checks nothing is left. */
export const DRILL_LABEL = 'temporal-dr.io/drill';
export const DRILL_NETWORK_POLICY = 'temporal-dr-drill-deny-egress';

export const drillWorkflowId = (planName: string, drillId: string): string => `drill/${planName}/${drillId}`;
export const drillScheduleId = (planName: string): string => `drill-schedule/${planName}`;
export const drillReportKey = (planName: string, drillId: string): string => `drills/${planName}/${drillId}.json`;
export const drillReportsPrefix = (planName: string): string => `drills/${planName}/`;

/** `shop-20261201t030000z-1a2b`: sorts by time, names the plan, fits a label value. */
export function newDrillId(now: Date, planName: string, suffix: string): string {
  const id = `${planName.slice(0, 30)}-${now.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z').toLowerCase()}-${suffix}`;
  return id.slice(0, 63);
}

/**
 * The drill namespace of each namespace the point holds: `<namespace><suffix>`. Refused when a
 * drill namespace would be a production namespace (one the plan's namespace globs select, or one
 * the point holds), so a drill can never write where the application lives.
 */
export function drillNamespaceMapping(pointNamespaces: string[], suffix: string, productionNamespaces: string[]): Record<string, string> {
  const mapping: Record<string, string> = {};
  const problems: string[] = [];
  for (const ns of pointNamespaces) {
    const to = `${ns}${suffix}`;
    if (to.length > 63) problems.push(`namespace ${ns}: the drill namespace ${to} is longer than 63 characters; use a shorter spec.drill.namespaceSuffix`);
    // A glob of the plan that matches the drill namespace would also put it in the next backups.
    if (matchesAnyGlob(productionNamespaces, to) || pointNamespaces.includes(to)) {
      problems.push(`namespace ${ns}: the drill namespace ${to} is a production namespace of the plan; a drill never restores into production, choose another spec.drill.namespaceSuffix`);
    }
    mapping[ns] = to;
  }
  if (problems.length) throw new InvalidInputError('the drill cannot be isolated', problems);
  return mapping;
}

type Obj = { apiVersion?: string; kind?: string; metadata?: { name?: string; labels?: Record<string, string> }; spec?: Record<string, unknown> };

const ROUTES = new Set(['Ingress', 'HTTPRoute', 'GRPCRoute', 'TLSRoute', 'TCPRoute', 'UDPRoute', 'Gateway']);

/**
 * The object as a drill restores it, or undefined when a drill must not have it: Ingresses and
 * Gateway API routes are dropped (no traffic in), LoadBalancer and NodePort Services become
 * ClusterIP (nothing exposed), CronJobs are suspended (no side effects), and everything is
 * labelled with the drill's id. Pure.
 */
export function isolateForDrill<T extends Obj>(obj: T, drillId: string): T | undefined {
  if (obj.kind && ROUTES.has(obj.kind)) return undefined;
  const labelled: T = { ...obj, metadata: { ...obj.metadata, labels: { ...obj.metadata?.labels, [DRILL_LABEL]: drillId } } };
  if (obj.apiVersion === 'v1' && obj.kind === 'Service') {
    const type = obj.spec?.type;
    if (type === 'LoadBalancer' || type === 'NodePort') {
      const { loadBalancerIP: _ip, loadBalancerSourceRanges: _r, externalTrafficPolicy: _e, healthCheckNodePort: _h, allocateLoadBalancerNodePorts: _a, loadBalancerClass: _c, ...spec } = obj.spec ?? {};
      const ports = ((spec.ports as Record<string, unknown>[] | undefined) ?? []).map(({ nodePort: _n, ...p }) => p);
      return { ...labelled, spec: { ...spec, type: 'ClusterIP', ports } };
    }
  }
  if (obj.apiVersion === 'batch/v1' && obj.kind === 'CronJob') return { ...labelled, spec: { ...obj.spec, suspend: true } };
  return labelled;
}

/** Where a drill restores: the cluster a drill names, else the plan's first standby, else its target, else the source. */
export function drillCluster(plan: Plan, override?: { context: string; clusterName?: string }): { context: string; clusterName: string; site: string } {
  const c = override ?? plan.spec.standbys?.[0] ?? plan.spec.target ?? plan.spec.source;
  /** The site's name when the cluster is one of the plan's sites, else its context. */
  const site = [plan.spec.source, ...(plan.spec.standbys ?? [])].find((s) => s.context === c.context)?.name ?? c.context;
  return { context: c.context, clusterName: c.clusterName ?? c.context, site };
}

/** Where a plan's drills read their point and write their reports: the first standby's store (the copy a disaster would use), else the plan's. */
export function drillStoreRef(plan: Plan): StoreRef {
  const standby = plan.spec.standbys?.[0];
  return standby ? standbyStoreRef(standby) : planToStoreRef(plan);
}

/**
 * A data check of a drill: passes when the drill copy's output equals what the backup recorded
 * for the point. A point that recorded nothing (taken before the check was added) or whose
 * command failed at backup time fails the check, saying so. Pure.
 */
export function compareDataCheck(name: string, pointId: string, recorded: { value?: string; error?: string; pod: { name: string } } | undefined, got: { value?: string; error?: string }): { ok: boolean; output: string } {
  if (!recorded) return { ok: false, output: `point ${pointId} recorded no value for data check ${name} (taken before the check was in spec.drill.dataChecks); the next backup records it` };
  if (recorded.value === undefined) return { ok: false, output: `the backup of point ${pointId} could not record data check ${name}: ${recorded.error ?? 'no output'}` };
  if (got.value === undefined) return { ok: false, output: `expected ${JSON.stringify(recorded.value)} (recorded in ${recorded.pod.name} at backup), the drill copy failed: ${got.error ?? 'no output'}` };
  const same = got.value === recorded.value;
  return { ok: same, output: `${same ? 'matches' : 'differs from'} the backup: expected ${JSON.stringify(recorded.value)} (recorded in ${recorded.pod.name}), got ${JSON.stringify(got.value)}` };
}

/** An HTTP check's verdict on a response. Pure. */
export function judgeHttpResponse(expectStatus: number, bodyContains: string | undefined, r: { status?: number; body?: string; error?: string }): { ok: boolean; output: string } {
  if (r.status === undefined) return { ok: false, output: `no response: ${r.error ?? 'unknown error'}` };
  const problems: string[] = [];
  if (r.status !== expectStatus) problems.push(`status ${r.status}, expected ${expectStatus}`);
  if (bodyContains !== undefined && !(r.body ?? '').includes(bodyContains)) problems.push(`body does not contain ${JSON.stringify(bodyContains)}`);
  const head = `HTTP ${r.status}: ${(r.body ?? '').replace(/\s+/g, ' ').trim().slice(0, 200)}`;
  return { ok: !problems.length, output: problems.length ? `${problems.join('; ')} (${head})` : head };
}

export interface DrillCheckResult {
  name: string;
  kind?: 'exec' | 'data' | 'http';
  /** The pod the check ran in (http: the Service). */
  pod: string;
  ok: boolean;
  output: string;
  durationMs: number;
}

export interface DrillStep {
  name: string;
  startedAt: string;
  durationMs: number;
  ok: boolean;
  detail?: string;
}

export interface DrillReport {
  drillId: string;
  planName: string;
  outcome: 'passed' | 'failed' | 'cancelled';
  /** The failing step or check, when failed. */
  failure?: string;
  cluster: string;
  store: string;
  pointId?: string;
  pointCapturedAt?: string;
  startedAt: string;
  finishedAt: string;
  /** Age of the point used when the drill started. */
  rpoMs?: number;
  /** The restore's start to every workload Ready. */
  rtoMs?: number;
  namespaces: Record<string, string>;
  checks: DrillCheckResult[];
  steps: DrillStep[];
  /** What teardown found still there (a failure when not empty). */
  leftovers: string[];
  /** Started by the plan's drill schedule. */
  scheduled?: boolean;
  /** This failed drill paused the schedule (spec.drill.pauseAfterFailures reached). */
  schedulePaused?: boolean;
}
