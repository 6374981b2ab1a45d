/**
 * Envelope encryption on the real stack (MinIO, the "source" kube-apiserver): a repository made
 * with key A (an env variable) is rotated by `drctl key rotate` to key B, held in a Secret on the
 * source cluster, with --revoke-old. Proves that:
 *  - only repo/config changes (every other object keeps its bytes);
 *  - the old point restores byte for byte with B; A no longer opens the repository;
 *  - a standby store created before the rotation gets the new config at the next ship, and then
 *    opens with B (and not with A), and both points restore from it.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import path from 'node:path';
import { Repository, restoreTree } from '../../activities/datapath';
import { CONFIG_KEY } from '../../activities/datapath/repository';
import { generateMasterKey } from '../../activities/datapath/crypto';
import { kekId } from '../../activities/datapath/crypto';
import { listAll, type ObjectStore } from '../../activities/store/object-store';
import { openStore } from '../../activities/store/open-store';
import { resolveKek } from '../../activities/store/open-repository';
import { shipPointBetween } from '../../activities/replication/ship-point';
import { volumeSnapshotKey } from '../../shared/catalog';
import { storeUrl, type KeyRef } from '../../shared/store-ref';
import { freshStore } from '../harness/store';
import { coreApi, freshNamespace, type TestNamespace } from '../harness/clusters';
import { completeCatalog, retentionPlan, storeWithRepository, type PointStore } from './point-fixture';
import { sealCatalog } from '../../activities/catalog/catalog-auth';
import { backupTree } from '../../activities/datapath';
import { catalogKey, resourcesKey, unsignedCatalogSchema } from '../../shared/catalog';
import { writeFile } from 'node:fs/promises';
import type { Plan } from '../../shared/plan';
import { prng, rmrf, tempDir } from '../unit/datapath/helpers';

const KEY_A = 'TDR_ENVELOPE_KEY_A';
const DRCTL = path.join(__dirname, '../../dist/client/drctl.js');
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function contents(store: ObjectStore): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const o of await listAll(store, '')) out.set(o.key, `${o.size}:${sha((await store.get(o.key))!)}`);
  return out;
}

/** A complete point with one volume (200 kB seeded by `seed`) and an empty, properly sealed resource bundle (shippable). */
async function completePoint(s: PointStore, plan: Plan, id: string, seed: number): Promise<void> {
  const dir = await tempDir('tdr-env-src-');
  try {
    await writeFile(join(dir, 'data.bin'), prng(seed, 200_000));
    const manifestKey = volumeSnapshotKey(plan.metadata.name, id, 'shop', 'data');
    const v = await backupTree(s.repo, { root: dir, manifestKey, sessionId: `s-${id}` });
    const bundle = s.repo.sealObject('manifest', { objects: [] });
    await s.store.put(resourcesKey(plan.metadata.name, id), bundle);
    await s.store.put(catalogKey(plan.metadata.name, id), sealCatalog(s.repo.keys, unsignedCatalogSchema.parse(completeCatalog(plan, id, bundle, v))));
  } finally {
    await rmrf(dir);
  }
}

