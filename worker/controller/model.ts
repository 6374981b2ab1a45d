/**
 * The controller's vocabulary: the custom resources as it reads them, the names it derives from
 * them (workflow and schedule ids, materialised plans) and the annotations, labels and finalizer it
 * uses. Pure: no I/O.
 */
import { createHash } from 'node:crypto';
import { DR_API_GROUP, DR_API_VERSION } from '../../shared/custom-resources';

export const API_VERSION = `${DR_API_GROUP}/${DR_API_VERSION}`;

export const REQUEST_KINDS = ['Backup', 'Restore', 'Failover', 'Drill'] as const;
export type RequestKind = (typeof REQUEST_KINDS)[number];
export type ResourceKind = 'DRPlan' | 'DRPolicy' | RequestKind;

export const PLURALS: Record<ResourceKind, string> = {
  DRPlan: 'drplans',
  DRPolicy: 'drpolicies',
  Backup: 'backups',
  Restore: 'restores',
  Failover: 'failovers',
  Drill: 'drills',
};

/** Held by every DRPlan until its schedules are deleted (and, with deletionPolicy Delete, its points). */
export const PLAN_FINALIZER = `${DR_API_GROUP}/schedules`;
/** Stamped by the admission policy (templates/controller/admission-policy.yaml) from request.userInfo: never trusted from anywhere else. */
export const REQUESTED_BY_ANNOTATION = `${DR_API_GROUP}/requested-by`;
export const REQUESTED_BY_GROUPS_ANNOTATION = `${DR_API_GROUP}/requested-by-groups`;
/** On plans materialised from a DRPolicy: the policy's name. */
export const POLICY_LABEL = `${DR_API_GROUP}/policy`;
/** The field manager of everything the controller applies. */
export const FIELD_MANAGER = 'temporal-dr-controller';
/**
 * The RBAC verb on `restores` that lets a Restore target another namespace than its own. Checked
 * cluster-wide (a SubjectAccessReview with no namespace), so only a ClusterRoleBinding grants it:
 * the chart gives it to temporal-dr-platform-admin.
 */
export const CROSS_NAMESPACE_VERB = 'restore-across-namespaces';

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string | Date;
  deletionTimestamp?: string | Date;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean; blockOwnerDeletion?: boolean }[];
}

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
  observedGeneration?: number;
}

export interface Resource<Spec = unknown, Status = unknown> {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec: Spec;
  status?: Status;
}

/** `kind/namespace/name`, the key of the controller's work queue. */
export const resourceKey = (kind: ResourceKind, meta: Pick<ObjectMeta, 'name' | 'namespace'>): string => `${kind}/${meta.namespace ?? ''}/${meta.name}`;
export function parseResourceKey(key: string): { kind: ResourceKind; namespace?: string; name: string } {
  const [kind, namespace, name] = key.split('/');
  return { kind: kind as ResourceKind, ...(namespace ? { namespace } : {}), name };
}

/**
 * The workflow a request starts: one per object and generation, so a controller that restarts, or
 * sees the same event twice, finds the run it started instead of starting another. The uid tells
 * apart a request deleted and made again under the same name.
 */
export function requestWorkflowId(kind: RequestKind, meta: ObjectMeta): string {
  return `${kind.toLowerCase()}/${meta.namespace}/${meta.name}/${meta.uid}-${meta.generation ?? 1}`;
}

/** A short, stable, label-safe id of a request's run (restore and drill ids, failover ids). */
export function requestRunId(meta: ObjectMeta): string {
  return `cr-${meta.uid}-${meta.generation ?? 1}`;
}

/** Temporal Schedule ids of a DRPlan resource; the uid keeps a deleted and re-made plan apart. */
export const backupScheduleIdOf = (meta: ObjectMeta): string => `dr-backup/${meta.namespace}/${meta.name}/${meta.uid}`;
export const drillScheduleIdOf = (meta: ObjectMeta): string => `dr-drill/${meta.namespace}/${meta.name}/${meta.uid}`;

/** The DRPlan a policy materialises in a namespace: `<policy>-<namespace>`, a DNS label (hashed when too long). */
export function materialisedPlanName(policy: string, namespace: string): string {
  const name = `${policy}-${namespace}`;
  if (name.length <= 63) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8);
  return `${name.slice(0, 54).replace(/-+$/, '')}-${hash}`;
}

/** Temporal UI page of a run, or undefined without a UI base URL. */
export function temporalUiUrl(base: string | undefined, temporalNamespace: string, workflowId: string, runId?: string): string | undefined {
  if (!base) return undefined;
  const root = `${base.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(temporalNamespace)}/workflows/${encodeURIComponent(workflowId)}`;
  return runId ? `${root}/${encodeURIComponent(runId)}/history` : root;
}

/** A condition with lastTransitionTime kept when its status did not change. */
export function withTransition(next: Omit<Condition, 'lastTransitionTime'>, previous: Condition[] | undefined, now: Date): Condition {
  const prev = previous?.find((c) => c.type === next.type);
  const lastTransitionTime = prev && prev.status === next.status && prev.lastTransitionTime ? prev.lastTransitionTime : now.toISOString();
  return { ...next, lastTransitionTime };
}

export const isoTime = (t: string | Date | undefined): string | undefined => (t === undefined ? undefined : new Date(t).toISOString());
