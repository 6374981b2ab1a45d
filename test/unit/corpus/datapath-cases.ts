/**
 * Datapath corpus: packs, index objects, volume manifests, repository configs and keys that are
 * truncated, bit-flipped, swapped with another point's, encrypted with another key, missing, or
 * listed by the store while get() says they do not exist. Generated on an in-memory store, two
 * recovery points (a and b), each with its own pack, index object and manifest.
 */
import { createHash } from 'node:crypto';
import { MemoryObjectStore } from '../../../activities/store/memory-object-store';
import type { StoredObject } from '../../../activities/store/object-store';
import { readMasterKey } from '../../../activities/store/open-repository';
import {
  ChunkCorruptedError,
  ChunkMissingError,
  CONFIG_KEY,
  InvalidEncryptionKeyError,
  readVolumeManifest,
  Repository,
  RepositoryFormatError,
  restoreTree,
  WrongEncryptionKeyError,
  type VolumeManifest,
} from '../../../activities/datapath';
import { DataCorruptionError, InvalidInputError, NotFoundError } from '../../../shared/errors';
import { newRepo, prng, rmrf, SMALL_CHUNKER, tempDir, testKey } from '../datapath/helpers';

/** A store that also lists `phantoms`: keys a listing shows but get(), getRange() and head() do not find. */
export class PhantomListingStore extends MemoryObjectStore {
  readonly phantoms = new Set<string>();

  override async *list(prefix: string): AsyncIterable<StoredObject> {
    const real: StoredObject[] = [];
    for await (const o of super.list(prefix)) real.push(o);
    const ghosts = [...this.phantoms].filter((k) => k.startsWith(prefix)).map((key) => ({ key, size: 4096, lastModified: new Date() }));
    yield* [...real, ...ghosts].sort((a, b) => a.key.localeCompare(b.key));
  }

  /** Removes `key` but keeps listing it. */
  ghost(key: string): void {
    this.objects.delete(key);
    this.phantoms.add(key);
  }
}

export interface Point {
  pack: string;
  index: string;
  manifest: string;
  chunks: string[];
}

export interface Fixture {
  store: PhantomListingStore;
  a: Point;
  b: Point;
}

const body = (f: Fixture, key: string): Buffer => {
  const o = f.store.objects.get(key);
  if (!o) throw new Error(`fixture has no object ${key}`);
  return o.body;
};
const replace = (f: Fixture, key: string, b: Buffer) => f.store.objects.set(key, { body: b, lastModified: new Date() });
const flipBit = (f: Fixture, key: string, offset: (length: number) => number, bit = 0) => {
  const b = Buffer.from(body(f, key));
  b[offset(b.length)]! ^= 1 << bit;
  replace(f, key, b);
};
const truncate = (f: Fixture, key: string, length: (full: number) => number) => replace(f, key, Buffer.from(body(f, key).subarray(0, length(body(f, key).length))));

function manifestFor(sessionId: string, chunks: [string, number][], data: Buffer, path = 'data.bin'): VolumeManifest {
  const now = new Date(0).toISOString();
  const meta = { mode: 0o644, uid: 0, gid: 0, mtimeNs: '1600000000000000000' };
  return {
    format: 'tdr-volume-snapshot',
    version: 1,
    sessionId,
    created: now,
    completed: now,
    source: { pvc: sessionId },
    chunker: SMALL_CHUNKER,
    summary: { files: 1, dirs: 1, symlinks: 0, bytes: data.length, skipped: 0, newBytesUploaded: 0, newChunkBytes: 0, dedupedBytes: 0, packsUploaded: 1, resumedFiles: 0, resumedBytes: 0 },
    skipped: [],
    entries: [
      { type: 'dir', path: '.', ...meta, mode: 0o755 },
      { type: 'file', path, ...meta, size: data.length, sha256: createHash('sha256').update(data).digest('hex'), chunks },
    ],
  };
}

