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
} from '../../../shared/catalog';
import { catalog, plan } from './catalog-fixture';
import { DataCorruptionError } from '../../../shared/errors';

const id = '20261122T021500Z-abcd';

describe('catalog', () => {
  it('round-trips through JSON with defaults filled', () => {
    const parsed = parseCatalog(JSON.stringify(catalog()));
    expect(parsed.resources.items[0].ownerRefs).toEqual([]);
    expect(parsed.volumes[1].hookArtifacts).toEqual([]);
    expect(parsed.plan).toEqual(plan);
    expect(parseCatalog(JSON.parse(JSON.stringify(parsed)))).toEqual(parsed);
  });

  it('refuses a newer format version with a typed error', () => {
    expect(() => parseCatalog({ ...catalog(), formatVersion: 3 })).toThrow(UnsupportedCatalogVersionError);
    expect(() => parseCatalog({ ...catalog(), formatVersion: 3 })).toThrow(
      'catalog formatVersion 3 is not supported (this release reads 1 and 2); upgrade drctl and the workers',
    );
  });

  it('requires a MAC from format 2 on', () => {
    expect(() => parseCatalog({ ...catalog(), formatVersion: 2 })).toThrow('mac: mac is required from formatVersion 2 on');
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
