import { MemoryObjectStore } from '../../../activities/store/memory-object-store';
import {
  ChunkCorruptedError,
  ChunkMissingError,
  InvalidEncryptionKeyError,
  Repository,
  WrongEncryptionKeyError,
  generateMasterKey,
  parseMasterKey,
} from '../../../activities/datapath';
import { decryptBlob, deriveKeys, encryptBlob, kekId } from '../../../activities/datapath/crypto';
import { compressBlob, decompressBlob, compressionCodec } from '../../../activities/datapath/compress';
import { packKey } from '../../../activities/datapath/pack';
import { newRepo, prng, testKey, textish } from './helpers';

describe('crypto and compression', () => {
  test('blob roundtrip, tamper detection, domain separation', () => {
    const keys = deriveKeys(testKey());
    const plain = prng(3, 600_000);
    const blob = encryptBlob(keys, 'chunk', plain);
    expect(blob.length).toBe(plain.length + 28);
    expect(decryptBlob(keys, 'chunk', blob).equals(plain)).toBe(true);
    const bad = Buffer.from(blob);
    bad[1000] ^= 1;
    expect(() => decryptBlob(keys, 'chunk', bad)).toThrow(/authentication/);
    expect(() => decryptBlob(keys, 'index', blob)).toThrow(/authentication/);
    expect(() => decryptBlob(deriveKeys(testKey('other')), 'chunk', blob)).toThrow(/authentication/);
  });

  test('master key parsing gives clear errors', () => {
    const k = generateMasterKey();
    expect(parseMasterKey(k).length).toBe(32);
    expect(() => parseMasterKey('c2hvcnQ=', 'Secret dr/repo-key')).toThrow(InvalidEncryptionKeyError);
    expect(() => parseMasterKey('c2hvcnQ=', 'Secret dr/repo-key')).toThrow(/Secret dr\/repo-key.*5 bytes, expected 32/);
    expect(() => parseMasterKey('not base64 !!')).toThrow(/not base64/);
  });

  test('compression: zstd used, incompressible data stored raw', () => {
    expect(compressionCodec()).toBe('zstd');
    const text = textish(200_000);
    const [flag, payload] = compressBlob(text);
    expect(flag[0]).toBe(1);
    expect(payload.length).toBeLessThan(text.length / 2);
    expect(decompressBlob(Buffer.concat([flag, payload])).equals(text)).toBe(true);
    const rnd = prng(5, 200_000);
    const [f2, p2] = compressBlob(rnd);
    expect(f2[0]).toBe(0);
    expect(p2).toBe(rnd);
  });
});

