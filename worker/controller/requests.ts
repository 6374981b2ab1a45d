/**
 * Backup, Restore, Failover and Drill requests, the pure part: who asked (from the annotations the
 * admission policy stamps), what they must be allowed to do, the workflow a request starts (built
 * the way drctl builds it from a plan) and the status that mirrors its run. No I/O.
 */
import { parseDuration } from '../../shared/duration';
import { newDrillId } from '../../shared/drill';
import { newFailoverId, siteNamed } from '../../shared/failover';
import { planToStoreRef, standbySite, type Plan } from '../../shared/plan';
import { restoreKeyOf, type RestoreRequest } from '../../shared/restore-request';
import { DrOperation, DrPlan, DrSite, DrSourceCluster, DrTargetCluster } from '../../shared/search-attributes';
import type { BackupInput, BackupProgress, BackupReport } from '../../workflows/backup';
import type { DrillInput } from '../../workflows/drill';
import type { FailoverInput } from '../../workflows/failover';
import type { RestoreProgress, RestoreReport } from '../../workflows/restore';
import type { DrillReport } from '../../shared/drill';
import type { FailoverReport } from '../../shared/failover';
import {
  CROSS_NAMESPACE_VERB,
  isoTime,
  PLURALS,
  REQUESTED_BY_ANNOTATION,
  REQUESTED_BY_GROUPS_ANNOTATION,
  requestRunId,
  requestWorkflowId,
  temporalUiUrl,
  withTransition,
  type Condition,
  type ObjectMeta,
  type RequestKind,
  type Resource,
} from './model';
import { DR_API_GROUP } from '../../shared/custom-resources';

export type RequestPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Cancelled' | 'Refused';
export const TERMINAL_PHASES: readonly RequestPhase[] = ['Succeeded', 'Failed', 'Cancelled', 'Refused'];

export interface RequestStatus {
  observedGeneration?: number;
  phase?: RequestPhase;
  progress?: string;
  result?: string;
  workflowId?: string;
  runId?: string;
  temporalUiUrl?: string;
  startTime?: string;
  completionTime?: string;
  conditions?: Condition[];
}

export interface RequestSpec {
  planRef: { name: string };
  point?: string;
  targetNamespace?: string;
  storageClassMapping?: Record<string, string>;
  include?: { kinds?: string[]; names?: string[] };
  volumes?: string[];
  existingPolicy?: 'skip' | 'update' | 'fail';
  dryRun?: boolean;
  rollbackOnFailure?: boolean;
  waitReadyTimeout?: string;
  to?: string;
  mode?: 'planned' | 'unplanned';
  site?: string;
}
export type RequestResource = Resource<RequestSpec, RequestStatus>;

export interface Requester {
  user: string;
  groups: string[];
}

/** Who made (or last changed the spec of) a request, as the admission policy recorded it; undefined when it did not. */
export function requesterOf(meta: ObjectMeta): Requester | undefined {
  const user = meta.annotations?.[REQUESTED_BY_ANNOTATION];
  if (!user) return undefined;
  const groups = (meta.annotations?.[REQUESTED_BY_GROUPS_ANNOTATION] ?? '').split(',').filter(Boolean);
  return { user, groups };
}

/** A question for a SubjectAccessReview: may `user` do `verb` on `resource` (in `namespace`, or cluster-wide when absent)? */
export interface AccessQuestion {
  verb: string;
  resource: string;
  namespace?: string;
  /** Why the controller asks, for the refusal message. */
  why: string;
  /** How to grant it, for the refusal message. */
  fix: string;
}

/** Where a Restore's objects go: its own namespace unless it names another. */
export const restoreTargetNamespace = (obj: Pick<RequestResource, 'metadata' | 'spec'>): string => obj.spec.targetNamespace ?? obj.metadata.namespace!;

/**
 * What the requester must be allowed for the controller to act: creating the request in its
 * namespace (RBAC may have changed, or the object been made by someone else's tooling), and for a
 * Restore into another namespace the cluster-wide verb `restore-across-namespaces` on restores
 * (only a ClusterRoleBinding grants a cluster-wide check; the chart's platform-admin role has it).
 */
