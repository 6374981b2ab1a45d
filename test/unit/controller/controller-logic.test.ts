/** The controller's pure logic: names, plan checks and status, schedules, policies, requests. */
import {
  backupScheduleIdOf,
  materialisedPlanName,
  parseResourceKey,
  POLICY_LABEL,
  REQUESTED_BY_ANNOTATION,
  REQUESTED_BY_GROUPS_ANNOTATION,
  requestWorkflowId,
  resourceKey,
  temporalUiUrl,
  type ObjectMeta,
} from '../../../worker/controller/model';
import { materialisePlan, namespacesOfPolicy, planOfResource, planSchedules, planStatus, policyStatus, type DRPlanResource, type PlanSpec } from '../../../worker/controller/plans';
import {
  accessQuestions,
  isSettled,
  refusalForDenied,
  requesterOf,
  statusFromRun,
  workflowStartFor,
  type RequestResource,
} from '../../../worker/controller/requests';
import { validatePlan, type Plan } from '../../../shared/plan';
import type { RestoreRequest } from '../../../shared/restore-request';

const NOW = new Date('2026-12-02T08:00:00Z');
const meta = (over: Partial<ObjectMeta> = {}): ObjectMeta => ({ name: 'shop', namespace: 'shop', uid: '11111111-2222-3333-4444-555555555555', generation: 1, creationTimestamp: '2026-12-02T07:00:00Z', ...over });

const spec = (over: Record<string, unknown> = {}): PlanSpec =>
  ({
    source: { context: 'source' },
    selector: { namespaces: ['shop'] },
    hooks: [{ name: 'pg', podSelector: { namespace: 'shop', matchLabels: { app: 'db' } }, preset: 'postgresql' }],
    store: { url: 's3://dr-store/plans', encryption: { keyFrom: { env: 'TDR_ENCRYPTION_KEY' } } },
    ...over,
  }) as PlanSpec;

const planResource = (over: Record<string, unknown> = {}, m: Partial<ObjectMeta> = {}): DRPlanResource => ({ metadata: meta(m), spec: spec(over) });
const validPlan = (r: DRPlanResource): Plan => {
  const c = planOfResource(r);
  if (!c.ok) throw new Error(c.message);
  return c.plan;
};

describe('names the controller derives', () => {
  it('gives each request generation its own workflow id, from kind, namespace, name, uid and generation', () => {
    expect(requestWorkflowId('Restore', meta({ name: 'r1', generation: 2 }))).toBe('restore/shop/r1/11111111-2222-3333-4444-555555555555-2');
    expect(requestWorkflowId('Restore', meta({ name: 'r1', generation: 2 }))).not.toBe(requestWorkflowId('Restore', meta({ name: 'r1', generation: 3 })));
    expect(requestWorkflowId('Restore', meta({ name: 'r1' }))).not.toBe(requestWorkflowId('Restore', meta({ name: 'r1', uid: 'other' })));
  });

  it('keys, schedule ids, materialised names and UI links', () => {
    expect(parseResourceKey(resourceKey('DRPolicy', { name: 'gold' }))).toEqual({ kind: 'DRPolicy', name: 'gold' });
    expect(parseResourceKey(resourceKey('Backup', { name: 'b', namespace: 'ns' }))).toEqual({ kind: 'Backup', namespace: 'ns', name: 'b' });
    expect(backupScheduleIdOf(meta())).toBe('dr-backup/shop/shop/11111111-2222-3333-4444-555555555555');
    expect(materialisedPlanName('gold', 'team-a')).toBe('gold-team-a');
    const long = materialisedPlanName('gold', 'x'.repeat(63));
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    expect(materialisedPlanName('gold', 'x'.repeat(63))).toBe(long);
    expect(temporalUiUrl('http://ui:8233/', 'default', 'restore/a/b/c-1', 'run1')).toBe('http://ui:8233/namespaces/default/workflows/restore%2Fa%2Fb%2Fc-1/run1/history');
    expect(temporalUiUrl(undefined, 'default', 'x')).toBeUndefined();
  });
});

