import { MemoryObjectStore } from '../../../activities/store/memory-object-store';
import { Repository, WrongEncryptionKeyError } from '../../../activities/datapath';
import { CONFIG_KEY, parseRepositoryConfig, rotateConfig, unlockDataKey, type RepositoryConfig } from '../../../activities/datapath/repository';
import { deriveKeys, kekId, keyCheckValue, unwrapDataKey, wrapDataKey } from '../../../activities/datapath/crypto';
import { resolveKek } from '../../../activities/store/open-repository';
import { rotateRepositoryKey } from '../../../activities/store/rotate-key';
import { InvalidInputError } from '../../../shared/errors';
import { SMALL_CHUNKER, newRepo, prng, testKey } from './helpers';

const A = testKey('kek-a');
const B = testKey('kek-b');
const C = testKey('kek-c');
const configOf = (store: MemoryObjectStore) => parseRepositoryConfig(store.objects.get(CONFIG_KEY)!.body, store.location);

async function withChunk(store: MemoryObjectStore, kek: Buffer) {
  const { repo } = await newRepo(store, kek);
  const plain = prng(7, 300_000);
  const { id } = await repo.addChunk(plain);
  await repo.flush();
  return { id, plain };
}

describe('creating a repository', () => {
  test('a creator that lost the race to another uses the winner\'s repository key: the config is written only if absent', async () => {
    const store = new MemoryObjectStore();
    const winner = await Repository.init(store, A);
    // The loser read the store before the winner wrote: its first read of the config saw nothing.
    let stale = true;
    const loserView = Object.assign(Object.create(store) as MemoryObjectStore, {
      get: async (key: string) => (key === CONFIG_KEY && stale ? ((stale = false), undefined) : store.get(key)),
    });
    const loser = await Repository.init(loserView, A);
    expect(loser.config.keyCheck).toBe(winner.config.keyCheck);
    expect(configOf(store).keyCheck).toBe(winner.config.keyCheck);
  });
});

describe('key wrapping', () => {
  test('wrap/unwrap roundtrip; another key, a tampered entry or a swapped entry does not unwrap', () => {
    const dek = testKey('dek');
    const w = wrapDataKey(A, dek);
    expect(unwrapDataKey(A, w)).toEqual(dek);
    expect(wrapDataKey(A, dek)).not.toBe(w); // fresh nonce
    expect(unwrapDataKey(B, w)).toBeUndefined();
    const raw = Buffer.from(w, 'base64');
    raw[20] ^= 1;
    expect(unwrapDataKey(A, raw.toString('base64'))).toBeUndefined();
    expect(unwrapDataKey(A, 'c2hvcnQ=')).toBeUndefined();
  });

  test('kek ids are 16 hex, stable per key, distinct across keys, and not the key', () => {
    expect(kekId(A)).toMatch(/^[0-9a-f]{16}$/);
    expect(kekId(A)).toBe(kekId(Buffer.from(A)));
    expect(kekId(A)).not.toBe(kekId(B));
    expect(A.toString('hex')).not.toContain(kekId(A));
  });
});