describe('Repository', () => {
  test('init is idempotent; wrong key fails fast with a typed error naming location and key ref', async () => {
    const { store } = await newRepo();
    const configBefore = store.objects.get('repo/config')!.body;
    await Repository.init(store, testKey(), {});
    expect(store.objects.get('repo/config')!.body.equals(configBefore)).toBe(true);
    const err = await Repository.init(store, testKey('wrong'), { keyRef: "Secret dr-system/repo-key key 'key'" }).catch((e) => e);
    expect(err).toBeInstanceOf(WrongEncryptionKeyError);
    expect(err.name).toBe('WrongEncryptionKeyError');
    expect(err.message).toBe(
      "the encryption key does not match the repository at memory://; check Secret dr-system/repo-key key 'key' (it is not one of the repository's key-encryption keys: " +
        `this key's id is ${kekId(testKey('wrong'))}, repo/config lists ${kekId(testKey())}; it is another key, or it was revoked by \`drctl key rotate --revoke-old\`: use the key the last rotation moved to)`,
    );
    await expect(Repository.open(new MemoryObjectStore(), testKey())).rejects.toThrow(/no repository at memory:\/\//);
  });

  test('dedupes, packs many chunks per object, reads back verified', async () => {
    const { store, repo } = await newRepo();
    const chunks = Array.from({ length: 40 }, (_, i) => prng(i + 1, 100_000));
    const ids: string[] = [];
    for (const c of chunks) ids.push((await repo.addChunk(c)).id);
    expect((await repo.addChunk(chunks[3]!)).stored).toBe(false); // dedupe within the session
    await repo.flush();
    expect(repo.stats.chunksNew).toBe(40);
    expect(repo.stats.chunksDeduped).toBe(1);
    const packs = [...store.objects.keys()].filter((k) => k.startsWith('repo/packs/'));
    expect(packs.length).toBeGreaterThanOrEqual(3);
    expect(packs.length).toBeLessThanOrEqual(5); // 4 MB in 1 MiB packs, not 40 objects
    expect([...store.objects.keys()].filter((k) => k.startsWith('repo/index/'))).toHaveLength(1);

    const again = await Repository.open(store, testKey());
    expect(again.indexedChunks).toBe(40);
    expect((await again.addChunk(chunks[7]!)).stored).toBe(false); // dedupe across sessions
    for (let i = 0; i < chunks.length; i += 7) expect((await again.readChunk(ids[i]!)).equals(chunks[i]!)).toBe(true);
  });

  test('a corrupted pack byte gives ChunkCorruptedError naming chunk and pack', async () => {
    const { store, repo } = await newRepo();
    const { id } = await repo.addChunk(prng(9, 50_000));
    await repo.flush();
    const loc = repo.lookup(id)!;
    const key = packKey(loc.pack);
    store.objects.get(key)!.body[loc.offset + 100] ^= 0x40;
    const err = await repo.readChunk(id).catch((e) => e);
    expect(err).toBeInstanceOf(ChunkCorruptedError);
    expect(err.message).toContain(id);
    expect(err.message).toContain(key);
  });

  test('a missing pack gives ChunkMissingError; an unknown id too', async () => {
    const { store, repo } = await newRepo();
    const { id } = await repo.addChunk(prng(10, 50_000));
    await repo.flush();
    const key = packKey(repo.lookup(id)!.pack);
    store.objects.delete(key);
    const err = await repo.readChunk(id).catch((e) => e);
    expect(err).toBeInstanceOf(ChunkMissingError);
    expect(err.message).toContain(key);
    await expect(repo.readChunk('ab'.repeat(32))).rejects.toBeInstanceOf(ChunkMissingError);
  });

  test('the index can be rebuilt from pack trailers', async () => {
    const { store, repo } = await newRepo();
    const data = Array.from({ length: 30 }, (_, i) => prng(100 + i, 80_000));
    const ids = [];
    for (const d of data) ids.push((await repo.addChunk(d)).id);
    await repo.flush();
    for (const k of [...store.objects.keys()]) if (k.startsWith('repo/index/')) store.objects.delete(k);
    const fresh = await Repository.open(store, testKey());
    expect(fresh.indexedChunks).toBe(0);
    const r = await fresh.rebuildIndex();
    expect(r.unreadable).toEqual([]);
    expect(fresh.indexedChunks).toBe(30);
    expect((await fresh.readChunk(ids[17]!)).equals(data[17]!)).toBe(true);
  });

  test('upload concurrency is bounded', async () => {
    const store = new MemoryObjectStore();
    let inFlight = 0;
    let peak = 0;
    const put = store.put.bind(store);
    store.put = async (k, b) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, 5));
      await put(k, b);
      inFlight--;
    };
    const { repo } = await newRepo(store, testKey(), { packSize: 200_000, uploadConcurrency: 3 });
    for (let i = 0; i < 40; i++) await repo.addChunk(prng(500 + i, 100_000));
    await repo.flush();
    expect(repo.stats.packsUploaded).toBeGreaterThan(10);
    expect(peak).toBeLessThanOrEqual(3);
    expect(peak).toBeGreaterThanOrEqual(2);
  });
});
