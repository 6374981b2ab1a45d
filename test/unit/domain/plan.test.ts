import { readFileSync } from 'fs';
import { join } from 'path';
import { formatDuration, parseDuration } from '../../../shared/duration';
import { issuesOf } from './plan-helpers';
import { parsePlan, planKeyEnv, planKeyRef, planToStoreRef, validatePlan, volumeModeFor } from '../../../shared/plan';

const examplePlan = readFileSync(join(__dirname, '../../../examples/plan.yaml'), 'utf8');

const minimal = (spec: string) => `apiVersion: temporal-dr/v1
kind: DRPlan
metadata:
  name: shop
spec:
  source: { context: source }
  selector: { namespaces: [shop] }
  store:
    url: s3://temporal-dr/plans
    encryption: { keyFrom: { env: TDR_ENCRYPTION_KEY } }
${spec}`;


describe('durations', () => {
  it.each([
    ['30s', 30_000],
    ['5m', 300_000],
    ['1h30m', 5_400_000],
    ['2d', 172_800_000],
    ['1m500ms', 60_500],
  ])('parses %s', (text, ms) => expect(parseDuration(text)).toBe(ms));

  it.each(['', '30', '5 m', '30m1h', '1h1h', '-5s', '1.5h', '5M'])('rejects %j', (text) => expect(parseDuration(text)).toBeUndefined());

  it('formats back', () => expect([5_400_000, 30_000, 172_800_000, 0].map(formatDuration)).toEqual(['1h30m', '30s', '2d', '0s']));
});

