import { issuesOf } from './plan-helpers';
import { parsePlan, planToStoreRef, standbySite, standbyStoreRef } from '../../../shared/plan';
import { newFailoverId, planWithPrimary, siteNamed, sitesOf } from '../../../shared/failover';

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
