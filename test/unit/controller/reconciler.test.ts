/** The reconcile loop against in-memory adapters: idempotent starts, refusals, finalizers, policies. */
import { Controller } from '../../../worker/controller/reconciler';
import type { KubeAdapter } from '../../../worker/controller/kube';
import type { TemporalAdapter } from '../../../worker/controller/temporal';
import type { StoreAdapter } from '../../../worker/controller/store';
import { PLAN_FINALIZER, POLICY_LABEL, REQUESTED_BY_ANNOTATION, type Resource, type ResourceKind } from '../../../worker/controller/model';
import type { RunView, WorkflowStart } from '../../../worker/controller/requests';

type Obj = Resource<any, any>;

function fakes() {
  const objects = new Map<string, Obj>();
  const k = (kind: string, name: string, ns?: string) => `${kind}/${ns ?? ''}/${name}`;
  const starts: WorkflowStart[] = [];
  const runs = new Map<string, RunView>();
  const schedules = new Map<string, unknown>();
  const reviews: { user: string; verb: string; namespace?: string }[] = [];
  let namespaces = [{ name: 'shop', labels: {} as Record<string, string> }];
  const deny = new Set<string>();
  let rv = 100;
  const kube: KubeAdapter = {
    async get(kind, name, ns) {
      return structuredClone(objects.get(k(kind, name, ns))) as never;
    },
    async list(kind, opts = {}) {
      return [...objects.entries()]
        .filter(([key]) => key.startsWith(`${kind}/`))
        .map(([, o]) => o)
        .filter((o) => !opts.labelSelector || o.metadata.labels?.[opts.labelSelector.split('=')[0]] === opts.labelSelector.split('=')[1]) as never;
    },
    async patchStatus(kind, name, ns, status) {
      const o = objects.get(k(kind, name, ns))!;
      o.status = status;
      o.metadata.resourceVersion = String(++rv);
      return o.metadata.resourceVersion;
    },
    async setFinalizers(kind, name, ns, finalizers) {
      const o = objects.get(k(kind, name, ns))!;
      o.metadata.finalizers = finalizers;
      if (o.metadata.deletionTimestamp && finalizers.length === 0) objects.delete(k(kind, name, ns));
    },
    async applyPlan(obj) {
      const key = k('DRPlan', obj.metadata.name, obj.metadata.namespace);
      const prev = objects.get(key);
      objects.set(key, { ...structuredClone(obj), metadata: { ...structuredClone(obj.metadata), uid: prev?.metadata.uid ?? `uid-${obj.metadata.name}`, generation: 1 }, status: prev?.status });
    },
    async deletePlan(name, ns) {
      objects.delete(k('DRPlan', name, ns));
    },
    async namespaces() {
      return namespaces;
    },
    async secretExists() {
      return false;
    },
    async canI(who, attrs) {
      reviews.push({ user: who.user, verb: attrs.verb, namespace: attrs.namespace });
      return { allowed: !deny.has(`${who.user}:${attrs.verb}:${attrs.namespace ?? ''}`) };
    },
    async watch() {
      return async () => undefined;
    },
  };
  const temporal: TemporalAdapter = {
    async startOnce(start) {
      const existing = runs.get(start.workflowId);
      if (existing) return { runId: existing.runId, existed: true };
      starts.push(start);
      runs.set(start.workflowId, { workflowId: start.workflowId, runId: `run-${starts.length}`, status: 'RUNNING' });
      return { runId: `run-${starts.length}`, existed: false };
    },
    async run(id) {
      return runs.get(id);
    },
    async ensureSchedule(s, update) {
      const had = schedules.has(s.scheduleId);
      if (!had || update) schedules.set(s.scheduleId, s);
      return had ? (update ? 'updated' : 'kept') : 'created';
    },
    async deleteSchedule(id) {
      schedules.delete(id);
    },
    async scheduleExists(id) {
      return schedules.has(id);
    },
  };
  const deleted: string[] = [];
  const store: StoreAdapter = {
    async lastPoint() {
      return { id: '20261202t070000z-abcd', time: '2026-12-02T07:00:00.000Z' };
    },
    async deletePoints(plan) {
      deleted.push(plan.metadata.name);
      return 1;
    },
  };
  const put = (kind: ResourceKind, o: Obj) => objects.set(k(kind, o.metadata.name, o.metadata.namespace), o);
  const controller = new Controller({ kube, temporal, store, site: { context: 'source', clusterName: 'source', taskQueue: 'tq' }, ui: { namespace: 'default' }, log: () => undefined, now: () => new Date('2026-12-02T08:00:00Z') });
  return { objects, put, starts, runs, schedules, reviews, deny, controller, deleted, k, setNamespaces: (n: typeof namespaces) => (namespaces = n) };
}

