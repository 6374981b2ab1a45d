/**
 * DRPlan and DRPolicy resources, the pure part: the plan a resource stands for (validated by the
 * same schema as drctl's plan files, confined to the resource's namespace), its status, the
 * Temporal Schedules it runs on, and the plans a DRPolicy materialises. No I/O.
 */
import { ScheduleOverlapPolicy } from '@temporalio/client';
import { InvalidInputError } from '../../shared/errors';
import { matchLabelSelector, type LabelSelector } from '../../shared/label-selector';
import { parseDuration } from '../../shared/duration';
import { PLAN_API_VERSION, validatePlan, type Plan, type PlanInput } from '../../shared/plan';
import { DrOperation, DrPlan, DrSourceCluster } from '../../shared/search-attributes';
import type { BackupInput } from '../../workflows/backup';
import type { DrillInput } from '../../workflows/drill';
import {
  API_VERSION,
  backupScheduleIdOf,
  drillScheduleIdOf,
  materialisedPlanName,
  POLICY_LABEL,
  withTransition,
  type Condition,
  type ObjectMeta,
  type Resource,
} from './model';

export type PlanSpec = PlanInput['spec'];
export type DRPlanResource = Resource<PlanSpec, DRPlanStatus>;

export interface DRPlanStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  lastPoint?: { id: string; time?: string };
  schedules?: string[];
}

export type PlanCheck = { ok: true; plan: Plan } | { ok: false; reason: 'InvalidSpec' | 'NamespaceNotAllowed'; message: string; issues: string[] };

/**
 * The plan a DRPlan resource stands for: named after the object, validated with validatePlan, and
 * confined to its own namespace. A namespaced plan protects, hooks into and reads its key from its
 * own namespace only: anyone who may create DRPlans in one namespace must not reach another's data.
 */
export function planOfResource(obj: Pick<DRPlanResource, 'metadata' | 'spec'>, ownContext?: string): PlanCheck {
  let plan: Plan;
  try {
    plan = validatePlan({ apiVersion: PLAN_API_VERSION, kind: 'DRPlan', metadata: { name: obj.metadata.name }, spec: obj.spec });
  } catch (err) {
    if (!(err instanceof InvalidInputError)) throw err;
    const issues = err.issues.length ? err.issues : [err.message];
    return { ok: false, reason: 'InvalidSpec', issues, message: `the plan is invalid: ${issues.join('; ')}` };
  }
  const issues = namespaceIssues(plan, obj.metadata.namespace!);
  // The namespace is this cluster's: a plan backing up the same name on another cluster of the worker's kubeconfig would reach a stranger's data.
  if (ownContext !== undefined && plan.spec.source.context !== ownContext) {
    issues.unshift(`spec.source.context: "${plan.spec.source.context}" is not this cluster; a DRPlan protects the cluster it lives in: set it to ${ownContext}`);
  }
  if (issues.length) {
    return { ok: false, reason: 'NamespaceNotAllowed', issues, message: `a DRPlan reaches only its own namespace ${obj.metadata.namespace}: ${issues.join('; ')}` };
  }
  return { ok: true, plan };
}

/** Every field of a plan that names a namespace, and the ones that name another than `ns`. */
export function namespaceIssues(plan: Plan, ns: string): string[] {
  const issues: string[] = [];
  const other = (at: string, value: string) => issues.push(`${at}: "${value}" is not this DRPlan's namespace; set it to ${ns} (a DRPolicy protects many namespaces)`);
  plan.spec.selector.namespaces.forEach((n, i) => n !== ns && other(`spec.selector.namespaces[${i}]`, n));
  plan.spec.hooks.forEach((h, i) => h.podSelector.namespace !== ns && other(`spec.hooks[${i}].podSelector.namespace`, h.podSelector.namespace));
  const secret = plan.spec.store.encryption.keyFrom.secret;
  if (secret && secret.namespace !== ns) other('spec.store.encryption.keyFrom.secret.namespace', secret.namespace);
  for (const list of ['verify', 'dataChecks'] as const) {
    plan.spec.drill?.[list].forEach((c, i) => c.podSelector.namespace !== ns && other(`spec.drill.${list}[${i}].podSelector.namespace`, c.podSelector.namespace));
  }
  plan.spec.drill?.httpChecks.forEach((c, i) => c.service.namespace !== ns && other(`spec.drill.httpChecks[${i}].service.namespace`, c.service.namespace));
  plan.spec.failover?.verify.forEach((c, i) => c.podSelector.namespace !== ns && other(`spec.failover.verify[${i}].podSelector.namespace`, c.podSelector.namespace));
  return issues;
}

