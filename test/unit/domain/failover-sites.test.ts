import { issuesOf } from './plan-helpers';
import { parsePlan, planToStoreRef, standbySite, standbyStoreRef } from '../../../shared/plan';
import { failoverSequence, failoverWorkflowId, newFailoverId, planWithPrimary, siteNamed, sitesOf } from '../../../shared/failover';

const plan = (extra = '') => `apiVersion: temporal-dr/v1
kind: DRPlan
metadata:
  name: shop
spec:
  source: { context: source, name: east }
  selector: { namespaces: [shop] }
  rpo: 10m
  store:
    url: s3://dr-east/plans
    endpoint: http://127.0.0.1:9000
    encryption: { keyFrom: { env: TDR_ENCRYPTION_KEY } }
  standbys:
    - name: west
      context: target
      store: { url: s3://dr-west/plans, endpoint: http://127.0.0.1:9100, credentials: { fromEnv: { accessKeyIdVar: W_ID, secretAccessKeyVar: W_SECRET } } }
${extra}`;

describe('sites of a plan and the plan seen from another primary', () => {
  it('names the source site "primary" unless spec.source.name says otherwise', () => {
    const p = parsePlan(plan().replace(', name: east', ''));
    expect(sitesOf(p).map((s) => s.name)).toEqual(['primary', 'west']);
  });

  it('swaps the primary and a standby: cluster, store and credentials move, the key stays, the old source becomes a standby', () => {
    const p = parsePlan(plan());
    const west = planWithPrimary(p, 'west');
    expect(west.spec.source).toMatchObject({ name: 'west', context: 'target', clusterName: 'target' });
    expect(planToStoreRef(west)).toEqual(standbyStoreRef(standbySite(p, 'west')));
    expect(west.spec.store.encryption).toEqual(p.spec.store.encryption);
    expect(west.spec.standbys!.map((s) => [s.name, s.context, s.store.url])).toEqual([['east', 'source', 's3://dr-east/plans']]);
    expect(planToStoreRef(planWithPrimary(west, 'east'))).toEqual(planToStoreRef(p));
    expect(planWithPrimary(p, 'east')).toBe(p);
  });

  it('refuses an unknown site with the list of sites', () => {
    expect(() => siteNamed(parsePlan(plan()), 'north')).toThrow('plan shop has no site "north"; its sites are east, west');
  });

  it('refuses a standby named like the source site', () => {
    expect(issuesOf(plan().replace('name: west', 'name: east'))).toContain('spec.standbys[0].name: "east" is the source site\'s name (spec.source.name); name each site once');
  });

  it('checks the traffic switch names every site and no other', () => {
    const failover = `  failover:
    approvals: [before-traffic-switch]
    trafficSwitch:
      service: { context: dns, namespace: edge, name: shop, externalNames: { east: shop.east.example, north: shop.north.example } }
`;
    expect(issuesOf(plan(failover))).toEqual([
      'spec.failover.trafficSwitch.service.externalNames.north: no site is named "north"; the sites are east, west',
      'spec.failover.trafficSwitch.service.externalNames: missing site "west"; give the address the app answers at on every site',
    ]);
    expect(issuesOf(plan(failover.replace('approvals: [before-traffic-switch]', 'approvals: [after-lunch]')))[0]).toMatch(/^spec.failover.approvals\[0\]: /);
  });

  it('fills failover defaults: no gates, one hour to approve, reject on timeout', () => {
    const p = parsePlan(plan('  failover: {}\n'));
    expect(p.spec.failover).toMatchObject({ approvals: [], approvalTimeout: '1h', onApprovalTimeout: 'reject', verify: [] });
  });

  it('makes failover ids that sort by time and name the plan and mode', () => {
    expect(newFailoverId(new Date('2026-12-01T18:00:00.123Z'), 'shop', 'unplanned')).toBe('shop-20261201t180000z-unplanned');
  });
});