const planSpec = (ns: string, extra: Record<string, unknown> = {}) => ({
  source: { context: 'source' },
  selector: { namespaces: [ns] },
  store: { url: 's3://dr-store/plans', encryption: { keyFrom: { env: 'TDR_ENCRYPTION_KEY' } } },
  ...extra,
});
const plan = (ns = 'shop', extra: Record<string, unknown> = {}, name = 'shop'): Obj => ({ metadata: { name, namespace: ns, uid: `uid-${name}`, generation: 1 }, spec: planSpec(ns, extra) });
const request = (name: string, spec: Record<string, unknown>, by = 'alice'): Obj => ({
  metadata: { name, namespace: 'shop', uid: `uid-${name}`, generation: 1, annotations: { [REQUESTED_BY_ANNOTATION]: by } },
  spec: { planRef: { name: 'shop' }, ...spec },
});

describe('the controller loop', () => {
  it('starts a request\'s workflow once, however often it is reconciled, and mirrors it into status', async () => {
    const f = fakes();
    f.put('DRPlan', plan());
    f.put('Restore', request('r1', {}));
    await f.controller.reconcile('Restore/shop/r1');
    await f.controller.reconcile('Restore/shop/r1');
    expect(f.starts.map((s) => s.workflowId)).toEqual(['restore/shop/r1/uid-r1-1']);
    expect(f.objects.get('Restore/shop/r1')!.status).toMatchObject({ phase: 'Running', workflowId: 'restore/shop/r1/uid-r1-1', runId: 'run-1' });
    f.runs.set('restore/shop/r1/uid-r1-1', { workflowId: 'restore/shop/r1/uid-r1-1', runId: 'run-1', status: 'COMPLETED', result: { point: 'shop/p', created: 3, updated: 0, skipped: 1, volumes: [], rtoMs: 2000 } });
    await f.controller.reconcile('Restore/shop/r1');
    expect(f.objects.get('Restore/shop/r1')!.status).toMatchObject({ phase: 'Succeeded', result: 'restored shop/p: 3 created, 0 updated, 1 skipped, 0 volume(s); RTO 2.0 s' });
    // a new generation is a new run
    f.objects.get('Restore/shop/r1')!.metadata.generation = 2;
    await f.controller.reconcile('Restore/shop/r1');
    expect(f.starts.map((s) => s.workflowId)).toEqual(['restore/shop/r1/uid-r1-1', 'restore/shop/r1/uid-r1-2']);
    // The watch event of its own status write is not a change: it queues nothing (no write loop while progress moves).
    const queued = (f.controller as unknown as { ready: string[] }).ready;
    queued.length = 0;
    f.controller.onEvent('Restore', f.objects.get('Restore/shop/r1')!);
    expect(queued).toEqual([]);
    f.controller.onEvent('Restore', { metadata: { ...f.objects.get('Restore/shop/r1')!.metadata, resourceVersion: 'someone-else' } });
    expect(queued).toEqual(['Restore/shop/r1']);
    f.controller.stop();
  });

  it('refuses a request without a recorded requester, and one the requester may not make, starting nothing', async () => {
    const f = fakes();
    f.put('DRPlan', plan());
    const anonymous = request('anon', {});
    delete anonymous.metadata.annotations;
    f.put('Backup', anonymous);
    f.put('Restore', request('away', { targetNamespace: 'bank' }));
    f.deny.add('alice:restore-across-namespaces:');
    await f.controller.reconcile('Backup/shop/anon');
    await f.controller.reconcile('Restore/shop/away');
    expect(f.starts).toEqual([]);
    expect(f.objects.get('Backup/shop/anon')!.status).toMatchObject({ phase: 'Refused', conditions: [{ reason: 'RequesterUnknown' }] });
    expect(f.objects.get('Restore/shop/away')!.status).toMatchObject({ phase: 'Refused', conditions: [{ reason: 'Forbidden' }] });
    expect(f.reviews).toEqual([
      { user: 'alice', verb: 'create', namespace: 'shop' },
      { user: 'alice', verb: 'restore-across-namespaces', namespace: undefined },
    ]);
    f.controller.stop();
  });

  it('keeps a DRPlan\'s Schedule with a finalizer, and on delete removes it (and the points with deletionPolicy Delete)', async () => {
    const f = fakes();
    f.put('DRPlan', plan('shop', { backup: { schedule: '* * * * *' }, deletionPolicy: 'Delete' }));
    await f.controller.reconcile('DRPlan/shop/shop');
    const o = f.objects.get('DRPlan/shop/shop')!;
    expect(o.metadata.finalizers).toEqual([PLAN_FINALIZER]);
    expect([...f.schedules.keys()]).toEqual(['dr-backup/shop/shop/uid-shop']);
    expect(o.status).toMatchObject({ observedGeneration: 1, schedules: ['dr-backup/shop/shop/uid-shop'], lastPoint: { id: '20261202t070000z-abcd' }, conditions: [{ type: 'Protected', status: 'True' }] });
    o.metadata.deletionTimestamp = '2026-12-02T08:00:00Z';
    await f.controller.reconcile('DRPlan/shop/shop');
    expect(f.schedules.size).toBe(0);
    expect(f.deleted).toEqual(['shop']);
    expect(f.objects.has('DRPlan/shop/shop')).toBe(false);
    f.controller.stop();
  });

  it('refuses a plan selecting another namespace: Protected False, no Schedule', async () => {
    const f = fakes();
    f.put('DRPlan', { ...plan('shop', { backup: { schedule: '* * * * *' } }), spec: planSpec('bank', { backup: { schedule: '* * * * *' } }) });
    await f.controller.reconcile('DRPlan/shop/shop');
    expect(f.schedules.size).toBe(0);
    expect(f.objects.get('DRPlan/shop/shop')!.status.conditions[0]).toMatchObject({ status: 'False', reason: 'InvalidSpec', message: expect.stringMatching(/spec\.selector\.namespaces\[0\]: "bank"/) });
    f.controller.stop();
  });

  it('a DRPolicy materialises plans in labelled namespaces, and removes them when the label goes', async () => {
    const f = fakes();
    f.put('DRPlan', plan('dr', { backup: { schedule: '* * * * *' } }, 'gold'));
    f.put('DRPolicy', { metadata: { name: 'gold', uid: 'pol', generation: 1 }, spec: { namespaceSelector: { matchLabels: { tier: 'gold' } }, planTemplate: { namespace: 'dr', name: 'gold' } } });
    f.setNamespaces([{ name: 'dr', labels: {} }, { name: 'a', labels: { tier: 'gold' } }, { name: 'b', labels: {} }]);
    await f.controller.reconcile('DRPolicy//gold');
    expect(f.objects.get('DRPlan/a/gold-a')!.metadata.labels).toEqual({ [POLICY_LABEL]: 'gold' });
    expect(f.objects.get('DRPolicy//gold')!.status).toMatchObject({ protectedNamespaces: ['a'], protectedCount: 1 });
    // the template itself is not scheduled
    await f.controller.reconcile('DRPlan/dr/gold');
    expect(f.objects.get('DRPlan/dr/gold')!.status.conditions[0].reason).toBe('Template');
    await f.controller.reconcile('DRPlan/a/gold-a');
    expect([...f.schedules.keys()]).toEqual(['dr-backup/a/gold-a/uid-gold-a']);
    f.setNamespaces([{ name: 'dr', labels: {} }, { name: 'a', labels: {} }, { name: 'b', labels: { tier: 'gold' } }]);
    await f.controller.reconcile('policies/');
    expect(f.objects.has('DRPlan/a/gold-a')).toBe(false);
    expect(f.objects.has('DRPlan/b/gold-b')).toBe(true);
    expect(f.objects.get('DRPolicy//gold')!.status.protectedNamespaces).toEqual(['b']);
    f.controller.stop();
  });
});