async function writePoint(repo: Repository, store: MemoryObjectStore, name: string, seed: number): Promise<Point> {
  const packsBefore = new Set([...store.objects.keys()].filter((k) => k.startsWith('repo/packs/')));
  const parts = [1, 2, 3].map((i) => prng(seed * 10 + i, 20_000 + i * 1000));
  const chunks: [string, number][] = [];
  for (const p of parts) chunks.push([(await repo.addChunk(p)).id, p.length]);
  const index = (await repo.flush())!;
  const pack = [...store.objects.keys()].find((k) => k.startsWith('repo/packs/') && !packsBefore.has(k))!;
  const manifest = `points/${name}/volumes/data.snap`;
  await repo.putObject('manifest', manifest, manifestFor(name, chunks, Buffer.concat(parts)));
  return { pack, index, manifest, chunks: chunks.map(([id]) => id) };
}

export async function buildFixture(): Promise<Fixture> {
  const store = new PhantomListingStore();
  const { repo } = await newRepo(store);
  return { store, a: await writePoint(repo, store, 'a', 1), b: await writePoint(repo, store, 'b', 2) };
}

// The cases damage stored objects: read them as a host with no local copy of the index would.
const open = (f: Fixture) => Repository.open(f.store, testKey(), { keyRef: 'TDR_ENCRYPTION_KEY', indexCacheDir: 'off' });
const readChunk = async (f: Fixture, id: string) => (await open(f)).readChunk(id);
const readManifest = async (f: Fixture, key: string) => readVolumeManifest(await open(f), key);
const locate = async (f: Fixture, id: string) => (await open(f)).lookup(id)!;

async function restoreInto(f: Fixture, manifestKey: string): Promise<void> {
  const dir = await tempDir('tdr-corpus-');
  try {
    await restoreTree(await open(f), { manifestKey, target: dir, chown: false });
  } finally {
    await rmrf(dir);
  }
}

/** Seals `value` as `domain` under another repository's key, the way another repository would have stored it. */
async function sealedByAnotherRepository(domain: 'index' | 'manifest', value: unknown): Promise<Buffer> {
  const { repo } = await newRepo(new MemoryObjectStore(), testKey('another repository'));
  return repo.sealObject(domain, value);
}

async function rewriteManifest(f: Fixture, key: string, edit: (m: VolumeManifest) => void): Promise<void> {
  const repo = await open(f);
  const m = await readVolumeManifest(repo, key);
  edit(m);
  await repo.putObject('manifest', key, m);
}

type ErrorClass = abstract new (...args: never[]) => Error;

export interface DatapathCase {
  name: string;
  /** Damages the fixture, then reads it the way a restore, backup or index rebuild would. */
  run: (f: Fixture) => Promise<unknown>;
  /** `thrown`: the read fails with `error`; `reported`: an index rebuild lists the damaged packs as unreadable. */
  outcome: { thrown: ErrorClass } | { reported: 'unreadable' };
  /** What the message (or the report) must name: object keys, chunk ids, variables. */
  names: (f: Fixture) => string[];
  says?: RegExp;
  knownBug?: string;
}

const thrown = (error: ErrorClass) => ({ thrown: error });
const reported = { reported: 'unreadable' as const };

/** Deletes the index objects, then rebuilds the index from the pack trailers. */
async function rebuild(f: Fixture): Promise<{ unreadable: string[] }> {
  for (const k of [...f.store.objects.keys()]) if (k.startsWith('repo/index/')) f.store.objects.delete(k);
  return (await open(f)).rebuildIndex();
}

