/**
 * Where drctl's commands get their plan: a plan file, or (with the global `-n/--namespace`) a
 * DRPlan resource of that name in that namespace, on the cluster of the kubeconfig's current
 * context (or `--context`). A resource becomes a Plan exactly as the controller makes it one
 * (planOfResource), so a command and the controller never disagree on what a DRPlan means.
 * Also the resource side of `drctl plan apply/list/get`.
 */
import { readFileSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import YAML from 'yaml';
import { DR_API_GROUP, DR_API_VERSION } from '../shared/custom-resources';
import { InvalidInputError, NotFoundError, PermissionDeniedError, type DrError } from '../shared/errors';
import type { Plan } from '../shared/plan';
import { classifyKubeError, connectCluster, loadKubeConfig, statusOf } from '../activities/kube/cluster';
import { planOfResource, type DRPlanResource, type PlanSpec } from '../worker/controller/plans';
import { loadPlanFile } from './commands/plan';

export const DRPLAN_API_VERSION = `${DR_API_GROUP}/${DR_API_VERSION}`;
export const DRCTL_FIELD_MANAGER = 'drctl';
const PLURAL = 'drplans';

/** Set once from the global flags (drctl.ts preAction): where `<plan>` arguments are read from. */
export interface PlanSourceOptions {
  namespace?: string;
  context?: string;
}
let source: PlanSourceOptions = {};
export function setPlanSource(opts: PlanSourceOptions): void {
  source = { ...opts };
}
export function planSource(): PlanSourceOptions {
  return source;
}

/**
 * The plan a command's `<plan>` argument (or `--plan`) names: a plan file, or with `-n <namespace>`
 * the DRPlan of that name in that namespace.
 */
export async function loadPlan(arg: string, opts: PlanSourceOptions = source): Promise<Plan> {
  if (!opts.namespace) return loadPlanFile(arg);
  if (/\.ya?ml$|\//.test(arg)) {
    throw new InvalidInputError(`with -n/--namespace, <plan> is the name of a DRPlan in namespace ${opts.namespace}, not a file ("${arg}"); drop -n to read a file`);
  }
  const cluster = clusterOf(opts.context);
  const obj = await getDRPlan(cluster, arg, opts.namespace);
  if (!obj) {
    throw new NotFoundError(
      `cluster ${cluster.context}: DRPlan ${arg} not found in namespace ${opts.namespace}; \`drctl plan list -n ${opts.namespace}\` lists them, \`drctl plan apply <file> -n ${opts.namespace}\` makes one`,
    );
  }
  return planOfDRPlan(obj);
}

/** The Plan of a DRPlan read from a cluster, or InvalidInputError naming the resource and every issue (as its Protected condition would). */
export function planOfDRPlan(obj: Pick<DRPlanResource, 'metadata' | 'spec'>): Plan {
  const check = planOfResource(obj);
  if (!check.ok) throw new InvalidInputError(`DRPlan ${obj.metadata.namespace}/${obj.metadata.name}: ${check.reason === 'InvalidSpec' ? 'the plan is invalid' : 'it reaches outside its namespace'}`, check.issues);
  return check.plan;
}

/** The kubeconfig context drctl reads and writes DRPlans on: `--context`, else the kubeconfig's current context. */
export function contextOf(context: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (context) return context;
  let current: string;
  try {
    current = loadKubeConfig(env).getCurrentContext();
  } catch (err) {
    throw new InvalidInputError(`cannot read the kubeconfig ${env.TDR_KUBECONFIG ?? env.KUBECONFIG ?? '~/.kube/config'}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}; set --kubeconfig or TDR_KUBECONFIG`);
  }
  if (!current) throw new InvalidInputError('the kubeconfig has no current context; give --context <name>');
  return current;
}

function clusterOf(context: string | undefined) {
  return connectCluster(contextOf(context));
}
type ClusterConn = ReturnType<typeof connectCluster>;

/** True when a 404 means the API has no DRPlan type at all (the CRD is not installed), not a missing object. */
export function isMissingCrd(err: unknown): boolean {
  if (statusOf(err) !== 404) return false;
  const body = (err as { body?: unknown }).body;
  let parsed: { details?: { name?: string }; message?: string } | undefined;
  try {
    parsed = typeof body === 'string' ? JSON.parse(body) : (body as typeof parsed);
  } catch {
    parsed = undefined;
  }
  if (parsed?.details?.name) return false;
  return !parsed || /could not find the requested resource|404 page not found/i.test(parsed.message ?? String(body ?? ''));
}

/** The client-node failure in drctl's words: the CRD missing, forbidden (with namespace and verb), or classifyKubeError's. */
export function kubeFailure(err: unknown, context: string, verb: string, namespace: string, name?: string): Error {
  if (isMissingCrd(err)) {
    return new NotFoundError(
      `cluster ${context}: the DRPlan custom resource (${PLURAL}.${DR_API_GROUP}) is not installed; install the temporal-dr Helm chart ` +
        '(deploy/helm/temporal-dr) or its CRDs: kubectl apply -f deploy/helm/temporal-dr/crds/',
    );
  }
  const what = name ? `DRPlan ${name} in namespace ${namespace}` : `DRPlans in namespace ${namespace}`;
  if (statusOf(err) === 403) {
    return new PermissionDeniedError(
      `cluster ${context}: forbidden to ${verb} ${what}; grant the "${verb}" verb on ${PLURAL}.${DR_API_GROUP} in namespace ${namespace} ` +
        '(the chart\'s temporal-dr-plan-editor / viewer roles) to the identity of context ' + context,
    );
  }
  return classifyKubeError(err, context, verb, what) as DrError;
}

async function getDRPlan(cluster: ClusterConn, name: string, namespace: string): Promise<DRPlanResource | undefined> {
  try {
    return (await cluster.custom.getNamespacedCustomObject({ group: DR_API_GROUP, version: DR_API_VERSION, namespace, plural: PLURAL, name })) as DRPlanResource;
  } catch (err) {
    if (statusOf(err) === 404 && !isMissingCrd(err)) return undefined;
    throw kubeFailure(err, cluster.context, 'get', namespace, name);
  }
}

/** The DRPlan resource `drctl plan apply` sends for a plan file: the file's name and spec, as written (no defaults filled in). */
export function drPlanOfFile(rawText: string, name: string, namespace: string): DRPlanResource {
  const doc = YAML.parse(rawText) as { spec: PlanSpec };
  return { apiVersion: DRPLAN_API_VERSION, kind: 'DRPlan', metadata: { name, namespace, uid: '' }, spec: doc.spec };
}

export type ApplyOutcome = 'created' | 'configured' | 'unchanged';

/**
 * `drctl plan apply`: validates the file as `plan validate` does, refuses what the controller would
 * refuse (a plan reaching outside the namespace), then server-side applies it as field manager drctl.
 */
export async function applyPlanFile(file: string, namespace: string, context?: string): Promise<{ outcome: ApplyOutcome; context: string; plan: Plan; resource: DRPlanResource }> {
  const plan = loadPlanFile(file);
  const resource = drPlanOfFile(readFileSync(file, 'utf8'), plan.metadata.name, namespace);
  const check = planOfResource(resource);
  if (!check.ok) throw new InvalidInputError(`${file}: as DRPlan ${namespace}/${plan.metadata.name}, it reaches outside its namespace`, check.issues);
  const cluster = clusterOf(context);
  const before = await getDRPlan(cluster, plan.metadata.name, namespace);
  let after: DRPlanResource;
  try {
    const { uid: _uid, ...metadata } = resource.metadata;
    after = (await cluster.objects.patch({ ...resource, metadata } as k8s.KubernetesObject, undefined, undefined, DRCTL_FIELD_MANAGER, false, k8s.PatchStrategy.ServerSideApply)) as DRPlanResource;
  } catch (err) {
    if (statusOf(err) === 409) {
      throw new InvalidInputError(
        `cluster ${cluster.context}: DRPlan ${namespace}/${plan.metadata.name}: another field manager owns fields this file sets (${String((err as Error).message).split('\n')[0]}); ` +
          'change them with the tool that set them, or delete the DRPlan first',
      );
    }
    throw kubeFailure(err, cluster.context, before ? 'patch' : 'create', namespace, plan.metadata.name);
  }
  const outcome: ApplyOutcome = !before ? 'created' : before.metadata.resourceVersion === after.metadata.resourceVersion ? 'unchanged' : 'configured';
  return { outcome, context: cluster.context, plan, resource: after };
}

/** One row of `drctl plan list/get`. */
export interface DRPlanSummary {
  name: string;
  namespace: string;
  protected: { status: string; reason?: string; message?: string };
  lastPoint?: { id: string; time?: string };
  schedules: string[];
  generation?: number;
  observedGeneration?: number;
}

export function summariseDRPlan(obj: DRPlanResource): DRPlanSummary {
  const c = obj.status?.conditions?.find((x) => x.type === 'Protected');
  return {
    name: obj.metadata.name,
    namespace: obj.metadata.namespace ?? '',
    protected: c ? { status: c.status, ...(c.reason ? { reason: c.reason } : {}), ...(c.message ? { message: c.message } : {}) } : { status: 'Unknown', reason: 'NotReconciled' },
    ...(obj.status?.lastPoint ? { lastPoint: obj.status.lastPoint } : {}),
    schedules: obj.status?.schedules ?? [],
    ...(obj.metadata.generation !== undefined ? { generation: obj.metadata.generation } : {}),
    ...(obj.status?.observedGeneration !== undefined ? { observedGeneration: obj.status.observedGeneration } : {}),
  };
}

/** The table of `drctl plan list`. */
export function formatDRPlanTable(rows: DRPlanSummary[]): string {
  const cells = rows.map((r) => [r.name, r.protected.status, r.protected.reason ?? '', r.lastPoint?.id ?? '-', r.schedules.join(',') || '-']);
  const all = [['NAME', 'PROTECTED', 'REASON', 'LAST POINT', 'SCHEDULES'], ...cells];
  const widths = all[0].map((_, i) => Math.max(...all.map((row) => row[i].length)));
  return all.map((row) => row.map((v, i) => (i === row.length - 1 ? v : v.padEnd(widths[i]))).join('  ')).join('\n');
}

export async function listDRPlans(namespace: string, context?: string): Promise<DRPlanSummary[]> {
  const cluster = clusterOf(context);
  try {
    const r = (await cluster.custom.listNamespacedCustomObject({ group: DR_API_GROUP, version: DR_API_VERSION, namespace, plural: PLURAL })) as { items: DRPlanResource[] };
    return r.items.map(summariseDRPlan).sort((a, b) => a.name.localeCompare(b.name));
  } catch (err) {
    throw kubeFailure(err, cluster.context, 'list', namespace);
  }
}

export async function getDRPlanSummary(name: string, namespace: string, context?: string): Promise<{ summary: DRPlanSummary; resource: DRPlanResource }> {
  const cluster = clusterOf(context);
  const obj = await getDRPlan(cluster, name, namespace);
  if (!obj) throw new NotFoundError(`cluster ${cluster.context}: DRPlan ${name} not found in namespace ${namespace}; \`drctl plan list -n ${namespace}\` lists them`);
  return { summary: summariseDRPlan(obj), resource: obj };
}