export function accessQuestions(kind: RequestKind, obj: Pick<RequestResource, 'metadata' | 'spec'>): AccessQuestion[] {
  const ns = obj.metadata.namespace!;
  const plural = PLURALS[kind];
  const questions: AccessQuestion[] = [
    {
      verb: 'create',
      resource: plural,
      namespace: ns,
      why: `create ${plural} in namespace ${ns}`,
      fix: `bind a role allowing it in ${ns} (e.g. kubectl create rolebinding ... --clusterrole=temporal-dr-app-owner -n ${ns})`,
    },
  ];
  if (kind === 'Restore') {
    const target = restoreTargetNamespace(obj);
    if (target !== ns) {
      questions.push({
        verb: CROSS_NAMESPACE_VERB,
        resource: plural,
        why: `restore into namespace ${target}, not the Restore's own namespace ${ns}`,
        fix: `create the Restore in namespace ${target} (as someone allowed to restore there), or have a platform admin do it (the verb ${CROSS_NAMESPACE_VERB} on restores.${DR_API_GROUP}, cluster-wide: temporal-dr-platform-admin with a ClusterRoleBinding)`,
      });
    }
  }
  return questions;
}

/** What a refused request's status says. */
export function refusedStatus(meta: ObjectMeta, previous: RequestStatus | undefined, reason: string, message: string, now: Date): RequestStatus {
  return {
    observedGeneration: meta.generation,
    phase: 'Refused',
    completionTime: now.toISOString(),
    conditions: [withTransition({ type: 'Accepted', status: 'False', reason, message, observedGeneration: meta.generation }, previous?.conditions, now)],
  };
}

export function refusalForMissingRequester(kind: RequestKind): { reason: string; message: string } {
  return {
    reason: 'RequesterUnknown',
    message:
      `the ${kind} carries no ${REQUESTED_BY_ANNOTATION} annotation, so who asked is unknown and nothing is started; ` +
      'install the chart\'s admission policy (temporal-dr-requester, a MutatingAdmissionPolicy that records the requester on create and update), then create the request again',
  };
}

export function refusalForDenied(user: string, q: AccessQuestion, denial?: string): { reason: string; message: string } {
  return {
    reason: 'Forbidden',
    message: `${user} may not ${q.why} (RBAC: ${q.verb} ${q.resource}.${DR_API_GROUP}${q.namespace ? ` in ${q.namespace}` : ' cluster-wide'}${denial ? `: ${denial}` : ''}); ${q.fix}`,
  };
}

/** Where the controller runs: the cluster whose requests it serves, and where restores go. */
export interface ControllerSite {
  /** kubeconfig context of this cluster, as plans and workers name it. */
  context: string;
  /** The cluster name its node agents use. */
  clusterName: string;
  taskQueue: string;
}

export interface WorkflowStart {
  workflowType: 'backup' | 'restore' | 'failover' | 'drill';
  workflowId: string;
  args: [unknown];
  typedSearchAttributes: { key: typeof DrPlan; value: string }[];
  staticSummary: string;
}