const packCases: DatapathCase[] = [
  {
    name: 'pack truncated to half: reading its last chunk',
    run: async (f) => (truncate(f, f.a.pack, (n) => n >> 1), readChunk(f, f.a.chunks[2]!)),
    outcome: thrown(ChunkCorruptedError),
    names: (f) => [f.a.pack, f.a.chunks[2]!],
    says: /pack truncated/,
  },
  {
    name: 'pack emptied to 0 bytes',
    run: async (f) => (truncate(f, f.a.pack, () => 0), readChunk(f, f.a.chunks[0]!)),
    outcome: thrown(ChunkCorruptedError),
    names: (f) => [f.a.pack, f.a.chunks[0]!],
    says: /range read returned 0 bytes/,
  },
  ...([
    ['nonce', (o: number) => o],
    ['ciphertext', (o: number, l: number) => o + (l >> 1)],
    ['tag', (o: number, l: number) => o + l - 1],
  ] as const).map(
    ([where, at]): DatapathCase => ({
      name: `pack bit-flipped in the ${where} of its second blob`,
      run: async (f) => {
        const loc = await locate(f, f.a.chunks[1]!);
        flipBit(f, f.a.pack, () => at(loc.offset, loc.length), 3);
        return readChunk(f, f.a.chunks[1]!);
      },
      outcome: thrown(ChunkCorruptedError),
      names: (f) => [f.a.pack, f.a.chunks[1]!],
      says: /authentication tag mismatch/,
    }),
  ),
  {
    name: "pack swapped with another point's pack",
    run: async (f) => (replace(f, f.a.pack, body(f, f.b.pack)), readChunk(f, f.a.chunks[1]!)),
    outcome: thrown(ChunkCorruptedError),
    names: (f) => [f.a.pack, f.a.chunks[1]!],
    says: /is corrupted: .*restore from another recovery point or replica/,
  },
  {
    name: 'pack deleted outside the garbage collector',
    run: async (f) => (f.store.objects.delete(f.a.pack), readChunk(f, f.a.chunks[0]!)),
    outcome: thrown(ChunkMissingError),
    names: (f) => [f.a.pack, f.a.chunks[0]!],
    says: /missing from memory:\/\//,
  },
  {
    name: 'store lists a pack that get() says does not exist',
    run: async (f) => (f.store.ghost(f.a.pack), readChunk(f, f.a.chunks[0]!)),
    outcome: thrown(ChunkMissingError),
    names: (f) => [f.a.pack, f.a.chunks[0]!],
  },
];

const rebuildCases: DatapathCase[] = [
  {
    name: 'index rebuild: pack trailer bit-flipped',
    run: async (f) => (flipBit(f, f.a.pack, (n) => n - 8 - 20), rebuild(f)),
    outcome: reported,
    names: (f) => [f.a.pack],
  },
  {
    name: 'index rebuild: pack footer magic bit-flipped',
    run: async (f) => (flipBit(f, f.a.pack, (n) => n - 1), rebuild(f)),
    outcome: reported,
    names: (f) => [f.a.pack],
  },
  {
    name: 'index rebuild: pack footer trailer length bit-flipped',
    run: async (f) => (flipBit(f, f.a.pack, (n) => n - 8, 2), rebuild(f)),
    outcome: reported,
    names: (f) => [f.a.pack],
  },
  {
    name: 'index rebuild: pack truncated by one byte',
    run: async (f) => (truncate(f, f.b.pack, (n) => n - 1), rebuild(f)),
    outcome: reported,
    names: (f) => [f.b.pack],
  },
  {
    name: 'index rebuild: store lists a pack that get() says does not exist',
    run: async (f) => (f.store.ghost(f.b.pack), rebuild(f)),
    outcome: reported,
    names: (f) => [f.b.pack],
  },
];

const indexCases: DatapathCase[] = [
  {
    name: 'index object truncated by 10 bytes',
    run: async (f) => (truncate(f, f.a.index, (n) => n - 10), open(f)),
    outcome: thrown(RepositoryFormatError),
    names: (f) => [f.a.index],
    says: /authentication tag mismatch .*: modified, damaged, or written with another key/,
  },
  {
    name: 'index object truncated to 5 bytes',
    run: async (f) => (truncate(f, f.b.index, () => 5), open(f)),
    outcome: thrown(RepositoryFormatError),
    names: (f) => [f.b.index],
    says: /shorter than the 28-byte envelope/,
  },
  ...([
    ['first byte', () => 0],
    ['middle', (n: number) => n >> 1],
    ['last byte', (n: number) => n - 1],
  ] as const).map(
    ([where, at]): DatapathCase => ({
      name: `index object bit-flipped at its ${where}`,
      run: async (f) => (flipBit(f, f.a.index, at, 7), open(f)),
      outcome: thrown(RepositoryFormatError),
      names: (f) => [f.a.index],
      says: /cannot be read: authentication tag mismatch/,
    }),
  ),
  {
    name: 'index object written by another repository (another key)',
    run: async (f) => (replace(f, f.a.index, await sealedByAnotherRepository('index', { v: 1, packs: [] })), open(f)),
    outcome: thrown(RepositoryFormatError),
    names: (f) => [f.a.index],
    says: /written with another key/,
  },
  {
    name: 'a manifest stored where an index object belongs',
    run: async (f) => (replace(f, f.a.index, body(f, f.a.manifest)), open(f)),
    outcome: thrown(RepositoryFormatError),
    names: (f) => [f.a.index],
  },
  {
    name: "index object swapped with another point's: reading a chunk it no longer lists",
    run: async (f) => (replace(f, f.a.index, body(f, f.b.index)), readChunk(f, f.a.chunks[0]!)),
    outcome: thrown(ChunkMissingError),
    names: (f) => [f.a.chunks[0]!],
    says: /not in the repository index at memory:\/\/; .*run an index rebuild/,
  },
  {
    name: 'store lists an index object that get() says does not exist',
    run: async (f) => (f.store.ghost(f.b.index), readChunk(f, f.b.chunks[2]!)),
    outcome: thrown(ChunkMissingError),
    names: (f) => [f.b.chunks[2]!],
  },
];

