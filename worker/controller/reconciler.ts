/**
 * The controller's loop: a work queue of `kind/namespace/name` keys fed by the informers, and one
 * reconcile function per kind that brings Temporal (workflows, Schedules) and the resource's
 * status in line with the resource. Every step is idempotent, so a key reconciled twice, or a
 * controller killed anywhere and started again, converges to the same state: workflow ids and
 * schedule ids are derived from the objects, never remembered.
 */
import { InvalidInputError } from '../../shared/errors';
import {
  backupScheduleIdOf,
  drillScheduleIdOf,
  parseResourceKey,
  PLAN_FINALIZER,
  POLICY_LABEL,
  REQUEST_KINDS,
  requestWorkflowId,
  resourceKey,
  withTransition,
  type RequestKind,
  type ResourceKind,
} from './model';
import {
  materialisePlan,
  namespacesOfPolicy,
  planOfResource,
  planSchedules,
  planStatus,
  policyStatus,
  type DRPlanResource,
  type DRPolicyResource,
  type KeySecretState,
} from './plans';
import {
  accessQuestions,
  isSettled,
  progressQueryOf,
  refusalForDenied,
  refusalForMissingRequester,
  refusedStatus,
  requesterOf,
  statusFromRun,
  TERMINAL_PHASES,
  workflowStartFor,
  type ControllerSite,
  type RequestResource,
  type RunView,
} from './requests';
import type { KubeAdapter } from './kube';
import type { TemporalAdapter } from './temporal';
import type { StoreAdapter } from './store';

export interface ControllerOptions {
  kube: KubeAdapter;
  temporal: TemporalAdapter;
  store: StoreAdapter;
  site: ControllerSite;
  ui: { base?: string; namespace: string };
  /** How often plans are looked at again (lastPoint, RPO) without an event (default 30 s). */
  resyncMs?: number;
  /** How often a running request's status is refreshed from its run (default 5 s). */
  progressMs?: number;
  log?: (line: string) => void;
  now?: () => Date;
  /**
   * Test hook (TDR_CONTROLLER_FAULT): `hang-before-start` or `hang-after-start` makes the
   * controller stop right before or right after starting a request's workflow, before any status
   * is written, so a test can SIGKILL it in that window.
   */
  fault?: string;
}

export class Controller {
  private readonly ready: string[] = [];
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private wake?: () => void;
  private stopped = false;
  private readonly log: (line: string) => void;
  private readonly now: () => Date;

  constructor(private readonly o: ControllerOptions) {
    this.log = o.log ?? ((l) => console.log(`controller: ${l}`));
    this.now = o.now ?? (() => new Date());
  }

  /** Queues a key now, or after `delayMs` (a sooner request wins). */
  enqueue(key: string, delayMs = 0): void {
    if (this.stopped) return;
    if (delayMs > 0) {
      if (this.timers.has(key)) return;
      this.timers.set(key, setTimeout(() => {
        this.timers.delete(key);
        this.enqueue(key);
      }, delayMs));
      return;
    }
    const t = this.timers.get(key);
    if (t) {
      clearTimeout(t);
      this.timers.delete(key);
    }
    if (!this.ready.includes(key)) this.ready.push(key);
    this.wake?.();
  }

  /**
   * Status writes of this controller, `key@resourceVersion`: the watch event each one causes is not
   * a change to act on (acting on it would write again: a loop while a run's progress moves).
   */
  private readonly ownWrites = new Set<string>();

  private async writeStatus(kind: ResourceKind, name: string, namespace: string | undefined, status: unknown): Promise<void> {
    const rv = await this.o.kube.patchStatus(kind, name, namespace, status);
    if (rv) {
      if (this.ownWrites.size > 10_000) this.ownWrites.clear();
      this.ownWrites.add(`${resourceKey(kind, { name, namespace })}@${rv}`);
    }
  }