/** The workflow a request starts, built as drctl builds it from the plan; an Error whose message names the field when the request cannot run. */
export function workflowStartFor(kind: RequestKind, obj: Pick<RequestResource, 'metadata' | 'spec'>, plan: Plan, site: ControllerSite, requester?: Requester): WorkflowStart {
  const meta = obj.metadata;
  const spec = obj.spec;
  const workflowId = requestWorkflowId(kind, meta);
  const planName = plan.metadata.name;
  const where = `${kind} ${meta.namespace}/${meta.name}`;
  const created = meta.creationTimestamp ? new Date(meta.creationTimestamp) : new Date(0);
  switch (kind) {
    case 'Backup': {
      const input: BackupInput = { plan };
      return {
        workflowType: 'backup',
        workflowId,
        args: [input],
        typedSearchAttributes: [
          { key: DrPlan, value: planName },
          { key: DrOperation, value: 'backup' },
          { key: DrSourceCluster, value: plan.spec.source.clusterName ?? plan.spec.source.context },
        ],
        staticSummary: `Backup of plan ${planName} (${where})`,
      };
    }
    case 'Restore': {
      const ns = meta.namespace!;
      const target = restoreTargetNamespace(obj);
      const waitReadyTimeoutMs = spec.waitReadyTimeout === undefined ? undefined : parseDuration(spec.waitReadyTimeout);
      const req: RestoreRequest = {
        restoreId: requestRunId(meta),
        store: planToStoreRef(plan),
        ...restoreKeyOf(plan, site.context),
        planName,
        pointId: spec.point ?? 'latest',
        target: { context: site.context, clusterName: site.clusterName },
        // The plan protects its own namespace only (planOfResource): its objects go to the target namespace.
        ...(target !== ns ? { namespaceMapping: { [ns]: target } } : {}),
        ...(spec.storageClassMapping ? { storageClassMapping: spec.storageClassMapping } : {}),
        ...(spec.include ? { include: { namespaces: [ns], ...spec.include } } : {}),
        ...(spec.volumes?.length ? { volumesOnly: spec.volumes.map((v) => `${ns}/${v}`) } : {}),
        existingPolicy: spec.existingPolicy ?? 'fail',
        dryRun: spec.dryRun ?? false,
        rollbackOnFailure: spec.rollbackOnFailure ?? false,
        ...(waitReadyTimeoutMs ? { waitReadyTimeoutMs } : {}),
      };
      return {
        workflowType: 'restore',
        workflowId,
        args: [req],
        typedSearchAttributes: [
          { key: DrPlan, value: planName },
          { key: DrOperation, value: req.dryRun ? 'restore-dry-run' : 'restore' },
          { key: DrTargetCluster, value: site.clusterName },
        ],
        staticSummary: `${req.dryRun ? 'Dry run of the restore' : 'Restore'} of ${planName}/${req.pointId} into ${target} (${where})`,
      };
    }
    case 'Failover': {
      const to = siteNamed(plan, spec.to!);
      const from = siteNamed(plan, plan.spec.source.name);
      const mode = spec.mode ?? 'planned';
      const input: FailoverInput = {
        plan,
        failoverId: `${newFailoverId(created, planName, mode)}-${meta.uid.slice(0, 8)}`,
        operation: 'failover',
        mode,
        from: from.name,
        to: to.name,
        ...(requester ? { requestedBy: requester.user } : {}),
      };
      return {
        workflowType: 'failover',
        workflowId,
        args: [input],
        typedSearchAttributes: [
          { key: DrPlan, value: planName },
          { key: DrOperation, value: 'failover' },
          { key: DrSourceCluster, value: from.clusterName },
          { key: DrTargetCluster, value: to.clusterName },
          { key: DrSite, value: to.name },
        ],
        staticSummary: `${mode === 'planned' ? 'Planned' : 'Unplanned'} failover of plan ${planName}: ${from.name} → ${to.name} (${where})`,
      };
    }
    case 'Drill': {
      const standby = spec.site ? standbySite(plan, spec.site) : undefined;
      const input: DrillInput = {
        plan,
        drillId: newDrillId(created, planName, `${meta.uid.slice(0, 8)}-${meta.generation ?? 1}`),
        ...(standby ? { cluster: { context: standby.context, clusterName: standby.clusterName ?? standby.context } } : {}),
      };
      return {
        workflowType: 'drill',
        workflowId,
        args: [input],
        typedSearchAttributes: [
          { key: DrPlan, value: planName },
          { key: DrOperation, value: 'drill' },
        ],
        staticSummary: `DR drill of plan ${planName} (${where})`,
      };
    }
  }
}

/** A run as the controller sees it through Temporal. */
export interface RunView {
  workflowId: string;
  runId: string;
  status: 'RUNNING' | 'COMPLETED' | 'FAILED' | 'CANCELLED' | 'TERMINATED' | 'TIMED_OUT' | 'CONTINUED_AS_NEW' | 'UNKNOWN' | 'UNSPECIFIED' | string;
  startTime?: Date;
  closeTime?: Date;
  /** The answer of the workflow's progress (backup, restore) or status (failover, drill) query. */
  progress?: unknown;
  /** The result of a completed run. */
  result?: unknown;
  /** The innermost message of a failed run. */
  failure?: string;
}