export type KeySecretState = { state: 'not-used' } | { state: 'present' } | { state: 'missing'; namespace: string; name: string; key: string };

export interface PlanStatusInput {
  meta: ObjectMeta;
  previous?: DRPlanStatus;
  check: PlanCheck;
  /** The plan is a DRPolicy's template: validated, never scheduled. */
  templateOf?: string[];
  keySecret: KeySecretState;
  schedules: string[];
  lastPoint?: { id: string; time?: string };
  now: Date;
}

/**
 * The status a DRPlan shows: Protected True when the plan validates, its key Secret exists and its
 * newest point is within the rpo; otherwise False with the reason and the fix.
 */
export function planStatus(input: PlanStatusInput): DRPlanStatus {
  const { meta, check, now } = input;
  const condition = (status: 'True' | 'False', reason: string, message: string) =>
    withTransition({ type: 'Protected', status, reason, message, observedGeneration: meta.generation }, input.previous?.conditions, now);
  let protectedCondition: Condition;
  if (!check.ok) {
    protectedCondition = condition('False', 'InvalidSpec', `${check.message}. Fix the DRPlan (kubectl edit drplan ${meta.name} -n ${meta.namespace}).`);
  } else if (input.keySecret.state === 'missing') {
    const { namespace, name, key } = input.keySecret;
    protectedCondition = condition(
      'False',
      'KeySecretMissing',
      `spec.store.encryption.keyFrom.secret: Secret ${namespace}/${name} (key ${key}) does not exist; create it: ` +
        `kubectl -n ${namespace} create secret generic ${name} --from-literal=${key}="$(drctl key generate)"`,
    );
  } else if (input.templateOf?.length) {
    protectedCondition = condition('False', 'Template', `template of DRPolicy ${input.templateOf.join(', ')}: it protects the namespaces the policy selects, not itself`);
  } else {
    const rpoMs = check.plan.spec.rpo === undefined ? undefined : parseDuration(check.plan.spec.rpo);
    const pointAt = input.lastPoint?.time ? Date.parse(input.lastPoint.time) : undefined;
    const since = pointAt ?? (meta.creationTimestamp ? new Date(meta.creationTimestamp).getTime() : now.getTime());
    if (rpoMs !== undefined && now.getTime() - since > rpoMs) {
      const age = Math.round((now.getTime() - since) / 1000);
      protectedCondition = condition(
        'False',
        'RPOBreached',
        input.lastPoint
          ? `the newest point ${input.lastPoint.id} is ${age} s old, over spec.rpo ${check.plan.spec.rpo}; check the backup schedule's runs in the Temporal UI`
          : `no recovery point yet, ${age} s after the plan was made, over spec.rpo ${check.plan.spec.rpo}; set spec.backup.schedule or create a Backup`,
      );
    } else if (input.schedules.length) {
      protectedCondition = condition('True', 'Scheduled', `backups on schedule ${input.schedules.join(', ')}`);
    } else {
      protectedCondition = condition('True', 'Valid', 'the plan is valid; backups run on demand (no spec.backup.schedule): create a Backup');
    }
  }
  return {
    observedGeneration: meta.generation,
    conditions: [protectedCondition],
    schedules: input.schedules,
    ...(input.lastPoint ? { lastPoint: input.lastPoint } : input.previous?.lastPoint ? { lastPoint: input.previous.lastPoint } : {}),
  };
}