describe('DRPlan resources', () => {
  it('validates the spec with the plan schema, the object name as the plan name', () => {
    const plan = validPlan(planResource({}, { name: 'orders' }));
    expect(plan.metadata.name).toBe('orders');
    expect(plan.spec.source.clusterName).toBe('source');
  });

  it('names the invalid field', () => {
    const c = planOfResource(planResource({ backup: { schedule: 'every minute' } }));
    expect(c).toMatchObject({ ok: false, reason: 'InvalidSpec' });
    expect(!c.ok && c.message).toMatch(/spec\.backup\.schedule/);
  });

  it('refuses a plan that reaches another namespace, naming each field', () => {
    const c = planOfResource(
      planResource({
        selector: { namespaces: ['shop', 'bank'] },
        store: { url: 's3://dr-store/plans', encryption: { keyFrom: { secret: { namespace: 'kube-system', name: 'k', key: 'k' } } } },
      }),
    );
    expect(c.ok).toBe(false);
    if (c.ok) return;
    expect(c.reason).toBe('NamespaceNotAllowed');
    expect(c.issues).toEqual([
      expect.stringMatching(/^spec\.selector\.namespaces\[1\]: "bank"/),
      expect.stringMatching(/^spec\.store\.encryption\.keyFrom\.secret\.namespace: "kube-system"/),
    ]);
    // a glob is another namespace too: it could select any
    expect(planOfResource(planResource({ selector: { namespaces: ['sh*'] } })).ok).toBe(false);
    // the namespace of this cluster, not one of the same name on another cluster the worker reaches
    expect(planOfResource(planResource(), 'source').ok).toBe(true);
    const elsewhere = planOfResource(planResource({ source: { context: 'prod-eu' } }), 'source');
    expect(!elsewhere.ok && elsewhere.issues).toEqual([expect.stringMatching(/^spec\.source\.context: "prod-eu" is not this cluster.*set it to source/)]);
  });

  it('schedules backups on spec.backup.schedule and drills on spec.drill.schedule', () => {
    const r = planResource({ backup: { schedule: '*/5 * * * *' }, drill: { schedule: '0 3 * * 1' } });
    const schedules = planSchedules(r.metadata, validPlan(r), 'tq');
    expect(schedules.map((s) => [s.scheduleId, s.action.workflowType, s.spec.cronExpressions[0]])).toEqual([
      ['dr-backup/shop/shop/11111111-2222-3333-4444-555555555555', 'backup', '*/5 * * * *'],
      ['dr-drill/shop/shop/11111111-2222-3333-4444-555555555555', 'drill', '0 3 * * 1'],
    ]);
    expect((schedules[0].action.args[0] as { plan: Plan }).plan.metadata.name).toBe('shop');
    expect(planSchedules(meta(), validPlan(planResource()), 'tq')).toEqual([]);
  });

  it('status: Protected with the reason, keeping the transition time while it holds', () => {
    const r = planResource({ rpo: '1h', backup: { schedule: '0 * * * *' } });
    const check = planOfResource(r);
    const base = { meta: r.metadata, check, keySecret: { state: 'not-used' as const }, schedules: ['s1'], now: NOW };
    const ok = planStatus({ ...base, lastPoint: { id: 'p1', time: '2026-12-02T07:30:00Z' } });
    expect(ok).toMatchObject({ observedGeneration: 1, schedules: ['s1'], lastPoint: { id: 'p1' }, conditions: [{ type: 'Protected', status: 'True', reason: 'Scheduled' }] });
    const later = planStatus({ ...base, previous: ok, lastPoint: { id: 'p1', time: '2026-12-02T07:30:00Z' }, now: new Date(NOW.getTime() + 60_000) });
    expect(later.conditions![0].lastTransitionTime).toBe(ok.conditions![0].lastTransitionTime);
    const breached = planStatus({ ...base, previous: ok, lastPoint: { id: 'p0', time: '2026-12-02T06:00:00Z' } });
    expect(breached.conditions![0]).toMatchObject({ status: 'False', reason: 'RPOBreached', message: expect.stringMatching(/p0 is 7200 s old, over spec\.rpo 1h/) });
    expect(breached.conditions![0].lastTransitionTime).toBe(NOW.toISOString());
    const missing = planStatus({ ...base, keySecret: { state: 'missing', namespace: 'shop', name: 'repo-key', key: 'key' } });
    expect(missing.conditions![0]).toMatchObject({ status: 'False', reason: 'KeySecretMissing', message: expect.stringMatching(/kubectl -n shop create secret generic repo-key --from-literal=key=/) });
    const invalid = planStatus({ ...base, check: planOfResource(planResource({ rpo: 'soon' })) });
    expect(invalid.conditions![0]).toMatchObject({ status: 'False', reason: 'InvalidSpec', message: expect.stringMatching(/spec\.rpo/) });
  });
});