  /** What an informer event means for the queue. */
  onEvent(kind: ResourceKind | 'Namespace', obj: { metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; resourceVersion?: string } }): void {
    const meta = obj.metadata;
    if (!meta?.name) return;
    if (kind !== 'Namespace' && this.ownWrites.delete(`${resourceKey(kind, { name: meta.name, namespace: meta.namespace })}@${meta.resourceVersion}`)) return;
    if (kind === 'Namespace') {
      // A namespace labelled (or unlabelled) may come under a policy: every policy looks again.
      this.enqueuePolicies();
      return;
    }
    this.enqueue(resourceKey(kind, { name: meta.name, namespace: meta.namespace }));
    // A template changed: its policies make their plans again.
    if (kind === 'DRPlan' && !meta.labels?.[POLICY_LABEL]) this.enqueuePolicies();
  }

  private policyNames = new Set<string>();
  private enqueuePolicies(): void {
    this.enqueue('policies/');
  }

  async run(): Promise<void> {
    while (!this.stopped) {
      const key = this.ready.shift();
      if (!key) {
        await new Promise<void>((r) => (this.wake = r));
        this.wake = undefined;
        continue;
      }
      try {
        await this.reconcile(key);
      } catch (err) {
        this.log(`${key}: ${(err as Error).message?.split('\n').join(' ') ?? String(err)} (retrying in 5 s)`);
        this.enqueue(key, 5000);
      }
    }
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.wake?.();
  }

  async reconcile(key: string): Promise<void> {
    if (key === 'policies/') {
      for (const p of await this.o.kube.list<DRPolicyResource>('DRPolicy')) this.policyNames.add(p.metadata.name);
      for (const name of this.policyNames) await this.reconcilePolicy(name);
      return;
    }
    const { kind, namespace, name } = parseResourceKey(key);
    if (kind === 'DRPlan') return this.reconcilePlan(namespace!, name);
    if (kind === 'DRPolicy') return this.reconcilePolicy(name);
    if ((REQUEST_KINDS as readonly string[]).includes(kind)) return this.reconcileRequest(kind as RequestKind, namespace!, name);
  }

  // -------------------------------------------------------------------------------------------
  // DRPlan

  async reconcilePlan(namespace: string, name: string): Promise<void> {
    const { kube, temporal, store } = this.o;
    const obj = await kube.get<DRPlanResource>('DRPlan', name, namespace);
    if (!obj) return;
    const meta = obj.metadata;
    const check = planOfResource(obj, this.o.site.context);
    const finalizers = meta.finalizers ?? [];
    const scheduleIds = [backupScheduleIdOf(meta), drillScheduleIdOf(meta)];

    if (meta.deletionTimestamp) {
      if (!finalizers.includes(PLAN_FINALIZER)) return;
      for (const id of scheduleIds) await temporal.deleteSchedule(id);
      if (check.ok && check.plan.spec.deletionPolicy === 'Delete') {
        const n = await store.deletePoints(check.plan);
        this.log(`DRPlan ${namespace}/${name} deleted with deletionPolicy Delete: removed ${n} point(s) of plan ${check.plan.metadata.name}`);
      }
      await kube.setFinalizers('DRPlan', name, namespace, finalizers.filter((f) => f !== PLAN_FINALIZER), meta.resourceVersion);
      this.log(`DRPlan ${namespace}/${name} deleted: schedules removed`);
      return;
    }
    if (!finalizers.includes(PLAN_FINALIZER)) {
      await kube.setFinalizers('DRPlan', name, namespace, [...finalizers, PLAN_FINALIZER], meta.resourceVersion);
    }

    const policies = await kube.list<DRPolicyResource>('DRPolicy');
    const templateOf = policies.filter((p) => p.spec.planTemplate.namespace === namespace && p.spec.planTemplate.name === name).map((p) => p.metadata.name);
    let schedules: string[] = obj.status?.schedules ?? [];
    let keySecret: KeySecretState = { state: 'not-used' };
    let lastPoint = obj.status?.lastPoint;
    if (templateOf.length) {
      for (const id of scheduleIds) await temporal.deleteSchedule(id);
      schedules = [];
    } else if (check.ok) {
      const plan = check.plan;
      const secret = plan.spec.store.encryption.keyFrom.secret;
      if (secret) keySecret = (await kube.secretExists(secret.namespace, secret.name)) ? { state: 'present' } : { state: 'missing', ...secret };
      // Invalid plans keep the schedules of their last valid spec: a typo must not stop the backups.
      const wanted = planSchedules(meta, plan, this.o.site.taskQueue);
      const changed = obj.status?.observedGeneration !== meta.generation;
      for (const s of wanted) {
        const r = await temporal.ensureSchedule(s, changed);
        if (r !== 'kept') this.log(`DRPlan ${namespace}/${name}: schedule ${s.scheduleId} ${r} (${s.spec.cronExpressions[0]})`);
      }
      for (const id of scheduleIds.filter((i) => !wanted.some((s) => s.scheduleId === i))) await temporal.deleteSchedule(id);
      schedules = wanted.map((s) => s.scheduleId);
      try {
        lastPoint = (await store.lastPoint(plan)) ?? lastPoint;
      } catch (err) {
        this.log(`DRPlan ${namespace}/${name}: cannot read the newest point: ${(err as Error).message}`);
      }
    }
    const status = planStatus({ meta, previous: obj.status, check, templateOf, keySecret, schedules, lastPoint, now: this.now() });
    await this.writeStatus('DRPlan', name, namespace, status);
    this.enqueue(`DRPlan/${namespace}/${name}`, this.o.resyncMs ?? 30_000);
  }

  // -------------------------------------------------------------------------------------------
  // DRPolicy

  async reconcilePolicy(name: string): Promise<void> {
    const { kube } = this.o;
    const policy = await kube.get<DRPolicyResource>('DRPolicy', name);
    const existing = await kube.list<DRPlanResource>('DRPlan', { labelSelector: `${POLICY_LABEL}=${name}` });
    if (!policy) {
      this.policyNames.delete(name);
      for (const p of existing) await kube.deletePlan(p.metadata.name, p.metadata.namespace!);
      return;
    }
    this.policyNames.add(name);
    const { namespace: tns, name: tname } = policy.spec.planTemplate;
    const template = await kube.get<DRPlanResource>('DRPlan', tname, tns);
    const check = template ? planOfResource(template, this.o.site.context) : undefined;
    // A template is checked as a plan; it may name its own namespace or none in particular.
    const usable = template && check && (check.ok || check.reason === 'NamespaceNotAllowed');
    const wanted = namespacesOfPolicy(policy, await kube.namespaces());
    if (policy.spec.suspend) {
      await this.writeStatus('DRPolicy', name, undefined, {
        ...policyStatus(policy, existing.map((p) => p.metadata.namespace!).sort(), { found: !!template, check }, this.now()),
        conditions: [withTransition({ type: 'Ready', status: 'False', reason: 'Suspended', message: 'spec.suspend: no plan is made or removed', observedGeneration: policy.metadata.generation }, policy.status?.conditions, this.now())],
      });
      return;
    }
    if (usable) {
      for (const ns of wanted) {
        const plan = materialisePlan(policy, template, ns);
        const before = existing.find((p) => p.metadata.namespace === ns);
        await kube.applyPlan(plan);
        if (!before) this.log(`DRPolicy ${name}: namespace ${ns} protected by DRPlan ${ns}/${plan.metadata.name}`);
      }
      for (const p of existing.filter((x) => !wanted.includes(x.metadata.namespace!))) {
        await kube.deletePlan(p.metadata.name, p.metadata.namespace!);
        this.log(`DRPolicy ${name}: namespace ${p.metadata.namespace} no longer selected; DRPlan ${p.metadata.name} deleted`);
      }
    }
    const protectedNamespaces = usable ? wanted : existing.map((p) => p.metadata.namespace!).sort();
    await this.writeStatus('DRPolicy', name, undefined, policyStatus(policy, protectedNamespaces, { found: !!template, check: usable ? undefined : check }, this.now()));
  }

  // -------------------------------------------------------------------------------------------
  // Backup, Restore, Failover, Drill

  async reconcileRequest(kind: RequestKind, namespace: string, name: string): Promise<void> {
    const { kube, temporal } = this.o;
    const obj = await kube.get<RequestResource>(kind, name, namespace);
    if (!obj || obj.metadata.deletionTimestamp || isSettled(obj)) return;
    const meta = obj.metadata;
    const key = resourceKey(kind, meta);
    const workflowId = requestWorkflowId(kind, meta);
    const now = this.now();
    const mirror = async (seen?: RunView, runId?: string) => {
      const run = seen ?? (await temporal.run(workflowId, progressQueryOf(kind))) ?? { workflowId, runId: runId ?? '', status: 'RUNNING', startTime: now };
      const status = statusFromRun(kind, meta, obj.status, run, this.o.ui, now);
      await this.writeStatus(kind, name, namespace, status);
      if (!TERMINAL_PHASES.includes(status.phase!)) this.enqueue(key, this.o.progressMs ?? 5000);
      else this.log(`${kind} ${namespace}/${name}: ${status.phase} (${workflowId})${status.result ? `: ${status.result}` : ''}`);
    };
    // Started already (this controller, or one before it that died): mirror that run, never start another.
    const seen = await temporal.run(workflowId, progressQueryOf(kind));
    if (seen) return mirror(seen);

    const refuse = async (reason: string, message: string) => {
      await this.writeStatus(kind, name, namespace, refusedStatus(meta, obj.status, reason, message, now));
      this.log(`${kind} ${namespace}/${name} refused (${reason}): ${message}`);
    };
    const requester = requesterOf(meta);
    if (!requester) {
      const r = refusalForMissingRequester(kind);
      return refuse(r.reason, r.message);
    }
    for (const q of accessQuestions(kind, obj)) {
      const answer = await kube.canI(requester, { verb: q.verb, resource: q.resource, namespace: q.namespace });
      if (!answer.allowed) {
        const r = refusalForDenied(requester.user, q, answer.reason);
        return refuse(r.reason, r.message);
      }
    }
    const planObj = await kube.get<DRPlanResource>('DRPlan', obj.spec.planRef.name, namespace);
    if (!planObj) {
      const message = `spec.planRef.name: no DRPlan ${obj.spec.planRef.name} in namespace ${namespace}; create it (kubectl get drplans -n ${namespace})`;
      await this.writeStatus(kind, name, namespace, {
        observedGeneration: meta.generation,
        phase: 'Pending',
        conditions: [withTransition({ type: 'Accepted', status: 'False', reason: 'PlanNotFound', message, observedGeneration: meta.generation }, obj.status?.conditions, now)],
      });
      this.enqueue(key, this.o.resyncMs ?? 30_000);
      return;
    }
    const check = planOfResource(planObj, this.o.site.context);
    if (!check.ok) return refuse('InvalidPlan', `DRPlan ${namespace}/${planObj.metadata.name}: ${check.message}; fix the plan, then create the request again`);
    let start;
    try {
      start = workflowStartFor(kind, obj, check.plan, this.o.site, requester);
    } catch (err) {
      if (err instanceof InvalidInputError) return refuse('InvalidRequest', err.message);
      throw err;
    }
    await this.faultPoint('hang-before-start', workflowId);
    const { runId, existed } = await temporal.startOnce(start, this.o.site.taskQueue);
    this.log(`${kind} ${namespace}/${name}: ${existed ? 'found' : 'started'} workflow ${workflowId} (run ${runId}) for ${requester.user}`);
    await this.faultPoint('hang-after-start', workflowId);
    await mirror(undefined, runId);
  }

  private async faultPoint(point: string, workflowId: string): Promise<void> {
    if (this.o.fault !== point) return;
    this.log(`fault ${point}: hanging at ${workflowId}`);
    await new Promise<never>(() => undefined);
  }
}
