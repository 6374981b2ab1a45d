import { readFileSync } from 'fs';
import { join } from 'path';
import {
  catalogKey,
  hookArtifactKey,
  inProgressMarkerKey,
  parseCatalog,
  parsePointKey,
  pointId,
  pointIdTime,
  pointPrefix,
  resourcesKey,
  sanitizeHookOutput,
  UnsupportedCatalogVersionError,
  volumeSnapshotKey,
  type CatalogInput,
} from '../../../shared/catalog';
import { DataCorruptionError } from '../../../shared/errors';
import { parsePlan } from '../../../shared/plan';

const plan = parsePlan(readFileSync(join(__dirname, '../../../examples/plan.yaml'), 'utf8'));
const sha = (c: string) => c.repeat(64);
const id = '20261122T021500Z-abcd';

const catalog = (): CatalogInput => ({
  formatVersion: 1,
  pointId: id,
  planName: 'shop',
  plan,
  status: 'complete',
  source: { clusterName: 'source', context: 'source', kubernetesVersion: 'v1.33.1' },
  createdAt: '2026-11-22T02:15:00Z',
  startedAt: '2026-11-22T02:15:00.120Z',
  completedAt: '2026-11-22T02:16:41.903Z',
  resources: {
    bundle: { key: resourcesKey('shop', id), sha256: sha('a'), size: 18234, encryption: 'aes-256-gcm' },
    items: [
      { apiVersion: 'apps/v1', kind: 'StatefulSet', namespace: 'shop', name: 'postgres', group: 'apps', resource: 'statefulsets', sha256: sha('b'), size: 2311 },
      { apiVersion: 'v1', kind: 'Secret', namespace: 'shop', name: 'postgres-auth', group: '', resource: 'secrets', sha256: sha('c'), keyed: true, size: 412 },
    ],
  },
  volumes: [
    {
      pvc: { namespace: 'shop', name: 'data-postgres-0' },
      pvName: 'pvc-0d6c3a1e-5d1b-4c8e-a0b2-7f1e2d3c4b5a',
      storageClass: 'local-path',
      size: '10Gi',
      mode: 'copy',
      node: 'node-1',
      snapshotKey: volumeSnapshotKey('shop', id, 'shop', 'data-postgres-0'),
      snapshotSha256: sha('d'),
      files: 1289,
      bytes: 48_234_112,
      hookArtifacts: [
        {
          hook: 'postgres',
          containerPath: '/var/lib/postgresql/data/backup_label',
          volumePath: 'pgdata/backup_label',
          key: hookArtifactKey('shop', id, 'shop', 'data-postgres-0', 'backup_label'),
          sha256: sha('e'),
          size: 231,
        },
      ],
    },
    { pvc: { namespace: 'shop', name: 'cache' }, size: '1Gi', mode: 'skip', files: 0, bytes: 0 },
  ],
  images: [{ kind: 'StatefulSet', namespace: 'shop', name: 'postgres', containers: [{ name: 'postgres', image: 'postgres:16.4' }] }],
  hooks: [
    { hook: 'postgres', pod: { namespace: 'shop', name: 'postgres-0' }, container: 'postgres', step: 'pre', result: 'ok', exitCode: 0, durationMs: 412, output: '0/3000028', outputTruncated: false },
  ],
  timings: [{ phase: 'discover', startedAt: '2026-11-22T02:15:00.200Z', durationMs: 1840 }],
  totals: { resources: 2, volumes: 2, files: 1289, bytes: 48_234_112, storedBytes: 21_004_331 },
});