describe('DRPolicy', () => {
  const policy = { metadata: { name: 'gold', uid: 'pol-uid', generation: 3 }, spec: { namespaceSelector: { matchLabels: { 'dr.tier': 'gold' } }, planTemplate: { namespace: 'dr-templates', name: 'gold' } } };
  const template = planResource(
    { selector: { namespaces: ['dr-templates'] }, hooks: [{ name: 'pg', podSelector: { namespace: 'dr-templates', matchLabels: { app: 'db' } }, preset: 'postgresql' }], backup: { schedule: '* * * * *' } },
    { name: 'gold', namespace: 'dr-templates' },
  );

  it('selects labelled namespaces, never the template\'s own nor a terminating one', () => {
    const namespaces = [
      { name: 'team-b', labels: { 'dr.tier': 'gold' } },
      { name: 'team-a', labels: { 'dr.tier': 'gold' } },
      { name: 'team-c', labels: { 'dr.tier': 'silver' } },
      { name: 'dr-templates', labels: { 'dr.tier': 'gold' } },
      { name: 'gone', labels: { 'dr.tier': 'gold' }, terminating: true },
    ];
    expect(namespacesOfPolicy(policy, namespaces)).toEqual(['team-a', 'team-b']);
  });

  it('materialises the template in a namespace: its namespaces replaced, owned by the policy, valid there', () => {
    const plan = materialisePlan(policy, template, 'team-a');
    expect(plan.metadata).toMatchObject({ name: 'gold-team-a', namespace: 'team-a', labels: { [POLICY_LABEL]: 'gold' } });
    expect(plan.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'DRPolicy', name: 'gold', uid: 'pol-uid', controller: true })]);
    expect(plan.spec.selector.namespaces).toEqual(['team-a']);
    expect(plan.spec.hooks![0].podSelector.namespace).toBe('team-a');
    expect(plan.spec.backup).toEqual({ schedule: '* * * * *' });
    expect(planOfResource({ ...plan, metadata: { ...plan.metadata, uid: 'x' } }).ok).toBe(true);
    // the template itself is untouched
    expect(template.spec.selector.namespaces).toEqual(['dr-templates']);
  });

  it('status lists the protected namespaces, or says why none can be', () => {
    expect(policyStatus(policy, ['team-a'], { found: true }, NOW)).toMatchObject({ observedGeneration: 3, protectedNamespaces: ['team-a'], protectedCount: 1, conditions: [{ type: 'Ready', status: 'True' }] });
    expect(policyStatus(policy, [], { found: false }, NOW).conditions![0]).toMatchObject({ status: 'False', reason: 'TemplateNotFound' });
  });
});

