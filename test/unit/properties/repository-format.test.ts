import fc from 'fast-check';
import { readVolumeManifest, Repository, RepositoryFormatError, type ManifestEntry, type VolumeManifest } from '../../../activities/datapath';
import { isSafeRelativePath } from '../../../activities/datapath/manifest';
import type { PackInfo } from '../../../activities/datapath/repository';
import { MemoryObjectStore } from '../../../activities/store/memory-object-store';
import { newRepo, SMALL_CHUNKER, testKey } from '../datapath/helpers';

const hex64 = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'));
const segment = fc.string({ minLength: 1, maxLength: 8 }).filter((s) => !s.includes('/') && !s.includes('\0') && s !== '.' && s !== '..');
const safePath = fc.array(segment, { minLength: 1, maxLength: 4 }).map((parts) => parts.join('/'));

const packInfo: fc.Arbitrary<PackInfo> = fc.record({
  id: hex64,
  size: fc.nat(1 << 24),
  entries: fc.array(fc.record({ id: hex64, offset: fc.nat(1 << 24), length: fc.nat(1 << 22), rawLength: fc.nat(1 << 22) }), { maxLength: 6 }),
});

const entryMeta = { mode: fc.nat(0o7777), uid: fc.nat(65535), gid: fc.nat(65535), mtimeNs: fc.bigInt({ min: 0n, max: 2n ** 62n }).map(String) };
const entry: fc.Arbitrary<ManifestEntry> = fc.oneof(
  fc.record({ type: fc.constant('dir' as const), path: safePath, ...entryMeta }),
  fc.record({ type: fc.constant('symlink' as const), path: safePath, target: fc.string({ maxLength: 20 }), ...entryMeta }),
  fc.record({
    type: fc.constant('file' as const),
    path: safePath,
    ...entryMeta,
    size: fc.nat(),
    sha256: hex64,
    chunks: fc.array(fc.tuple(hex64, fc.nat(1 << 22)), { maxLength: 5 }),
  }),
);

const manifest: fc.Arbitrary<VolumeManifest> = fc.record({
  format: fc.constant('tdr-volume-snapshot' as const),
  version: fc.constant(1 as const),
  sessionId: fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._-]{0,20}$/),
  created: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  completed: fc.date({ noInvalidDate: true }).map((d) => d.toISOString()),
  source: fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 10 }), { maxKeys: 3 }),
  chunker: fc.constant(SMALL_CHUNKER),
  summary: fc.record({
    files: fc.nat(),
    dirs: fc.nat(),
    symlinks: fc.nat(),
    bytes: fc.nat(),
    skipped: fc.nat(),
    newBytesUploaded: fc.nat(),
    newChunkBytes: fc.nat(),
    dedupedBytes: fc.nat(),
    packsUploaded: fc.nat(),
    resumedFiles: fc.nat(),
    resumedBytes: fc.nat(),
  }),
  skipped: fc.array(fc.record({ path: safePath, kind: fc.constantFrom('fifo', 'socket'), reason: fc.string({ maxLength: 20 }) }), { maxLength: 2 }),
  entries: fc.array(entry, { maxLength: 8 }),
});

const MANIFEST_KEY = 'points/p1/volumes/data.snap';

describe('index objects', () => {
  test('written pack lists load back: every blob is found in a pack that holds it, the first one within an index object', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(packInfo, { maxLength: 3 }), { minLength: 1, maxLength: 3 }), async (indexFiles) => {
        const { store, repo } = await newRepo(new MemoryObjectStore());
        for (const packs of indexFiles) await repo.writeIndex(packs);
        const loaded = await Repository.open(store, testKey());
        const where = new Map<string, { file: number; loc: { pack: string; offset: number; length: number; rawLength: number } }[]>();
        indexFiles.forEach((packs, file) => {
          for (const p of packs) for (const e of p.entries) where.set(e.id, [...(where.get(e.id) ?? []), { file, loc: { pack: p.id, offset: e.offset, length: e.length, rawLength: e.rawLength } }]);
        });
        for (const [id, candidates] of where) {
          const found = loaded.lookup(id);
          expect(candidates.map((c) => c.loc)).toContainEqual(found);
          if (candidates.every((c) => c.file === candidates[0]!.file)) expect(found).toEqual(candidates[0]!.loc);
        }
        expect(loaded.indexedChunks).toBe(where.size);
        expect(new Set(loaded.knownPacks().keys())).toEqual(new Set(indexFiles.flat().map((p) => p.id)));
      }),
      { numRuns: 40 },
    );
  });
});

describe('volume manifests', () => {
  test('round-trip through the store unchanged', async () => {
    await fc.assert(
      fc.asyncProperty(manifest, async (m) => {
        const { repo } = await newRepo(new MemoryObjectStore());
        await repo.putObject('manifest', MANIFEST_KEY, m);
        expect(await readVolumeManifest(repo, MANIFEST_KEY)).toEqual(m);
      }),
      { numRuns: 60 },
    );
  });

  test('any bit flip or truncation of a stored manifest is a RepositoryFormatError naming its key', async () => {
    const { store, repo } = await newRepo(new MemoryObjectStore());
    const damage = fc.oneof(
      fc.record({ flip: fc.nat(), bit: fc.nat(7) }),
      fc.record({ keep: fc.nat() }),
    );
    await fc.assert(
      fc.asyncProperty(manifest, damage, async (m, d) => {
        const sealed = await repo.putObject('manifest', MANIFEST_KEY, m);
        const damaged = Buffer.from(sealed);
        if ('flip' in d) damaged[d.flip % damaged.length]! ^= 1 << d.bit;
        store.objects.set(MANIFEST_KEY, { body: 'keep' in d ? damaged.subarray(0, d.keep % damaged.length) : damaged, lastModified: new Date() });
        const err = await readVolumeManifest(repo, MANIFEST_KEY).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(RepositoryFormatError);
        expect((err as Error).message).toContain(MANIFEST_KEY);
      }),
      { numRuns: 100 },
    );
  });

  test('restores accept only relative paths that stay inside the target', () => {
    const unsafe = fc.oneof(
      safePath.map((p) => `/${p}`),
      fc.tuple(safePath, fc.constantFrom('..', '.', ''), safePath).map(([a, bad, b]) => `${a}/${bad}/${b}`),
      fc.tuple(safePath, fc.nat()).map(([p, at]) => p.slice(0, at % p.length) + '\0' + p.slice(at % p.length)),
      fc.constantFrom('', '..', '../x', 'x/..', 'x//y', 'x/'),
    );
    fc.assert(
      fc.property(safePath, unsafe, (good, bad) => {
        expect(isSafeRelativePath(good)).toBe(true);
        expect(isSafeRelativePath(bad)).toBe(false);
      }),
      { numRuns: 500 },
    );
  });
});
