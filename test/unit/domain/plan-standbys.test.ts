import { readFileSync } from 'fs';
import { join } from 'path';
import { issuesOf } from './plan-helpers';
import { parsePlan, replicationIntervalMs, standbySite, standbyStoreRef } from '../../../shared/plan';

const examplePlan = readFileSync(join(__dirname, '../../../examples/plan.yaml'), 'utf8');

const plan = (spec: string) => `apiVersion: temporal-dr/v1
kind: DRPlan
metadata:
  name: shop
spec:
  source: { context: source }
  selector: { namespaces: [shop] }
  store:
    url: s3://temporal-dr/plans
    endpoint: http://127.0.0.1:9000
    encryption: { keyFrom: { env: TDR_ENCRYPTION_KEY } }
${spec}`;

const site = (over = '') => `    - name: target
      context: target
      store:
        url: s3://temporal-dr/plans
        endpoint: http://127.0.0.1:9100
${over}`;


describe('standby sites in a plan', () => {
  it('reads the example plan: one standby with its own store and credentials, interval rpo/2', () => {
    const p = parsePlan(examplePlan);
    expect(p.spec.standbys).toEqual([
      {
        name: 'target',
        context: 'target',
        clusterName: 'target',
        standby: 'cold',
        store: {
          url: 's3://temporal-dr/plans',
          endpoint: 'http://127.0.0.1:9100',
          region: 'us-east-1',
          forcePathStyle: true,
          credentials: { fromEnv: { accessKeyIdVar: 'AWS_ACCESS_KEY_ID_TARGET', secretAccessKeyVar: 'AWS_SECRET_ACCESS_KEY_TARGET' } },
        },
      },
    ]);
    expect(standbyStoreRef(standbySite(p, 'target'))).toEqual({
      endpoint: 'http://127.0.0.1:9100',
      bucket: 'temporal-dr',
      prefix: 'plans',
      region: 'us-east-1',
      forcePathStyle: true,
      credentialsFromEnv: { accessKeyIdVar: 'AWS_ACCESS_KEY_ID_TARGET', secretAccessKeyVar: 'AWS_SECRET_ACCESS_KEY_TARGET' },
    });
    expect(replicationIntervalMs(p)).toBe(450_000);
  });

  it('keeps single-site plans valid and without standbys', () => {
    const p = parsePlan(plan(''));
    expect(p.spec.standbys).toBeUndefined();
    expect(() => standbySite(p, 'target')).toThrow(/lists no standby site; add spec.standbys/);
    expect(() => replicationIntervalMs(p)).toThrow(/spec.rpo/);
  });

  it('names an unknown site and lists the known ones', () => {
    expect(() => standbySite(parsePlan(plan(`  rpo: 10m\n  standbys:\n${site()}`)), 'dr2')).toThrow('plan shop has no standby site "dr2"; its sites are target');
  });

  it('defaults a standby clusterName to its context and accepts several sites', () => {
    const p = parsePlan(
      plan(`  rpo: 1m
  standbys:
${site()}    - name: far
      context: far-away
      clusterName: dr-east
      store: { url: s3://dr-east/points }
`),
    );
    expect(p.spec.standbys!.map((s) => [s.name, s.clusterName])).toEqual([['target', 'target'], ['far', 'dr-east']]);
    expect(replicationIntervalMs(p)).toBe(30_000);
  });

  it('requires an rpo with standbys', () => {
    expect(issuesOf(plan(`  standbys:\n${site()}`))).toEqual([
      'spec.rpo: required when spec.standbys is set; replication takes and ships a point every rpo/2 (e.g. rpo: 15m)',
    ]);
  });

  it('rejects bad site input, each problem named by its field', () => {
    const issues = issuesOf(
      plan(`  rpo: 10m
  standbys:
    - name: Target_1
      context: ""
      store:
        url: http://bucket
        endpoint: ftp://x
        credentials: { fromEnv: { accessKeyIdVar: "1BAD" } }
        encryption: { keyFrom: { env: OTHER_KEY } }
`),
    );
    const fields = issues.map((i) => i.split(':')[0]);
    for (const f of [
      'spec.standbys[0].name',
      'spec.standbys[0].context',
      'spec.standbys[0].store.url',
      'spec.standbys[0].store.endpoint',
      'spec.standbys[0].store.credentials.fromEnv.accessKeyIdVar',
      'spec.standbys[0].store.credentials.fromEnv.secretAccessKeyVar',
    ]) {
      expect([f, fields.includes(f)]).toEqual([f, true]);
    }
    // The standby shares the plan's key: a key of its own is not a field.
    expect(issues.some((i) => i.startsWith('spec.standbys[0].store') && i.includes('encryption'))).toBe(true);
  });

  it('rejects a standby on the source cluster, on the primary store, twice the same name or store, or an empty list', () => {
    expect(
      issuesOf(
        plan(`  rpo: 10m
  standbys:
    - name: a
      context: source
      store: { url: s3://temporal-dr/plans, endpoint: http://127.0.0.1:9000 }
    - name: b
      context: target
      store: { url: s3://dr-b/x, endpoint: http://127.0.0.1:9100 }
    - name: b
      context: target2
      store: { url: s3://dr-b/x, endpoint: http://127.0.0.1:9100 }
`),
      ),
    ).toEqual([
      'spec.standbys[0].context: "source" is the source cluster\'s context; a standby site must be another cluster',
      'spec.standbys[0].store: the same store as spec.store; a standby site needs its own store (another endpoint, bucket or prefix)',
      'spec.standbys[2].name: duplicate of spec.standbys[1].name "b"',
      'spec.standbys[2].store: the same store as spec.standbys[1].store',
    ]);
    expect(issuesOf(plan('  rpo: 10m\n  standbys: []\n'))).toEqual(['spec.standbys: list at least one standby site, or remove standbys']);
  });

  it('says fromSecret credentials of a standby are not supported yet', () => {
    expect(
      issuesOf(
        plan(`  rpo: 10m
  standbys:
${site(`        credentials: { fromSecret: { namespace: dr, name: s3, accessKeyIdKey: id, secretAccessKeyKey: secret } }
`)}`),
      ),
    ).toEqual([
      'spec.standbys[0].store.credentials.fromSecret: not supported by this release yet; use fromEnv and set the variables on the workers and node agents',
    ]);
  });
});