describe('parsePlan', () => {
  it('reads the example plan and fills defaults', () => {
    const plan = parsePlan(examplePlan);
    expect(plan.metadata.name).toBe('shop');
    expect(plan.spec.source).toEqual({ context: 'source', clusterName: 'source', name: 'primary' });
    expect(plan.spec.target).toEqual({ context: 'target', clusterName: 'target' });
    expect(plan.spec.hooks).toEqual([
      { name: 'postgres', podSelector: { namespace: 'shop', matchLabels: { app: 'postgres' } }, container: 'postgres', preset: 'postgresql' },
    ]);
    expect(plan.spec.volumes).toEqual({ defaultMode: 'copy', byStorageClass: {}, byPvc: {} });
    expect(plan.spec.drill).toMatchObject({ schedule: '0 3 * * 1', namespaceSuffix: '-drill', pauseAfterFailures: 1 });
    expect(plan.spec.drill!.verify.map((c) => c.timeout)).toEqual(['30s']);
    expect(plan.spec.drill!.dataChecks.map((c) => c.name)).toEqual(['order-count']);
    expect(plan.spec.drill!.httpChecks).toEqual([{ name: 'storefront', service: { namespace: 'shop', name: 'web', port: 80 }, path: '/', expectStatus: 200, bodyContains: '<h1>shop</h1>', timeout: '60s' }]);
    expect(plan.spec.retention).toEqual({ keepLast: 3, keepDaily: 7, keepWeekly: 4 });
  });

  it('maps the store to a StoreRef without secrets', () => {
    expect(planToStoreRef(parsePlan(examplePlan))).toEqual({
      endpoint: 'http://127.0.0.1:9000',
      bucket: 'temporal-dr',
      prefix: 'plans',
      region: 'us-east-1',
      forcePathStyle: true,
      credentialsFromEnv: { accessKeyIdVar: 'AWS_ACCESS_KEY_ID', secretAccessKeyVar: 'AWS_SECRET_ACCESS_KEY' },
    });
  });

  it('fills hook step defaults: timeout 30s, onError fail', () => {
    const plan = parsePlan(
      minimal(`  hooks:
    - name: flush
      podSelector: { namespace: shop, matchLabels: { app: web } }
      pre: { command: [sh, -c, 'kill -USR1 1'] }
      post: { command: [sh, -c, 'kill -USR2 1'], timeout: 1m, onError: continue }
`),
    );
    expect(plan.spec.hooks[0].pre).toEqual({ command: ['sh', '-c', 'kill -USR1 1'], timeout: '30s', onError: 'fail' });
    expect(plan.spec.hooks[0].post).toEqual({ command: ['sh', '-c', 'kill -USR2 1'], timeout: '1m', onError: 'continue' });
  });

  it('is idempotent: a validated plan (as kept in a catalog) validates to itself', () => {
    const plan = parsePlan(examplePlan);
    expect(validatePlan(JSON.parse(JSON.stringify(plan)))).toEqual(plan);
  });

  it('reports every problem at once, with precise paths', () => {
    expect(
      issuesOf(`apiVersion: temporal-dr/v2
kind: DRPlan
metadata: { name: Shop_1 }
spec:
  source: {}
  selector: { namespaces: [], includeKinds: [deployment.apps/v1] }
  hook: []
  hooks:
    - name: db
      podSelector: { namespace: shop, matchLabels: { app: db } }
      pre: { command: [sh], timeout: 30x, onError: maybe }
    - name: freeze
      preset: fsfreeze
      podSelector: { namespace: shop, matchLabels: { app: db } }
  volumes: { defaultMode: copy-all }
  store:
    url: http://minio/bucket
    credentials: { fromEnv: { accessKeyIdVar: 1KEY } }
    encryption: { keyFrom: {} }
  retention: { keepLast: -1, keepDaily: 1.5 }
  rpo: soon
  transforms:
    - jsonPatch: [{ op: replace, path: spec/replicas, value: 1 }]
    - replicas: 1
      labels: { add: { restored: 'true' } }
  drill: { schedule: '0 25 * * *' }
`),
    ).toEqual([
      'apiVersion: expected "temporal-dr/v1", got "temporal-dr/v2"',
      'metadata.name: expected a DNS-1123 label: lowercase letters, digits and -, at most 63 characters',
      'spec.source.context: required',
      'spec.selector.namespaces: expected at least 1 item',
      'spec.selector.includeKinds[0]: expected a kind like Secret, apps/Deployment or widgets.example.com',
      'spec.hooks[0].pre.timeout: expected a duration like 30s',
      'spec.hooks[0].pre.onError: expected one of fail, continue, got "maybe"',
      'spec.hooks[1].presetOptions.mountPath: required for preset fsfreeze',
      'spec.volumes.defaultMode: expected one of copy, snapshot-then-copy, skip, got "copy-all"',
      'spec.store.url: expected s3://bucket/prefix',
      'spec.store.credentials.fromEnv.accessKeyIdVar: expected an environment variable name like AWS_ACCESS_KEY_ID',
      'spec.store.credentials.fromEnv.secretAccessKeyVar: required',
      'spec.store.encryption.keyFrom: set exactly one of env, secret, kms',
      'spec.retention.keepLast: must be at least 0',
      'spec.retention.keepDaily: expected an integer, got 1.5',
      'spec.transforms[0].jsonPatch[0].path: expected a JSON pointer like /spec/replicas',
      'spec.transforms[1]: a rule does one thing; split replicas and labels into separate rules',
      'spec.rpo: expected a duration like 30s',
      'spec.drill.schedule: hour field "25" must be within 0-23 (expected cron like "0 3 * * 1")',
      'spec.hook: unknown field (did you mean hooks?)',
    ]);
  });

  it('reports YAML syntax errors with line and column', () => {
    expect(issuesOf('apiVersion: temporal-dr/v1\nkind: DRPlan\nmetadata: { name: shop\nspec:\n  a: 1\n  a: 2\n')).toEqual([
      'line 4, column 1: Flow map in block collection must be sufficiently indented and end with a }',
      'line 6, column 3: Map keys must be unique',
    ]);
  });

  it('rejects a plan that is not a mapping', () => {
    expect(issuesOf('- just\n- a list\n')).toEqual(['(root): expected a mapping, got a list']);
  });

  it('checks hook shapes: session hooks write stdin, exec hooks run commands', () => {
    expect(
      issuesOf(
        minimal(`  hooks:
    - name: psql
      podSelector: { namespace: shop, matchLabels: { app: db } }
      session: true
      pre: { command: [psql] }
    - name: plain
      podSelector: { namespace: shop, matchLabels: { app: db } }
      markerStatement: 'echo {marker}'
      post: { stdin: 'UNLOCK TABLES;' }
    - name: both
      preset: mysql
      podSelector: { namespace: shop, matchLabels: { app: db } }
      pre: { command: [x] }
    - name: nothing
      podSelector: { namespace: shop, matchLabels: { app: db } }
`),
      ),
    ).toEqual([
      'spec.hooks[0].command: required for a session hook (the interactive program, e.g. [psql])',
      'spec.hooks[0].markerStatement: required for a session hook, e.g. "\\echo {marker}"',
      'spec.hooks[0].pre.command: a session hook writes stdin; put the program in the hook-level command',
      'spec.hooks[0].pre.stdin: required for a session hook',
      'spec.hooks[1].markerStatement: only used when session is true',
      'spec.hooks[1].post.command: required',
      'spec.hooks[1].post.stdin: only used when session is true',
      'spec.hooks[2].pre: not allowed with preset mysql; remove pre or the preset',
      'spec.hooks[3]: set a preset, or pre and/or post',
    ]);
  });

  it('reports duplicate hook names and contradictory kind filters', () => {
    expect(
      issuesOf(
        minimal(`  selector: { namespaces: [shop], includeKinds: [Secret], excludeKinds: [Secret] }
  hooks:
    - { name: db, preset: postgresql, podSelector: { namespace: shop, matchLabels: { app: db } } }
    - { name: db, preset: mysql, podSelector: { namespace: shop, matchLabels: { app: db2 } } }
`).replace('  selector: { namespaces: [shop] }\n', ''),
      ),
    ).toEqual(['spec.hooks[1].name: duplicate of spec.hooks[0].name "db"', 'spec.selector.excludeKinds[0]: Secret is also in includeKinds']);
  });

  it('refuses a retention that keeps nothing', () => {
    expect(issuesOf(minimal('  retention: { keepLast: 0 }\n'))).toEqual([
      'spec.retention: this would delete every recovery point; set keepLast to 1 or more, or remove retention',
    ]);
  });

  it('requires encryption and one credential source', () => {
    expect(
      issuesOf(`apiVersion: temporal-dr/v1
kind: DRPlan
metadata: { name: shop }
spec:
  source: { context: source }
  selector: { namespaces: [shop] }
  store:
    url: s3://temporal-dr
    credentials:
      fromEnv: { accessKeyIdVar: A, secretAccessKeyVar: B }
      fromSecret: { namespace: dr, name: s3, accessKeyIdKey: id, secretAccessKeyKey: secret }
`),
    ).toEqual(['spec.store.credentials: set exactly one of fromEnv, fromSecret', 'spec.store.encryption: required']);
  });
});

