import { sealCatalog } from '../../../activities/catalog/catalog-auth';
import { latestPoint, newestPoint } from '../../../activities/catalog/points';
import { deriveKeys, generateMasterKey, parseMasterKey } from '../../../activities/datapath/crypto';
import { MemoryObjectStore } from '../../../activities/store/memory-object-store';
import { catalogKey, inProgressMarkerKey, parseCatalog, pointId } from '../../../shared/catalog';
import { catalog } from '../domain/catalog-fixture';

const keys = deriveKeys(parseMasterKey(generateMasterKey()));
const ids = Array.from({ length: 1000 }, (_, i) => pointId(new Date(Date.UTC(2026, 0, 1) + i * 60_000), `p${i}`));

/** A store with 1,000 signed points of plan shop (and an in-progress newer one), counting GETs. */
function storeWithPoints(): MemoryObjectStore & { gets: number } {
  const store = Object.assign(new MemoryObjectStore(), { gets: 0 });
  const get = store.get.bind(store);
  store.get = async (key: string) => (store.gets++, get(key));
  const base = parseCatalog(catalog());
  for (const id of ids) store.objects.set(catalogKey('shop', id), { body: Buffer.from(sealCatalog(keys, { ...base, planName: 'shop', pointId: id })), lastModified: new Date() });
  store.objects.set(inProgressMarkerKey('shop', pointId(new Date(Date.UTC(2027, 0, 1)), 'running')), { body: Buffer.from('{}'), lastModified: new Date() });
  return store;
}

describe('the newest point of a plan', () => {
  it('reads one catalog, however many points the plan has', async () => {
    const store = storeWithPoints();
    const newest = await newestPoint(store, 'shop', keys);
    expect(newest?.pointId).toBe(ids[999]);
    expect(newest?.catalog.pointId).toBe(ids[999]);
    expect(store.gets).toBe(1);
  });

  it('skips newer catalogs that do not authenticate, reading only those', async () => {
    const store = storeWithPoints();
    for (const id of ids.slice(997)) store.objects.set(catalogKey('shop', id), { body: Buffer.from(sealCatalog(deriveKeys(parseMasterKey(generateMasterKey())), { ...parseCatalog(catalog()), planName: 'shop', pointId: id })), lastModified: new Date() });
    expect(await latestPoint(store, 'shop', keys)).toBe(ids[996]);
    expect(store.gets).toBe(4);
  });

  it('is undefined for a plan without a complete point, and ignores other plans', async () => {
    const store = storeWithPoints();
    expect(await newestPoint(store, 'sho', keys)).toBeUndefined();
    await expect(latestPoint(store, 'other', keys)).rejects.toThrow('plan other has no complete recovery point in memory://');
  });
});