/** What an existing schedule is set to, without the parts the server fills. */
export interface ScheduleSettings {
  scheduleId: string;
  spec: { cronExpressions: string[] };
  action: {
    type: 'startWorkflow';
    workflowType: string;
    taskQueue: string;
    workflowId: string;
    args: unknown[];
    typedSearchAttributes: { key: typeof DrPlan; value: string }[];
  };
  policies: { overlap: ScheduleOverlapPolicy; catchupWindow: number; pauseOnFailure?: boolean };
  state: { note: string };
}

/** The Temporal Schedules a valid DRPlan resource runs on: backups (spec.backup.schedule) and drills (spec.drill.schedule). */
export function planSchedules(meta: ObjectMeta, plan: Plan, taskQueue: string): ScheduleSettings[] {
  const where = `DRPlan ${meta.namespace}/${meta.name}`;
  const out: ScheduleSettings[] = [];
  if (plan.spec.backup?.schedule) {
    const input: BackupInput = { plan };
    out.push({
      scheduleId: backupScheduleIdOf(meta),
      spec: { cronExpressions: [plan.spec.backup.schedule] },
      action: {
        type: 'startWorkflow',
        workflowType: 'backup',
        taskQueue,
        // The schedule appends the scheduled time: backup/<plan>/scheduled-<time>.
        workflowId: `backup/${plan.metadata.name}/scheduled`,
        args: [input],
        typedSearchAttributes: [
          { key: DrPlan, value: plan.metadata.name },
          { key: DrOperation, value: 'backup' },
          { key: DrSourceCluster, value: plan.spec.source.clusterName ?? plan.spec.source.context },
        ],
      },
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: 10 * 60_000 },
      state: { note: `backups of ${where} (${plan.spec.backup.schedule}), kept by the temporal-dr controller` },
    });
  }
  if (plan.spec.drill?.schedule) {
    const pauseAfterFailures = plan.spec.drill.pauseAfterFailures;
    const input: DrillInput = { plan, scheduled: { pauseAfterFailures } };
    out.push({
      scheduleId: drillScheduleIdOf(meta),
      spec: { cronExpressions: [plan.spec.drill.schedule] },
      action: {
        type: 'startWorkflow',
        workflowType: 'drill',
        taskQueue,
        workflowId: `drill/${plan.metadata.name}/scheduled`,
        args: [input],
        typedSearchAttributes: [
          { key: DrPlan, value: plan.metadata.name },
          { key: DrOperation, value: 'drill' },
        ],
      },
      // As `drctl drill schedule`: one failure pauses through the schedule, more through the drill workflow.
      policies: { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: 10 * 60_000, pauseOnFailure: pauseAfterFailures === 1 },
      state: { note: `drills of ${where} (${plan.spec.drill.schedule}), kept by the temporal-dr controller` },
    });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// DRPolicy

export interface DRPolicySpec {
  namespaceSelector: LabelSelector;
  planTemplate: { namespace: string; name: string };
  suspend?: boolean;
}
export type DRPolicyResource = Resource<DRPolicySpec, DRPolicyStatus>;
export interface DRPolicyStatus {
  observedGeneration?: number;
  conditions?: Condition[];
  protectedNamespaces?: string[];
  protectedCount?: number;
}

export interface NamespaceInfo {
  name: string;
  labels?: Record<string, string>;
  terminating?: boolean;
}

/** The namespaces a policy protects, sorted; never the template's own namespace, nor one being deleted. */
export function namespacesOfPolicy(policy: Pick<DRPolicyResource, 'spec'>, namespaces: NamespaceInfo[]): string[] {
  return namespaces
    .filter((n) => !n.terminating && n.name !== policy.spec.planTemplate.namespace && matchLabelSelector(n.labels, policy.spec.namespaceSelector))
    .map((n) => n.name)
    .sort();
}

/**
 * The DRPlan a policy makes in a namespace from its template: the template's spec with every
 * namespace field that names the template's namespace (or selects it) replaced by the namespace,
 * owned by the policy (deleting the policy deletes its plans, whose finalizers delete their
 * schedules).
 */
export function materialisePlan(policy: Pick<DRPolicyResource, 'metadata'>, template: Pick<DRPlanResource, 'metadata' | 'spec'>, namespace: string): DRPlanResource {
  const from = template.metadata.namespace!;
  const spec = structuredClone(template.spec) as PlanSpec & Record<string, unknown>;
  const swap = (n: string) => (n === from ? namespace : n);
  spec.selector = { ...spec.selector, namespaces: [namespace] };
  if (spec.hooks) spec.hooks = spec.hooks.map((h) => ({ ...h, podSelector: { ...h.podSelector, namespace: swap(h.podSelector.namespace) } }));
  const secret = spec.store.encryption.keyFrom.secret;
  if (secret) spec.store = { ...spec.store, encryption: { keyFrom: { ...spec.store.encryption.keyFrom, secret: { ...secret, namespace: swap(secret.namespace) } } } };
  if (spec.drill) {
    spec.drill = {
      ...spec.drill,
      ...(spec.drill.verify ? { verify: spec.drill.verify.map((c) => ({ ...c, podSelector: { ...c.podSelector, namespace: swap(c.podSelector.namespace) } })) } : {}),
      ...(spec.drill.dataChecks ? { dataChecks: spec.drill.dataChecks.map((c) => ({ ...c, podSelector: { ...c.podSelector, namespace: swap(c.podSelector.namespace) } })) } : {}),
      ...(spec.drill.httpChecks ? { httpChecks: spec.drill.httpChecks.map((c) => ({ ...c, service: { ...c.service, namespace: swap(c.service.namespace) } })) } : {}),
    };
  }
  if (spec.failover?.verify) spec.failover = { ...spec.failover, verify: spec.failover.verify.map((c) => ({ ...c, podSelector: { ...c.podSelector, namespace: swap(c.podSelector.namespace) } })) };
  return {
    apiVersion: API_VERSION,
    kind: 'DRPlan',
    metadata: {
      name: materialisedPlanName(policy.metadata.name, namespace),
      namespace,
      uid: '',
      labels: { [POLICY_LABEL]: policy.metadata.name },
      ownerReferences: [{ apiVersion: API_VERSION, kind: 'DRPolicy', name: policy.metadata.name, uid: policy.metadata.uid, controller: true, blockOwnerDeletion: false }],
    },
    spec,
  };
}

/** What a policy's status says: the namespaces it protects, and whether its template is usable. */
export function policyStatus(
  policy: Pick<DRPolicyResource, 'metadata' | 'status'>,
  protectedNamespaces: string[],
  template: { found: boolean; check?: PlanCheck },
  now: Date,
): DRPolicyStatus {
  const ready = (status: 'True' | 'False', reason: string, message: string) =>
    withTransition({ type: 'Ready', status, reason, message, observedGeneration: policy.metadata.generation }, policy.status?.conditions, now);
  const t = `${policy.metadata.name}`;
  const condition = !template.found
    ? ready('False', 'TemplateNotFound', `DRPlan template not found; create it (spec.planTemplate of DRPolicy ${t})`)
    : template.check && !template.check.ok
      ? ready('False', 'InvalidTemplate', `the template DRPlan is invalid: ${template.check.issues.join('; ')}`)
      : ready('True', 'Materialised', `${protectedNamespaces.length} namespace(s) protected`);
  return { observedGeneration: policy.metadata.generation, conditions: [condition], protectedNamespaces, protectedCount: protectedNamespaces.length };
}
