import { describeRetention, isLockedKey, isRetained, laterRetention, retainUntil, s3LockMode } from '../../../shared/object-lock';
import { parsePlan, planToStoreRef } from '../../../shared/plan';
import { catalogKey, hookArtifactKey, inProgressMarkerKey, resourcesKey, volumeSnapshotKey } from '../../../shared/catalog';
import { packKey } from '../../../activities/datapath/pack';
import { issuesOf } from './plan-helpers';

const planText = (objectLock: string) => `apiVersion: temporal-dr/v1
kind: DRPlan
metadata: { name: shop }
spec:
  source: { context: source }
  selector: { namespaces: [shop] }
  store:
    url: s3://locked/dr
    encryption: { keyFrom: { env: TDR_ENCRYPTION_KEY } }
${objectLock}
`;

describe('object lock: which keys', () => {
  test('everything a restore reads is locked', () => {
    for (const key of [
      catalogKey('shop', '20261202T070000Z-abc'),
      resourcesKey('shop', '20261202T070000Z-abc'),
      volumeSnapshotKey('shop', '20261202T070000Z-abc', 'db', 'data'),
      packKey('ab'.repeat(32)),
      'repo/index/0123456789abcdef0123456789abcdef',
    ]) {
      expect(`${key} ${isLockedKey(key)}`).toBe(`${key} true`);
    }
  });

  test('markers, staging, sessions, partial manifests, GC locks and repo/config are not', () => {
    for (const key of [
      inProgressMarkerKey('shop', 'p1'),
      'points/shop/p1/failed.json',
      'points/shop/p1/expired.json',
      'points/shop/p1/staging/resources.json',
      volumeSnapshotKey('shop', 'p1', 'db', 'data') + '.pass1',
      hookArtifactKey('shop', 'p1', 'db', 'data', 'backup_label'),
      'repo/config',
      'repo/sessions/s1',
      'repo/partials/s1/000001',
      'repo/locks/gc-1',
      'repo/packs/ab/not-a-pack',
      'restores/r1/plan',
    ]) {
      expect(`${key} ${isLockedKey(key)}`).toBe(`${key} false`);
    }
  });
});

describe('object lock: dates', () => {
  test('retain-until is now + retention, rounded up to the second', () => {
    expect(retainUntil(new Date('2026-12-02T07:00:00.000Z'), { retention: '30d' }).toISOString()).toBe('2027-01-01T07:00:00.000Z');
    expect(retainUntil(new Date('2026-12-02T07:00:00.001Z'), { retention: '90s' }).toISOString()).toBe('2026-12-02T07:01:31.000Z');
    expect(retainUntil(new Date('2026-12-02T07:00:00.000Z'), { retention: '1h30m' }).toISOString()).toBe('2026-12-02T08:30:00.000Z');
    expect(() => retainUntil(new Date(), { retention: 'soon' })).toThrow(/objectLock.retention "soon": expected a duration like 30d/);
  });

  test('retained only strictly before the date', () => {
    const r = { mode: 'governance' as const, retainUntil: new Date('2026-12-02T08:00:00Z') };
    expect(isRetained(r, new Date('2026-12-02T07:59:59Z'))).toBe(true);
    expect(isRetained(r, new Date('2026-12-02T08:00:00Z'))).toBe(false);
    expect(isRetained(undefined, new Date())).toBe(false);
  });

  test('the later retention wins; compliance on a tie', () => {
    const a = { mode: 'governance' as const, retainUntil: new Date('2026-12-02T08:00:00Z') };
    const b = { mode: 'compliance' as const, retainUntil: new Date('2026-12-02T08:00:00Z') };
    const c = { mode: 'governance' as const, retainUntil: new Date('2026-12-03T08:00:00Z') };
    expect(laterRetention(a, b)).toBe(b);
    expect(laterRetention(b, a)).toBe(b);
    expect(laterRetention(b, c)).toBe(c);
    expect(laterRetention(undefined, a)).toBe(a);
    expect(laterRetention(a, undefined)).toBe(a);
  });

  test('reports say the mode and the date', () => {
    expect(describeRetention({ mode: 'compliance', retainUntil: new Date('2026-12-02T08:00:00Z') })).toBe('locked (compliance) until 2026-12-02T08:00:00Z');
    expect(s3LockMode('governance')).toBe('GOVERNANCE');
    expect(s3LockMode('compliance')).toBe('COMPLIANCE');
  });
});

describe('object lock: the plan field', () => {
  test('spec.store.objectLock reaches the workers through the store reference', () => {
    const plan = parsePlan(planText('    objectLock: { mode: compliance, retention: 30d }'));
    expect(plan.spec.store.objectLock).toEqual({ mode: 'compliance', retention: '30d' });
    expect(planToStoreRef(plan).objectLock).toEqual({ mode: 'compliance', retention: '30d' });
    expect(planToStoreRef(parsePlan(planText(''))).objectLock).toBeUndefined();
  });

  test('bad values are named with the fix', () => {
    expect(issuesOf(planText('    objectLock: { mode: legal-hold, retention: 30d }'))).toEqual([expect.stringMatching(/^spec\.store\.objectLock\.mode: expected governance or compliance/)]);
    expect(issuesOf(planText('    objectLock: { mode: governance, retention: a month }'))).toEqual([expect.stringMatching(/^spec\.store\.objectLock\.retention: expected a duration like 30s/)]);
    expect(issuesOf(planText('    objectLock: { mode: governance, retention: 500ms }'))).toEqual([expect.stringMatching(/^spec\.store\.objectLock\.retention: expected at least 1s/)]);
    expect(issuesOf(planText('    objectLock: { mode: governance }'))).toEqual([expect.stringMatching(/^spec\.store\.objectLock\.retention: required/)]);
    expect(issuesOf(planText('    objectLock: { mode: governance, retention: 1d, legalHold: true }'))).toEqual([expect.stringMatching(/^spec\.store\.objectLock.*legalHold/)]);
  });
});