describe('catalog', () => {
  it('round-trips through JSON with defaults filled', () => {
    const parsed = parseCatalog(JSON.stringify(catalog()));
    expect(parsed.resources.items[0].ownerRefs).toEqual([]);
    expect(parsed.volumes[1].hookArtifacts).toEqual([]);
    expect(parsed.plan).toEqual(plan);
    expect(parseCatalog(JSON.parse(JSON.stringify(parsed)))).toEqual(parsed);
  });

  it('refuses a newer format version with a typed error', () => {
    expect(() => parseCatalog({ ...catalog(), formatVersion: 2 })).toThrow(UnsupportedCatalogVersionError);
    expect(() => parseCatalog({ ...catalog(), formatVersion: 2 })).toThrow(
      'catalog formatVersion 2 is not supported (this release reads 1); upgrade drctl and the workers',
    );
  });

  it('reports corruption naming every bad field', () => {
    const bad = catalog() as any;
    bad.status = 'in-progress';
    bad.volumes[0].snapshotSha256 = undefined;
    bad.resources.items[1].sha256 = 'nothex';
    expect(() => parseCatalog(bad, 'points/shop/x/catalog.json')).toThrow(DataCorruptionError);
    expect(() => parseCatalog(bad, 'points/shop/x/catalog.json')).toThrow(
      [
        'points/shop/x/catalog.json is invalid:',
        '  status: expected "complete", got "in-progress"',
        '  resources.items[1].sha256: expected a hex SHA-256',
        '  volumes[0]: snapshotKey and snapshotSha256 are required unless mode is skip',
      ].join('\n'),
    );
    expect(() => parseCatalog('{"formatVersion": 1,')).toThrow(DataCorruptionError);
    expect(() => parseCatalog('[]')).toThrow('catalog has no formatVersion');
  });
});

describe('store layout', () => {
  it('point ids sort by time and read back', () => {
    expect(pointId(new Date('2026-11-22T02:15:00.789Z'), 'abcd')).toBe(id);
    expect(pointIdTime(id)).toEqual(new Date('2026-11-22T02:15:00Z'));
    const ids = [pointId(new Date('2026-11-22T10:00:00Z'), 'b'), pointId(new Date('2026-11-21T23:59:59Z'), 'z'), pointId(new Date('2027-01-01T00:00:00Z'), 'a')];
    expect([...ids].sort()).toEqual([ids[1], ids[0], ids[2]]);
    expect(() => pointId(new Date(), 'ABC')).toThrow('expected 1-16 lowercase letters or digits');
    expect(pointIdTime('latest')).toBeUndefined();
  });

  it('keys for one point', () => {
    expect(pointPrefix('shop', id)).toBe('points/shop/20261122T021500Z-abcd/');
    expect(catalogKey('shop', id)).toBe('points/shop/20261122T021500Z-abcd/catalog.json');
    expect(inProgressMarkerKey('shop', id)).toBe('points/shop/20261122T021500Z-abcd/in-progress.json');
    expect(resourcesKey('shop', id)).toBe('points/shop/20261122T021500Z-abcd/resources.bundle');
    expect(volumeSnapshotKey('shop', id, 'shop', 'data-postgres-0')).toBe('points/shop/20261122T021500Z-abcd/volumes/shop/data-postgres-0/snapshot.json');
    expect(parsePointKey(catalogKey('shop', id))).toEqual({ planName: 'shop', pointId: id });
    expect(parsePointKey('points/shop/junk/catalog.json')).toBeUndefined();
  });
});

describe('sanitizeHookOutput', () => {
  it('masks secrets and keeps the tail', () => {
    expect(sanitizeHookOutput('connecting with PGPASSWORD=hunter22 token: abc123\nok', { knownSecrets: ['s3cr3t-value'] })).toEqual({
      output: 'connecting with PGPASSWORD=*** token: ***\nok',
      truncated: false,
    });
    expect(sanitizeHookOutput('the key is s3cr3t-value', { knownSecrets: ['s3cr3t-value'] }).output).toBe('the key is ***');
    expect(sanitizeHookOutput('x'.repeat(10) + 'END', { maxChars: 5 })).toEqual({ output: 'xxEND', truncated: true });
  });
});