const bytes = (n: number) => (n >= 1 << 30 ? `${(n / (1 << 30)).toFixed(1)} GiB` : n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${Math.round(n / 1024)} KiB`);

/** One line of progress from a workflow's query answer. */
export function progressText(kind: RequestKind, p: unknown): string | undefined {
  if (!p || typeof p !== 'object') return undefined;
  switch (kind) {
    case 'Backup': {
      const b = p as BackupProgress;
      return `${b.phase}: ${b.resources} objects, volumes ${b.volumesDone}/${b.volumesTotal}, ${bytes(b.bytesCopied ?? 0)} copied`;
    }
    case 'Restore': {
      const r = p as RestoreProgress;
      return `${r.phase}: objects ${r.objectsApplied}/${r.objectsTotal}, volumes ${r.volumesDone}/${r.volumesTotal}, ${bytes(r.bytesWritten ?? 0)} written`;
    }
    default: {
      const s = p as { phase?: string; steps?: unknown[] };
      return s.phase ? `${s.phase}${Array.isArray(s.steps) ? `, ${s.steps.length} step(s) done` : ''}` : undefined;
    }
  }
}

/** One line of outcome from a completed run's result. */
export function resultText(kind: RequestKind, r: unknown): string | undefined {
  if (!r || typeof r !== 'object') return undefined;
  switch (kind) {
    case 'Backup': {
      const b = r as BackupReport;
      return `point ${b.pointId}: ${b.resources} objects, ${b.volumes?.length ?? 0} volume(s), ${bytes(b.bytes ?? 0)}`;
    }
    case 'Restore': {
      const x = r as RestoreReport;
      if (x.dryRun) return `dry run of ${x.point}: ${x.plan?.objects ?? 0} objects in ${x.plan?.waves?.length ?? 0} waves, nothing changed`;
      return `restored ${x.point}: ${x.created} created, ${x.updated} updated, ${x.skipped} skipped, ${x.volumes?.length ?? 0} volume(s); RTO ${((x.rtoMs ?? 0) / 1000).toFixed(1)} s`;
    }
    case 'Failover': {
      const f = r as FailoverReport & { outcome?: string; rtoMs?: number };
      return `${f.outcome ?? 'done'}${f.rtoMs !== undefined ? `; RTO ${(f.rtoMs / 1000).toFixed(1)} s` : ''}`;
    }
    case 'Drill': {
      const d = r as DrillReport;
      return `${d.outcome}${d.rtoMs !== undefined ? `; RTO ${(d.rtoMs / 1000).toFixed(1)} s` : ''}${d.failure ? `: ${d.failure}` : ''}`;
    }
  }
}

/** The status that mirrors a request's run. */
export function statusFromRun(
  kind: RequestKind,
  meta: ObjectMeta,
  previous: RequestStatus | undefined,
  run: RunView,
  ui: { base?: string; namespace: string },
  now: Date,
): RequestStatus {
  const phase: RequestPhase =
    run.status === 'RUNNING' || run.status === 'CONTINUED_AS_NEW'
      ? 'Running'
      : run.status === 'COMPLETED'
        ? 'Succeeded'
        : run.status === 'CANCELLED'
          ? 'Cancelled'
          : run.status === 'FAILED' || run.status === 'TERMINATED' || run.status === 'TIMED_OUT'
            ? 'Failed'
            : 'Pending';
  const progress = progressText(kind, run.progress) ?? (phase === 'Running' ? previous?.progress : undefined);
  const result =
    phase === 'Succeeded'
      ? resultText(kind, run.result)
      : phase === 'Failed'
        ? `${run.status.toLowerCase().replace('_', ' ')}: ${run.failure ?? 'see the run in the Temporal UI'}`
        : phase === 'Cancelled'
          ? 'cancelled'
          : undefined;
  const done = TERMINAL_PHASES.includes(phase);
  const condition = withTransition(
    {
      type: 'Accepted',
      status: 'True',
      reason: 'WorkflowStarted',
      message: `workflow ${run.workflowId} started`,
      observedGeneration: meta.generation,
    },
    previous?.conditions,
    now,
  );
  const url = temporalUiUrl(ui.base, ui.namespace, run.workflowId, run.runId);
  return {
    observedGeneration: meta.generation,
    phase,
    ...(progress ? { progress } : {}),
    ...(result ? { result } : {}),
    workflowId: run.workflowId,
    runId: run.runId,
    ...(url ? { temporalUiUrl: url } : {}),
    ...(run.startTime ? { startTime: isoTime(run.startTime) } : {}),
    ...(done ? { completionTime: isoTime(run.closeTime ?? now) } : {}),
    conditions: [condition],
  };
}

/** A request whose status already says how its current generation ended needs nothing more. */
export function isSettled(obj: Pick<RequestResource, 'metadata' | 'status'>): boolean {
  return obj.status?.observedGeneration === obj.metadata.generation && !!obj.status?.phase && TERMINAL_PHASES.includes(obj.status.phase);
}

/** The query that reports a kind's progress: `progress` for backups and restores, `status` for failovers and drills. */
export const progressQueryOf = (kind: RequestKind): string => (kind === 'Backup' || kind === 'Restore' ? 'progress' : 'status');