describe('volumeModeFor', () => {
  const volumes = parsePlan(
    minimal(`  volumes:
    defaultMode: copy
    byStorageClass: { fast-ssd: snapshot-then-copy, scratch: skip }
    byPvc: { 'shop/cache-*': skip, 'shop/data-postgres-0': copy }
`),
  ).spec.volumes;

  it('prefers a PVC rule, then the storage class, then the default', () => {
    expect(volumeModeFor(volumes, { namespace: 'shop', name: 'cache-redis-0', storageClass: 'fast-ssd' })).toBe('skip');
    expect(volumeModeFor(volumes, { namespace: 'shop', name: 'data-postgres-0', storageClass: 'fast-ssd' })).toBe('copy');
    expect(volumeModeFor(volumes, { namespace: 'shop', name: 'uploads', storageClass: 'fast-ssd' })).toBe('snapshot-then-copy');
    expect(volumeModeFor(volumes, { namespace: 'shop', name: 'uploads', storageClass: 'local-path' })).toBe('copy');
    expect(volumeModeFor(volumes, { namespace: 'other', name: 'cache-1' })).toBe('copy');
  });
});

describe('features the workers do not support yet', () => {
  it('rejects credentials and keys from a Secret with a pointer to what works', () => {
    const base = {
      apiVersion: 'temporal-dr/v1',
      kind: 'DRPlan',
      metadata: { name: 'p' },
      spec: {
        source: { context: 's' },
        selector: { namespaces: ['ns'] },
        store: {
          url: 's3://bucket/p',
          credentials: { fromSecret: { namespace: 'dr', name: 's3', accessKeyIdKey: 'id', secretAccessKeyKey: 'secret' } },
          encryption: { keyFrom: { secret: { namespace: 'dr', name: 'key', key: 'k' } } },
        },
      },
    };
    expect(() => validatePlan(base)).toThrow(/spec\.store\.credentials\.fromSecret: not supported by this release yet; use fromEnv/);
    expect(() => validatePlan(base)).not.toThrow(/keyFrom\.secret/);
  });

  test('keys from a Secret are accepted; planKeyRef reads them through the source context unless told otherwise', () => {
    const plan = validatePlan({
      apiVersion: 'temporal-dr/v1',
      kind: 'DRPlan',
      metadata: { name: 'p' },
      spec: { source: { context: 's' }, selector: { namespaces: ['ns'] }, store: { url: 's3://bucket/p', encryption: { keyFrom: { secret: { namespace: 'dr', name: 'key', key: 'k' } } } } },
    });
    expect(planKeyRef(plan)).toEqual({ secret: { namespace: 'dr', name: 'key', key: 'k' }, context: 's' });
    expect(planKeyRef(plan, 'standby')).toEqual({ secret: { namespace: 'dr', name: 'key', key: 'k' }, context: 'standby' });
    expect(planKeyEnv(plan)).toBeUndefined();
  });
});