describe('failover workflow ids', () => {
  it('number a plan\'s failovers, and read the number back (0 for the ids before numbering and for other plans)', () => {
    expect(failoverWorkflowId('shop', 3)).toBe('failover/shop/3');
    expect(failoverSequence('failover/shop/3', 'shop')).toBe(3);
    expect(failoverSequence('failover/shop', 'shop')).toBe(0);
    expect(failoverSequence('failover/shop-eu/7', 'shop')).toBe(0);
    expect(failoverSequence('failover/shop/x', 'shop')).toBe(0);
  });
});

describe('the objects a warm standby holds', () => {
  it('fences workloads at zero replicas keeping the replicas they had, suspends CronJobs, labels namespaces, leaves the rest', () => {
    const { fenceObject, FENCED_REPLICAS_ANNOTATION, FENCED_SUSPEND_ANNOTATION, FENCED_BY_LABEL } = require('../../../shared/failover');
    expect(fenceObject({ apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'db' }, spec: { replicas: 3 } }, 'shop')).toEqual({
      apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'db', annotations: { [FENCED_REPLICAS_ANNOTATION]: '3' } }, spec: { replicas: 0 },
    });
    // Already fenced (a planned failover's final point): the recorded replicas stay.
    expect(fenceObject({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web', annotations: { [FENCED_REPLICAS_ANNOTATION]: '2' } }, spec: { replicas: 0 } }, 'shop').metadata.annotations).toEqual({ [FENCED_REPLICAS_ANNOTATION]: '2' });
    expect(fenceObject({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'one' }, spec: {} }, 'shop').metadata.annotations[FENCED_REPLICAS_ANNOTATION]).toBe('1');
    expect(fenceObject({ apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'report' }, spec: { schedule: '* * * * *' } }, 'shop')).toMatchObject({ metadata: { annotations: { [FENCED_SUSPEND_ANNOTATION]: 'false' } }, spec: { suspend: true } });
    expect(fenceObject({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { team: 'a' } } }, 'shop').metadata.labels).toEqual({ team: 'a', [FENCED_BY_LABEL]: 'shop' });
    const owned = { apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name: 'web-1', ownerReferences: [{ kind: 'Deployment' }] }, spec: { replicas: 2 } };
    expect(fenceObject(owned, 'shop')).toBe(owned);
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' } };
    expect(fenceObject(cm, 'shop')).toBe(cm);
  });

  it('keeps the warm/cold choice of each site when the primary moves', () => {
    const p = parsePlan(plan().replace('      context: target\n', '      context: target\n      standby: warm\n'));
    expect(sitesOf(p).map((s) => [s.name, s.standby])).toEqual([['east', 'cold'], ['west', 'warm']]);
    expect(planWithPrimary(p, 'west').spec.standbys!.map((s) => [s.name, s.standby])).toEqual([['east', 'cold']]);
  });
});

describe('drill isolation rules', () => {
  const { drillNamespaceMapping, isolateForDrill, DRILL_LABEL } = require('../../../shared/drill');
  it('maps each namespace to its drill namespace and refuses one that is a production namespace', () => {
    expect(drillNamespaceMapping(['shop', 'pay'], '-drill', ['shop', 'pay'])).toEqual({ shop: 'shop-drill', pay: 'pay-drill' });
    expect(() => drillNamespaceMapping(['shop'], '-drill', ['shop', 'shop-drill'])).toThrow(/the drill namespace shop-drill is a production namespace of the plan/);
    expect(() => drillNamespaceMapping(['a', 'a-x'], '-x', ['a', 'a-x'])).toThrow(/a-x is a production namespace/);
    // The plan protects shop*: a drill namespace shop-drill would be protected (and backed up) too.
    expect(() => drillNamespaceMapping(['shop'], '-drill', ['shop*'])).toThrow(/shop-drill is a production namespace/);
  });
  it('drops routes, closes exposed Services, suspends CronJobs and labels everything with the drill', () => {
    expect(isolateForDrill({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'web' } }, 'd1')).toBeUndefined();
    expect(isolateForDrill({ apiVersion: 'gateway.networking.k8s.io/v1', kind: 'HTTPRoute', metadata: { name: 'web' } }, 'd1')).toBeUndefined();
    const svc = isolateForDrill(
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Local', loadBalancerIP: '1.2.3.4', ports: [{ port: 80, nodePort: 30080 }] } },
      'd1',
    );
    expect(svc).toEqual({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', labels: { [DRILL_LABEL]: 'd1' } }, spec: { type: 'ClusterIP', ports: [{ port: 80 }] } });
    expect(isolateForDrill({ apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'r' }, spec: { schedule: '* * * * *' } }, 'd1')).toMatchObject({ spec: { suspend: true } });
    expect(isolateForDrill({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', labels: { a: 'b' } } }, 'd1')).toEqual({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', labels: { a: 'b', [DRILL_LABEL]: 'd1' } } });
  });
});