describe('repository config version 2', () => {
  test('a new repository has a random data key wrapped under the key; the key check is of the data key', async () => {
    const s1 = new MemoryObjectStore();
    const s2 = new MemoryObjectStore();
    const { repo } = await newRepo(s1, A);
    await newRepo(s2, A);
    const c = configOf(s1);
    expect(c.version).toBe(2);
    expect(c.wrappedKeys).toEqual([{ kek: kekId(A), wrapped: expect.any(String) }]);
    expect(c.keyCheck).not.toBe(configOf(s2).keyCheck); // random per repository
    expect(c.keyCheck).not.toBe(keyCheckValue(deriveKeys(A)));
    const dek = unwrapDataKey(A, c.wrappedKeys![0]!.wrapped)!;
    expect(repo.keys).toEqual(deriveKeys(dek));
    expect(JSON.stringify(c)).not.toContain(dek.toString('base64'));
  });

  test('a version-1 config (the key is the repository key) still opens, and reads its data', async () => {
    const store = new MemoryObjectStore();
    const v1: RepositoryConfig = {
      format: 'tdr-repository', version: 1, created: new Date().toISOString(), chunker: SMALL_CHUNKER, compression: 'zstd',
      kdf: 'hkdf-sha256/v1', encryption: 'aes-256-gcm', chunkId: 'hmac-sha256', keyCheck: keyCheckValue(deriveKeys(A)),
    };
    await store.put(CONFIG_KEY, JSON.stringify(v1));
    const { id, plain } = await withChunk(store, A);
    const repo = await Repository.open(store, A);
    expect(repo.keys).toEqual(deriveKeys(A));
    expect(await repo.readChunk(id)).toEqual(plain);
    await expect(Repository.open(store, B, { keyRef: 'environment variable B' })).rejects.toThrow(/check environment variable B \(it must be the same 32-byte base64 key/);
  });

  test('wrong key and tampered entry fail with WrongEncryptionKeyError naming the key and what to do', async () => {
    const store = new MemoryObjectStore();
    await newRepo(store, A);
    const err = await Repository.open(store, B, { keyRef: "Secret dr/key, key 'k'" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WrongEncryptionKeyError);
    expect((err as Error).message).toContain(`check Secret dr/key, key 'k' (it is not one of the repository's key-encryption keys: this key's id is ${kekId(B)}`);
    const c = configOf(store);
    const raw = Buffer.from(c.wrappedKeys![0]!.wrapped, 'base64');
    raw[15] ^= 1;
    await store.put(CONFIG_KEY, JSON.stringify({ ...c, wrappedKeys: [{ kek: kekId(A), wrapped: raw.toString('base64') }] }));
    await expect(Repository.open(store, A)).rejects.toThrow(/does not authenticate \(the config was modified\)/);
    await store.put(CONFIG_KEY, JSON.stringify({ ...c, wrappedKeys: 'x' }));
    await expect(Repository.open(store, A)).rejects.toThrow(/version 2 without a valid wrappedKeys list/);
  });
});

describe('rotation', () => {
  test('rotate adds the new key, keeps the data key; --revoke-old removes the current key', async () => {
    const store = new MemoryObjectStore();
    const { id, plain } = await withChunk(store, A);
    const before = configOf(store);
    const after = rotateConfig(before, A, B, { location: 'memory://' });
    expect(after.keyCheck).toBe(before.keyCheck);
    expect(after.wrappedKeys!.map((w) => w.kek)).toEqual([kekId(B), kekId(A)]);
    expect(unlockDataKey(after, B, { location: 'm' })).toEqual(unlockDataKey(before, A, { location: 'm' }));
    const revoked = rotateConfig(after, B, C, { location: 'memory://', revokeCurrent: true });
    expect(revoked.wrappedKeys!.map((w) => w.kek)).toEqual([kekId(C), kekId(A)]);
    expect(() => unlockDataKey(revoked, B, { location: 'memory://', keyRef: 'environment variable B' })).toThrow(/revoked by `drctl key rotate --revoke-old`/);
    await store.put(CONFIG_KEY, JSON.stringify(revoked));
    expect(await (await Repository.open(store, C)).readChunk(id)).toEqual(plain);
  });

  test('rotateRepositoryKey writes only repo/config, updates standby copies, leaves other repositories alone', async () => {
    const store = new MemoryObjectStore();
    const { id, plain } = await withChunk(store, A);
    const standby = new MemoryObjectStore();
    await standby.put(CONFIG_KEY, store.objects.get(CONFIG_KEY)!.body);
    const other = new MemoryObjectStore();
    await newRepo(other, A);
    const empty = new MemoryObjectStore();
    const snapshot = new Map([...store.objects].map(([k, v]) => [k, v.body]));
    const r = await rotateRepositoryKey(store, A, B, { revokeOld: true, standbys: [standby, other, empty] });
    expect(r).toMatchObject({ fromKek: kekId(A), toKek: kekId(B), revoked: true, upgradedFromV1: false, kekIds: [kekId(B)] });
    expect(r.standbys.map((s) => s.outcome)).toEqual(['updated', 'other-repository', 'absent']);
    for (const [k, body] of snapshot) if (k !== CONFIG_KEY) expect(store.objects.get(k)!.body.equals(body)).toBe(true);
    expect([...store.objects.keys()].sort()).toEqual([...snapshot.keys()].sort());
    expect(await (await Repository.open(store, B)).readChunk(id)).toEqual(plain);
    await expect(Repository.open(store, A)).rejects.toThrow(WrongEncryptionKeyError);
    expect(standby.objects.get(CONFIG_KEY)!.body.equals(store.objects.get(CONFIG_KEY)!.body)).toBe(true);
    await expect(Repository.open(other, A)).resolves.toBeDefined();
    expect(empty.objects.size).toBe(0);
    await expect(rotateRepositoryKey(store, A, C)).rejects.toThrow(WrongEncryptionKeyError);
  });

  test('rotating a version-1 repository upgrades it to version 2 with the old key as data key; revoking it is refused', async () => {
    const store = new MemoryObjectStore();
    const v1 = {
      format: 'tdr-repository', version: 1, created: '2026-01-01T00:00:00Z', chunker: SMALL_CHUNKER, compression: 'zstd',
      kdf: 'hkdf-sha256/v1', encryption: 'aes-256-gcm', chunkId: 'hmac-sha256', keyCheck: keyCheckValue(deriveKeys(A)),
    };
    await store.put(CONFIG_KEY, JSON.stringify(v1));
    const { id, plain } = await withChunk(store, A);
    await expect(rotateRepositoryKey(store, A, B, { revokeOld: true })).rejects.toThrow(InvalidInputError);
    const r = await rotateRepositoryKey(store, A, B);
    expect(r.upgradedFromV1).toBe(true);
    const c = configOf(store);
    expect(c.version).toBe(2);
    expect(c.keyCheck).toBe(v1.keyCheck);
    expect(unwrapDataKey(B, c.wrappedKeys![0]!.wrapped)).toEqual(A);
    expect(await (await Repository.open(store, B)).readChunk(id)).toEqual(plain);
    expect(await (await Repository.open(store, A)).readChunk(id)).toEqual(plain);
  });
});

describe('resolveKek', () => {
  const key = A.toString('base64');
  test('env and Secret keys; errors name where the key comes from', async () => {
    expect(await resolveKek({ env: 'K' }, { env: { K: key } })).toEqual(A);
    await expect(resolveKek({ env: 'K' }, { env: {} })).rejects.toThrow(/environment variable K is not set/);
    const seen: unknown[] = [];
    const readSecret = async (ref: { namespace: string; name: string; key: string }, context?: string) => {
      seen.push([ref, context]);
      return ref.key === 'k' ? key : undefined;
    };
    expect(await resolveKek({ secret: { namespace: 'dr', name: 'repo-key', key: 'k' }, context: 'src' }, { readSecret })).toEqual(A);
    expect(seen).toEqual([[{ namespace: 'dr', name: 'repo-key', key: 'k' }, 'src']]);
    await expect(resolveKek({ secret: { namespace: 'dr', name: 'repo-key', key: 'other' } }, { readSecret })).rejects.toThrow(/Secret dr\/repo-key, key 'other' has no key 'other'/);
    await expect(resolveKek({ secret: { namespace: 'dr', name: 'repo-key', key: 'k' } }, { readSecret: async () => 'short' })).rejects.toThrow(/Secret dr\/repo-key, key 'k' is invalid/);
  });
});