describe('requests', () => {
  const plan = validatePlan({ apiVersion: 'temporal-dr/v1', kind: 'DRPlan', metadata: { name: 'shop' }, spec: spec({ rpo: '10m', standbys: [{ name: 'dr', context: 'target', store: { url: 's3://dr-standby/plans' } }] }) });
  const site = { context: 'source', clusterName: 'source', taskQueue: 'tq' };
  const restore = (s: Record<string, unknown>, m: Partial<ObjectMeta> = {}): RequestResource => ({
    metadata: meta({ name: 'r1', annotations: { [REQUESTED_BY_ANNOTATION]: 'alice', [REQUESTED_BY_GROUPS_ANNOTATION]: 'devs,system:authenticated' }, ...m }),
    spec: { planRef: { name: 'shop' }, ...s },
  });

  it('knows the requester only from the admission policy\'s annotations', () => {
    expect(requesterOf(restore({}).metadata)).toEqual({ user: 'alice', groups: ['devs', 'system:authenticated'] });
    expect(requesterOf(meta())).toBeUndefined();
  });

  it('asks for create in the namespace, and the cluster-wide cross-namespace verb for another target namespace', () => {
    expect(accessQuestions('Restore', restore({})).map((q) => [q.verb, q.resource, q.namespace])).toEqual([['create', 'restores', 'shop']]);
    const elsewhere = accessQuestions('Restore', restore({ targetNamespace: 'bank' }));
    expect(elsewhere.map((q) => [q.verb, q.resource, q.namespace])).toEqual([
      ['create', 'restores', 'shop'],
      ['restore-across-namespaces', 'restores', undefined],
    ]);
    expect(refusalForDenied('alice', elsewhere[1]).message).toMatch(/alice may not restore into namespace bank, not the Restore's own namespace shop.*cluster-wide.*temporal-dr-platform-admin/);
  });

  it('builds the restore input as drctl does: the plan\'s store and key, this cluster, its own namespace', () => {
    const start = workflowStartFor('Restore', restore({ point: 'latest', existingPolicy: 'skip', waitReadyTimeout: '5m', volumes: ['data'] }), plan, site);
    expect(start.workflowId).toBe('restore/shop/r1/11111111-2222-3333-4444-555555555555-1');
    const req = start.args[0] as RestoreRequest;
    expect(req).toMatchObject({
      restoreId: 'cr-11111111-2222-3333-4444-555555555555-1',
      planName: 'shop',
      pointId: 'latest',
      target: { context: 'source', clusterName: 'source' },
      keyEnv: 'TDR_ENCRYPTION_KEY',
      existingPolicy: 'skip',
      waitReadyTimeoutMs: 300_000,
      volumesOnly: ['shop/data'],
    });
    expect(req.store).toMatchObject({ bucket: 'dr-store', prefix: 'plans' });
    expect(req.namespaceMapping).toBeUndefined();
    const mapped = workflowStartFor('Restore', restore({ targetNamespace: 'shop-copy' }), plan, site).args[0] as RestoreRequest;
    expect(mapped.namespaceMapping).toEqual({ shop: 'shop-copy' });
  });

  it('builds backup, failover and drill inputs; an unknown site names the sites', () => {
    expect(workflowStartFor('Backup', restore({}), plan, site)).toMatchObject({ workflowType: 'backup', args: [{ plan }] });
    const f = workflowStartFor('Failover', restore({ to: 'dr', mode: 'unplanned' }), plan, site, { user: 'alice', groups: [] });
    expect(f.args[0]).toMatchObject({ from: 'primary', to: 'dr', mode: 'unplanned', operation: 'failover', requestedBy: 'alice' });
    // deterministic: the same object gives the same input after a restart
    expect(workflowStartFor('Failover', restore({ to: 'dr' }), plan, site).args).toEqual(workflowStartFor('Failover', restore({ to: 'dr' }), plan, site).args);
    expect(() => workflowStartFor('Failover', restore({ to: 'moon' }), plan, site)).toThrow(/moon/);
    expect(workflowStartFor('Drill', restore({ site: 'dr' }), plan, site).args[0]).toMatchObject({ cluster: { context: 'target', clusterName: 'target' } });
  });

  it('mirrors a run into status: phase, progress, result, times, UI link', () => {
    const m = restore({}).metadata;
    const running = statusFromRun('Restore', m, undefined, {
      workflowId: 'w', runId: 'r', status: 'RUNNING', startTime: new Date('2026-12-02T07:59:00Z'),
      progress: { phase: 'Apply', objectsApplied: 3, objectsTotal: 10, volumesDone: 0, volumesTotal: 1, bytesWritten: 0 },
    }, { base: 'http://ui', namespace: 'default' }, NOW);
    expect(running).toMatchObject({ phase: 'Running', progress: 'Apply: objects 3/10, volumes 0/1, 0 KiB written', workflowId: 'w', runId: 'r', temporalUiUrl: 'http://ui/namespaces/default/workflows/w/r/history', startTime: '2026-12-02T07:59:00.000Z' });
    expect(running.completionTime).toBeUndefined();
    const done = statusFromRun('Backup', m, running, { workflowId: 'w', runId: 'r', status: 'COMPLETED', closeTime: NOW, result: { pointId: 'p1', resources: 12, volumes: [{}], bytes: 2 << 20 } }, { namespace: 'default' }, NOW);
    expect(done).toMatchObject({ phase: 'Succeeded', result: 'point p1: 12 objects, 1 volume(s), 2.0 MiB', completionTime: NOW.toISOString() });
    expect(isSettled({ metadata: m, status: done })).toBe(true);
    expect(isSettled({ metadata: { ...m, generation: 2 }, status: done })).toBe(false);
    const failed = statusFromRun('Restore', m, running, { workflowId: 'w', runId: 'r', status: 'FAILED', failure: 'point x not found' }, { namespace: 'default' }, NOW);
    expect(failed).toMatchObject({ phase: 'Failed', result: 'failed: point x not found' });
  });
});