describe('drill checks', () => {
  const { compareDataCheck, judgeHttpResponse } = require('../../../shared/drill');
  const recorded = { value: '10', pod: { name: 'db-0' } };
  it('passes a data check only when the copy gives what the backup recorded, and says why otherwise', () => {
    expect(compareDataCheck('rows', 'p1', recorded, { value: '10' })).toEqual({ ok: true, output: 'matches the backup: expected "10" (recorded in db-0), got "10"' });
    expect(compareDataCheck('rows', 'p1', recorded, { value: '9' })).toEqual({ ok: false, output: 'differs from the backup: expected "10" (recorded in db-0), got "9"' });
    expect(compareDataCheck('rows', 'p1', recorded, { error: 'exit 1: relation "orders" does not exist' })).toMatchObject({ ok: false, output: expect.stringContaining('the drill copy failed: exit 1') });
    expect(compareDataCheck('rows', 'p1', undefined, { value: '10' })).toMatchObject({ ok: false, output: expect.stringContaining('point p1 recorded no value for data check rows') });
    expect(compareDataCheck('rows', 'p1', { error: 'exit 2', pod: { name: 'db-0' } }, { value: '10' })).toMatchObject({ ok: false, output: 'the backup of point p1 could not record data check rows: exit 2' });
  });
  it('judges an HTTP response by status and body', () => {
    expect(judgeHttpResponse(200, 'shop', { status: 200, body: '<h1>shop</h1>\n' })).toEqual({ ok: true, output: 'HTTP 200: <h1>shop</h1>' });
    expect(judgeHttpResponse(200, undefined, { status: 404, body: 'nope' })).toEqual({ ok: false, output: 'status 404, expected 200 (HTTP 404: nope)' });
    expect(judgeHttpResponse(200, 'shop', { status: 200, body: 'other' })).toMatchObject({ ok: false, output: expect.stringContaining('body does not contain "shop"') });
    expect(judgeHttpResponse(200, undefined, { error: 'ECONNREFUSED' })).toEqual({ ok: false, output: 'no response: ECONNREFUSED' });
  });
  it('refuses two drill checks with one name and a path with a query string', () => {
    const check = (name: string) => `{ name: ${name}, podSelector: { namespace: shop, matchLabels: { app: db } }, command: [psql] }`;
    expect(issuesOf(plan(`  drill:\n    schedule: "0 3 * * 1"\n    verify: [${check('rows')}]\n    dataChecks: [${check('rows')}]\n    httpChecks: [{ name: web, service: { namespace: shop, name: web, port: 80 }, path: "/x?y=1" }]\n`))).toEqual([
      'spec.drill.httpChecks[0].path: expected a path starting with / (no query string)',
    ]);
    expect(issuesOf(plan(`  drill:\n    schedule: "0 3 * * 1"\n    verify: [${check('rows')}]\n    dataChecks: [${check('rows')}]\n`))).toEqual([
      'spec.drill.dataChecks[0].name: duplicate of spec.drill.verify[0].name "rows"; give each drill check its own name',
    ]);
  });
});