const manifestCases: DatapathCase[] = [
  {
    name: 'manifest truncated by 1 byte',
    run: async (f) => (truncate(f, f.a.manifest, (n) => n - 1), readManifest(f, f.a.manifest)),
    outcome: thrown(RepositoryFormatError),
    names: (f) => [f.a.manifest],
  },
  ...([
    ['first byte', () => 0],
    ['middle', (n: number) => n >> 1],
    ['last byte', (n: number) => n - 1],
  ] as const).map(
    ([where, at]): DatapathCase => ({
      name: `manifest bit-flipped at its ${where}`,
      run: async (f) => (flipBit(f, f.b.manifest, at, 5), readManifest(f, f.b.manifest)),
      outcome: thrown(RepositoryFormatError),
      names: (f) => [f.b.manifest],
      says: /authentication tag mismatch/,
    }),
  ),
  {
    name: 'manifest deleted',
    run: async (f) => (f.store.objects.delete(f.a.manifest), readManifest(f, f.a.manifest)),
    outcome: thrown(NotFoundError),
    names: (f) => [f.a.manifest],
    says: /check the recovery point's catalog/,
  },
  {
    name: 'store lists a manifest that get() says does not exist',
    run: async (f) => (f.store.ghost(f.a.manifest), restoreInto(f, f.a.manifest)),
    outcome: thrown(NotFoundError),
    names: (f) => [f.a.manifest],
  },
  {
    name: 'manifest written by another repository (another key)',
    run: async (f) => (replace(f, f.a.manifest, await sealedByAnotherRepository('manifest', {})), readManifest(f, f.a.manifest)),
    outcome: thrown(RepositoryFormatError),
    names: (f) => [f.a.manifest],
    says: /written with another key/,
  },
  {
    name: 'an index object stored where a manifest belongs',
    run: async (f) => (replace(f, f.a.manifest, body(f, f.a.index)), restoreInto(f, f.a.manifest)),
    outcome: thrown(RepositoryFormatError),
    names: (f) => [f.a.manifest],
  },
  {
    name: 'a sealed object that is not a volume manifest',
    run: async (f) => {
      await (await open(f)).putObject('manifest', f.a.manifest, { format: 'tdr-catalog', version: 3 });
      return readManifest(f, f.a.manifest);
    },
    outcome: thrown(RepositoryFormatError),
    names: (f) => [f.a.manifest],
    says: /not a volume snapshot manifest \(format tdr-catalog version 3\)/,
  },
  {
    name: 'manifest with a path that climbs out of the target',
    run: async (f) => (await rewriteManifest(f, f.a.manifest, (m) => (m.entries[1]!.path = '../escape.bin')), restoreInto(f, f.a.manifest)),
    outcome: thrown(DataCorruptionError),
    names: (f) => [f.a.manifest, '../escape.bin'],
    says: /unsafe path/,
  },
  {
    name: 'manifest with a NUL byte in a path',
    run: async (f) => (await rewriteManifest(f, f.b.manifest, (m) => (m.entries[1]!.path = 'data\0.bin')), restoreInto(f, f.b.manifest)),
    outcome: thrown(DataCorruptionError),
    names: (f) => [f.b.manifest],
    says: /unsafe path/,
  },
  {
    name: 'manifest naming a chunk no index lists',
    run: async (f) => (f.store.objects.delete(f.b.index), restoreInto(f, f.b.manifest)),
    outcome: thrown(ChunkMissingError),
    names: (f) => [f.b.chunks[0]!],
  },
  {
    name: "manifest file entry with another point's chunk list",
    run: async (f) => {
      const other = (await readManifest(f, f.b.manifest)).entries[1]!;
      await rewriteManifest(f, f.a.manifest, (m) => {
        if (m.entries[1]!.type === 'file' && other.type === 'file') Object.assign(m.entries[1]!, { chunks: other.chunks, size: other.size });
      });
      return restoreInto(f, f.a.manifest);
    },
    outcome: thrown(DataCorruptionError),
    names: (f) => [f.a.manifest, 'data.bin'],
    says: /does not verify: .*use another one/,
  },
];

