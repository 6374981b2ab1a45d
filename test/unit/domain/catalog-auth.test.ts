import { CatalogAuthenticationError, openCatalog, sealCatalog } from '../../../activities/catalog/catalog-auth';
import { deriveKeys, generateMasterKey, parseMasterKey } from '../../../activities/datapath/crypto';
import { parseCatalog } from '../../../shared/catalog';
import { DataCorruptionError } from '../../../shared/errors';
import { catalog } from './catalog-fixture';

const keys = deriveKeys(parseMasterKey(generateMasterKey()));
const id = '20261122T021500Z-abcd';
const at = { planName: 'shop', pointId: id, where: `s3://b/points/shop/${id}/catalog.json` };
const sealed = () => sealCatalog(keys, parseCatalog(catalog()));
const edit = (body: string, change: (c: any) => void) => {
  const c = JSON.parse(body);
  change(c);
  return JSON.stringify(c);
};

describe('catalog authentication', () => {
  it('opens what it sealed, as format 2 with a MAC', () => {
    const body = sealed();
    expect(JSON.parse(body)).toMatchObject({ formatVersion: 2, mac: expect.stringMatching(/^[0-9a-f]{64}$/) });
    const opened = openCatalog(keys, body, at);
    expect(opened.plan).toEqual(parseCatalog(catalog()).plan);
    // Layout does not matter, only content: re-serialised with other spacing and key order, it still opens.
    const reordered = JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(body)).reverse()));
    expect(openCatalog(keys, reordered, at).pointId).toBe(id);
  });

  it.each([
    ['a transform rule added to the plan', (c: any) => (c.plan.spec.transforms = [{ match: { kind: 'Deployment' }, patch: [{ op: 'replace', path: '/spec/replicas', value: 0 }] }])],
    ['an image rewritten', (c: any) => (c.images[0].containers[0].image = 'evil/postgres:16.4')],
    ['the bundle checksum replaced', (c: any) => (c.resources.bundle.sha256 = 'f'.repeat(64))],
    ['a volume dropped', (c: any) => c.volumes.pop()],
    ['a field added', (c: any) => (c.note = 'hello')],
    ['the MAC flipped', (c: any) => (c.mac = (c.mac[0] === '0' ? '1' : '0') + c.mac.slice(1))],
    ['the MAC truncated', (c: any) => (c.mac = c.mac.slice(0, 10))],
  ])('refuses a catalog with %s', (_what, change) => {
    const tampered = edit(sealed(), change);
    expect(() => openCatalog(keys, tampered, at)).toThrow(CatalogAuthenticationError);
    expect(() => openCatalog(keys, tampered, at)).toThrow(`${at.where} (point shop/${id}) failed authentication`);
  });

  it("refuses another point's catalog copied over this one", () => {
    const other = { ...at, pointId: '20261123T021500Z-ef01', where: 'elsewhere' };
    expect(() => openCatalog(keys, sealed(), other)).toThrow(/failed authentication/);
    expect(() => openCatalog(keys, sealed(), { ...at, planName: 'other-plan' })).toThrow(CatalogAuthenticationError);
  });

  it('refuses a catalog sealed with another key', () => {
    const otherKeys = deriveKeys(parseMasterKey(generateMasterKey()));
    expect(() => openCatalog(otherKeys, sealed(), at)).toThrow(/written with another key/);
  });

  it('refuses an unsigned format 1 catalog, saying what to do', () => {
    expect(() => openCatalog(keys, JSON.stringify(catalog()), at)).toThrow(CatalogAuthenticationError);
    expect(() => openCatalog(keys, JSON.stringify(catalog()), at)).toThrow(/carries no MAC: it was written by a release that did not sign catalogs.*take a new backup/);
  });

  it('reports a catalog that is not JSON as corrupt', () => {
    expect(() => openCatalog(keys, sealed().slice(0, 200), at)).toThrow(DataCorruptionError);
    expect(() => openCatalog(keys, '[]', at)).toThrow(/has no formatVersion/);
  });
});