describe('envelope encryption: rotation to a key in a Secret, revocation, replication', () => {
  let ns: TestNamespace;
  let s: PointStore;
  const dirs: string[] = [];

  afterAll(async () => {
    await ns?.cleanup();
    for (const d of dirs) await rmrf(d);
  });

  async function restoresByteForByte(store: ObjectStore, kek: Buffer, planName: string, id: string, seed: number) {
    const dst = await tempDir('tdr-env-');
    dirs.push(dst);
    await restoreTree(await Repository.open(store, kek), { manifestKey: volumeSnapshotKey(planName, id, 'shop', 'data'), target: join(dst, 'r') });
    expect(sha(await readFile(join(dst, 'r', 'data.bin')))).toBe(sha(prng(seed, 200_000)));
  }

  test('rotate A → B (Secret) with --revoke-old; data untouched; standby follows at the next ship', async () => {
    s = await storeWithRepository(KEY_A);
    const A = s.key;
    const plan = retentionPlan('envelope', s.ref, KEY_A, { keepLast: 10 });
    const planName = plan.metadata.name;
    await completePoint(s, plan, 'p1', 1);
    const standby = await freshStore('dr');
    await shipPointBetween(s.store, standby.store, A, { planName, pointId: 'p1' });

    ns = await freshNamespace('source', 'envelope');
    const B = randomBytes(32);
    await coreApi('source').createNamespacedSecret({
      namespace: ns.name,
      body: { metadata: { name: 'repo-key' }, data: { key: Buffer.from(B.toString('base64')).toString('base64') } },
    });
    const bRef: KeyRef = { secret: { namespace: ns.name, name: 'repo-key', key: 'key' }, context: 'source' };
    expect(await resolveKek(bRef)).toEqual(B);

    const before = await contents(s.store);
    const out = execFileSync(
      process.execPath,
      [DRCTL, 'key', 'rotate', '--store', storeUrl(s.ref), '--endpoint', s.ref.endpoint!, '--key-env', KEY_A, '--to-secret', `${ns.name}/repo-key/key`, '--to-context', 'source', '--revoke-old', '-o', 'json'],
      { env: process.env, encoding: 'utf8' },
    );
    expect(JSON.parse(out)).toMatchObject({ fromKek: kekId(A), toKek: kekId(B), revoked: true, upgradedFromV1: false, kekIds: [kekId(B)] });
    const after = await contents(s.store);
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    for (const [k, v] of before) if (k !== CONFIG_KEY) expect(`${k} ${after.get(k)}`).toBe(`${k} ${v}`);
    expect(after.get(CONFIG_KEY)).not.toBe(before.get(CONFIG_KEY));

    // The old point, with B; A is revoked.
    await restoresByteForByte(s.store, B, planName, 'p1', 1);
    await expect(Repository.open(s.store, A, { keyRef: `environment variable ${KEY_A}` })).rejects.toThrow(
      new RegExp(`check environment variable ${KEY_A} \\(it is not one of the repository's key-encryption keys: this key's id is ${kekId(A)}, repo/config lists ${kekId(B)}; .*revoked by \`drctl key rotate --revoke-old\``),
    );

    // A new point with B, shipped with B: the standby's stale config (only A) is replaced.
    s.repo = await Repository.open(s.store, B);
    await completePoint(s, plan, 'p2', 2);
    await expect(Repository.open(standby.store, B)).rejects.toThrow(/not one of the repository's key-encryption keys/);
    const shipped = await shipPointBetween(s.store, standby.store, B, { planName, pointId: 'p2' });
    expect(shipped.alreadyShipped).toBe(false);
    expect((await standby.store.get(CONFIG_KEY))!.equals((await s.store.get(CONFIG_KEY))!)).toBe(true);
    await expect(Repository.open(standby.store, A)).rejects.toThrow(/revoked/);
    await restoresByteForByte(standby.store, B, planName, 'p1', 1);
    await restoresByteForByte(standby.store, B, planName, 'p2', 2);
    // An already shipped point is recognised with the new key.
    expect((await shipPointBetween(s.store, openStore(standby.ref), B, { planName, pointId: 'p1' })).alreadyShipped).toBe(true);
  });

  test('creators racing on MinIO agree on one repository key (the config is a conditional PUT, If-None-Match: *)', async () => {
    const { store } = await freshStore('race');
    const kek = Buffer.from(generateMasterKey(), 'base64');
    const repos = await Promise.all(Array.from({ length: 4 }, () => Repository.init(store, kek)));
    expect(new Set(repos.map((r) => r.config.keyCheck)).size).toBe(1);
    const stored = (await store.get(CONFIG_KEY))!;
    expect(await store.putIfAbsent!(CONFIG_KEY, '{}')).toBe(false);
    expect((await store.get(CONFIG_KEY))!.equals(stored)).toBe(true);
    expect(await store.putIfAbsent!('repo/other', 'x')).toBe(true);
  });
});