const keyCases: DatapathCase[] = [
  {
    name: 'wrong key for the repository',
    run: async (f) => Repository.open(f.store, testKey('not this one'), { keyRef: 'TDR_ENCRYPTION_KEY' }),
    outcome: thrown(WrongEncryptionKeyError),
    names: () => ['memory://', 'TDR_ENCRYPTION_KEY'],
  },
  {
    name: 'key variable not set on the worker',
    run: async () => readMasterKey({ env: 'TDR_CORPUS_KEY' }, {}),
    outcome: thrown(InvalidInputError),
    names: () => ['TDR_CORPUS_KEY'],
    says: /is not set on this worker; set it/,
  },
  {
    name: 'key of 31 bytes',
    run: async () => readMasterKey({ env: 'TDR_CORPUS_KEY' }, { TDR_CORPUS_KEY: Buffer.alloc(31, 7).toString('base64') }),
    outcome: thrown(InvalidEncryptionKeyError),
    names: () => ['TDR_CORPUS_KEY'],
    says: /decodes to 31 bytes, expected 32/,
  },
  {
    name: 'key that is not base64',
    run: async () => readMasterKey({ env: 'TDR_CORPUS_KEY' }, { TDR_CORPUS_KEY: 'correct horse battery staple' }),
    outcome: thrown(InvalidEncryptionKeyError),
    names: () => ['TDR_CORPUS_KEY'],
    says: /not base64/,
  },
  {
    name: 'repository config truncated',
    run: async (f) => (truncate(f, CONFIG_KEY, (n) => n >> 1), open(f)),
    outcome: thrown(RepositoryFormatError),
    names: () => [CONFIG_KEY],
    says: /invalid JSON/,
  },
  {
    name: 'repository config with a bit-flipped format name',
    run: async (f) => (flipBit(f, CONFIG_KEY, () => body(f, CONFIG_KEY).indexOf('tdr-repository') + 4), open(f)),
    outcome: thrown(RepositoryFormatError),
    names: () => [CONFIG_KEY],
    says: /unsupported format/,
  },
  {
    name: 'repository config with a bit-flipped key check',
    run: async (f) => (flipBit(f, CONFIG_KEY, () => body(f, CONFIG_KEY).indexOf('"keyCheck"') + 14), open(f)),
    outcome: thrown(WrongEncryptionKeyError),
    names: () => ['memory://', 'TDR_ENCRYPTION_KEY'],
  },
  {
    name: 'store lists a repository config that get() says does not exist',
    run: async (f) => (f.store.ghost(CONFIG_KEY), open(f)),
    outcome: thrown(NotFoundError),
    names: () => [CONFIG_KEY, 'memory://'],
  },
  {
    name: 'repository config with bit-flipped chunker sizes: a backup starts',
    run: async (f) => {
      const text = body(f, CONFIG_KEY).toString('utf8').replace(`"avg": ${SMALL_CHUNKER.avg}`, `"avg": ${SMALL_CHUNKER.avg + 1}`);
      replace(f, CONFIG_KEY, Buffer.from(text));
      return (await open(f)).newChunker();
    },
    outcome: thrown(RepositoryFormatError),
    names: () => [CONFIG_KEY],
  },
];

export const DATAPATH_CASES: DatapathCase[] = [...packCases, ...rebuildCases, ...indexCases, ...manifestCases, ...keyCases];
