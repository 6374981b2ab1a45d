/**
 * Content-addressed, encrypted chunk repository inside an ObjectStore, under `repo/`:
 *
 *   repo/config                  clear JSON: format, version, chunker params, codec, key check,
 *                                and (version 2) the repository key wrapped under each key-encryption key
 *   repo/packs/<2 hex>/<packId>  packs of ~16 MiB of encrypted blobs + encrypted trailer
 *   repo/index/<id>              encrypted, compressed JSON: packs → blobs (chunk id, offset, length, raw length)
 *   repo/sessions/<sessionId>    clear JSON marker of a backup in progress (no secrets: ids and times)
 *   repo/partials/<sessionId>/<seq>  encrypted partial manifests (resume checkpoints)
 *   repo/locks/gc-<id>           clear JSON marker of a garbage collection in progress
 *
 * One Repository instance per process/activity; not safe for concurrent addChunk callers
 * beyond the awaits it does itself (call addChunk sequentially).
 */
import { randomBytes } from 'node:crypto';
import type { ObjectStore } from '../store/object-store';
import { listAll } from '../store/object-store';
import { InvalidInputError, NotFoundError } from '../../shared/errors';
import { Chunker, DEFAULT_CHUNKER_PARAMS, gearTable, validateChunkerParams, type ChunkerParams } from './chunker';
import { compressBlob, compressionCodec, decompressBlob } from './compress';
import {
  BlobAuthenticationError,
  chunkId,
  generateDataKey,
  kekId,
  kekIdOf,
  unwrapDataKey,
  wrapDataKey,
  wrapDataKeyWith,
  type Kek,
  decryptBlob,
  deriveKeys,
  encryptBlob,
  keyCheckMatches,
  keyCheckValue,
  type BlobDomain,
  type RepositoryKeys,
} from './crypto';
import { ChunkCorruptedError, ChunkMissingError, RepositoryBusyError, RepositoryFormatError, WrongEncryptionKeyError } from './errors';
import { PACK_FOOTER_BYTES, PackWriter, packIdFromKey, packKey, parsePackFooter, parsePackTrailer, type FinishedPack, type PackEntry } from './pack';
import { mapLimit } from '../util/concurrency';
import { IndexCache } from './index-cache';

export const CONFIG_KEY = 'repo/config';
export const INDEX_PREFIX = 'repo/index/';
export const PACKS_PREFIX = 'repo/packs/';
export const SESSIONS_PREFIX = 'repo/sessions/';
export const PARTIALS_PREFIX = 'repo/partials/';
export const LOCKS_PREFIX = 'repo/locks/';

export const DEFAULT_PACK_SIZE = 16 * 1024 * 1024;
export const DEFAULT_UPLOAD_CONCURRENCY = 3;

/** The repository key (DEK) wrapped under one key-encryption key, named by its id (crypto.kekId). */
export interface WrappedKey {
  kek: string;
  wrapped: string;
}

/**
 * Version 1: the configured key is the repository key. Version 2: the repository key is random and
 * stored only in `wrappedKeys`; the configured key is a key-encryption key that unwraps one entry.
 */
export interface RepositoryConfig {
  format: 'tdr-repository';
  version: 1 | 2;
  created: string;
  chunker: ChunkerParams;
  /** Codec of new blobs when the repository was created (each blob carries its own flag). */
  compression: string;
  kdf: 'hkdf-sha256/v1';
  encryption: 'aes-256-gcm';
  chunkId: 'hmac-sha256';
  /** HMAC of a constant under a key derived from the repository key. */
  keyCheck: string;
  /** Version 2 only. */
  wrappedKeys?: WrappedKey[];
}

export interface RepositoryOptions {
  /** Where the key comes from, for error messages (e.g. "Secret dr-system/repo-key, key 'key'"). */
  keyRef?: string;
  /** Target pack size in bytes (a pack is sealed when it reaches it). */
  packSize?: number;
  /** Packs uploaded concurrently (2–4). */
  uploadConcurrency?: number;
  /** Chunker parameters, used only when the repository is created. */
  chunker?: ChunkerParams;
  /** Skip loading the index (e.g. for GC, which loads it itself). Default false. */
  skipIndex?: boolean;
  /**
   * Directory for local copies of index objects, so that an open fetches only the index objects
   * written since the last one on this host. They are kept sealed (encrypted and authenticated,
   * as stored). Default: TDR_INDEX_CACHE_DIR, else <tmpdir>/tdr-index-cache; "off" disables it.
   */
  indexCacheDir?: string;
}

export interface IndexLocation {
  pack: string;
  offset: number;
  length: number;
  rawLength: number;
}

export interface PackInfo {
  id: string;
  size: number;
  entries: PackEntry[];
}

export interface RepositoryStats {
  /** Plaintext bytes passed to addChunk. */
  bytesIn: number;
  chunksNew: number;
  chunksDeduped: number;
  bytesNew: number;
  bytesDeduped: number;
  packsUploaded: number;
  /** Bytes PUT to the store: packs, index objects and (via putObject) manifests. */
  bytesUploaded: number;
  putRequests: number;
  chunksRead: number;
  /** Bytes fetched with range GETs by readChunk/readChunks. */
  bytesRead: number;
  /** Range GETs issued by readChunk/readChunks (one per run of adjacent blobs). */
  rangeGets: number;
}

interface IndexFile {
  v: 1;
  packs: { id: string; size: number; blobs: [string, number, number, number][] }[];
}

export interface SessionMarker {
  sessionId: string;
  started: string;
  updated: string;
  manifestKey?: string;
  host?: string;
}

export class Repository {
  readonly location: string;
  private readonly index = new Map<string, IndexLocation>();
  private readonly indexCache: IndexCache | undefined;
  private readonly packs = new Map<string, PackInfo>();
  private readonly indexKeys = new Set<string>();
  /** Pack ids each loaded or written index object lists. */
  private readonly indexPacks = new Map<string, string[]>();
  private readonly pending = new Set<string>();
  private writer = new PackWriter();
  private readonly inflight = new Set<Promise<void>>();
  private unindexed: PackInfo[] = [];
  private uploadError: unknown;
  private readonly gear: Int32Array;
  readonly stats: RepositoryStats = {
    bytesIn: 0,
    chunksNew: 0,
    chunksDeduped: 0,
    bytesNew: 0,
    bytesDeduped: 0,
    packsUploaded: 0,
    bytesUploaded: 0,
    putRequests: 0,
    chunksRead: 0,
    bytesRead: 0,
    rangeGets: 0,
  };
  readonly packSize: number;
  readonly uploadConcurrency: number;

  private constructor(
    readonly store: ObjectStore,
    readonly keys: RepositoryKeys,
    readonly config: RepositoryConfig,
    opts: RepositoryOptions,
  ) {
    this.location = store.location;
    this.gear = gearTable(keys.gearSeed);
    this.packSize = opts.packSize ?? DEFAULT_PACK_SIZE;
    this.indexCache = IndexCache.forRepository(opts.indexCacheDir, store.location, config.keyCheck);
    this.uploadConcurrency = Math.max(1, opts.uploadConcurrency ?? DEFAULT_UPLOAD_CONCURRENCY);
  }

  /**
   * Opens the repository, creating it when absent (idempotent): a new repository is version 2, with
   * a random repository key wrapped under `kek`. Wrong key → WrongEncryptionKeyError.
   */
  static async init(store: ObjectStore, kek: Kek, opts: RepositoryOptions = {}): Promise<Repository> {
    const existing = await store.get(CONFIG_KEY);
    if (existing) return Repository.fromConfig(store, kek, existing, opts);
    const dek = generateDataKey();
    const keys = deriveKeys(dek);
    const chunker = opts.chunker ?? { ...DEFAULT_CHUNKER_PARAMS };
    validateChunkerParams(chunker);
    const config: RepositoryConfig = {
      format: 'tdr-repository',
      version: 2,
      created: new Date().toISOString(),
      chunker: { min: chunker.min, avg: chunker.avg, max: chunker.max },
      compression: compressionCodec(),
      kdf: 'hkdf-sha256/v1',
      encryption: 'aes-256-gcm',
      chunkId: 'hmac-sha256',
      keyCheck: keyCheckValue(keys),
      wrappedKeys: [{ kek: kekIdOf(kek), wrapped: await wrapDataKeyWith(kek, dek) }],
    };
    // Conditional where the store can: of two creators racing, one writes and both use its key.
    // (A store that ignores If-None-Match overwrites; the re-read keeps the window to one round trip.)
    if (store.putIfAbsent) await store.putIfAbsent(CONFIG_KEY, serializeConfig(config), { contentType: 'application/json' });
    else await store.put(CONFIG_KEY, serializeConfig(config), { contentType: 'application/json' });
    return Repository.fromConfig(store, kek, (await store.get(CONFIG_KEY)) ?? Buffer.from(JSON.stringify(config)), opts);
  }

  /** Opens an existing repository; NotFoundError when absent, WrongEncryptionKeyError on a wrong key. */
  static async open(store: ObjectStore, kek: Kek, opts: RepositoryOptions = {}): Promise<Repository> {
    const raw = await store.get(CONFIG_KEY);
    if (!raw) throw new NotFoundError(`no repository at ${store.location} (${CONFIG_KEY} is absent); run a backup first or check the store location`);
    return Repository.fromConfig(store, kek, raw, opts);
  }

  private static async fromConfig(store: ObjectStore, kek: Kek, raw: Buffer, opts: RepositoryOptions): Promise<Repository> {
    const config = parseRepositoryConfig(raw, store.location);
    const keys = deriveKeys(await unlockDataKeyWith(config, kek, { location: store.location, keyRef: opts.keyRef }));
    const repo = new Repository(store, keys, config, opts);
    if (!opts.skipIndex) await repo.loadIndex();
    return repo;
  }

  // ---------------------------------------------------------------- encrypted objects

  /** Serializes, compresses and encrypts a JSON value under `domain`. */
  sealObject(domain: BlobDomain, value: unknown): Buffer {
    const plain = Buffer.from(JSON.stringify(value));
    return encryptBlob(this.keys, domain, compressBlob(plain));
  }

  openObject<T>(domain: BlobDomain, key: string, body: Buffer): T {
    try {
      return JSON.parse(decompressBlob(decryptBlob(this.keys, domain, body)).toString('utf8')) as T;
    } catch (e) {
      const why = e instanceof BlobAuthenticationError ? `${e.message}: modified, damaged, or written with another key` : (e as Error).message;
      throw new RepositoryFormatError(key, this.location, why);
    }
  }

  async putObject(domain: BlobDomain, key: string, value: unknown): Promise<Buffer> {
    const body = this.sealObject(domain, value);
    await this.store.put(key, body);
    this.stats.bytesUploaded += body.length;
    this.stats.putRequests++;
    return body;
  }

  /**
   * Reads and opens a sealed object. One that fails authentication is read from its previous
   * versions (see getAuthentic); `evenIfDeleted` also reads past a delete marker, for objects an
   * authenticated reference requires (a catalog's manifests), never for index objects, which GC
   * deletes when it supersedes them.
   */
  async getObject<T>(domain: BlobDomain, key: string, opts: { evenIfDeleted?: boolean } = {}): Promise<T | undefined> {
    return (await this.fetchObject<T>(domain, key, opts))?.value;
  }

  /** getObject, with the stored body when the current version is the one that authenticated. */
  private async fetchObject<T>(domain: BlobDomain, key: string, opts: { evenIfDeleted?: boolean } = {}): Promise<{ value: T; current?: Buffer } | undefined> {
    const older = async () => {
      const value = await this.openPreviousVersion<T>(domain, key);
      return value === undefined ? undefined : { value };
    };
    const body = await this.store.get(key);
    if (body === undefined) return opts.evenIfDeleted ? older() : undefined;
    try {
      return { value: this.openObject<T>(domain, key, body), current: body };
    } catch (e) {
      const found = await older();
      if (found === undefined) throw e;
      return found;
    }
  }

  private async openPreviousVersion<T>(domain: BlobDomain, key: string): Promise<T | undefined> {
    for (const versionId of (await this.store.previousVersions?.(key)) ?? []) {
      const body = await this.store.get(key, { versionId });
      if (body === undefined) continue;
      try {
        return this.openObject<T>(domain, key, body);
      } catch {
        // not this one
      }
    }
    return undefined;
  }

  // ---------------------------------------------------------------- chunker

  newChunker(): Chunker {
    return new Chunker(this.config.chunker, this.gear);
  }

  // ---------------------------------------------------------------- index

  /**
   * Brings the in-memory index up to the store's index objects. Only objects not loaded yet are
   * fetched (from the local cache when it holds them); when one that was loaded is gone (GC
   * superseded it), the index is rebuilt from all of them, since its packs may be gone too.
   * Chunks pending in this session are kept.
   */
  async loadIndex(): Promise<void> {
    const listed = (await listAll(this.store, INDEX_PREFIX)).map((o) => o.key);
    const listedSet = new Set(listed);
    const incremental = [...this.indexKeys].every((k) => listedSet.has(k));
    const keys = incremental ? listed.filter((k) => !this.indexKeys.has(k)) : listed;
    const files = await mapLimit(keys, 8, async (key) => ({ key, file: await this.readIndexObject(key) }));
    if (!incremental) {
      this.index.clear();
      this.packs.clear();
      this.indexKeys.clear();
      this.indexPacks.clear();
    }
    for (const { key, file } of files) {
      if (!file) continue; // deleted between list and get (GC rewrite)
      this.indexKeys.add(key);
      this.indexPacks.set(key, file.packs.map((p) => p.id));
      for (const p of file.packs) this.addPackToIndex({ id: p.id, size: p.size, entries: p.blobs.map(([id, offset, length, rawLength]) => ({ id, offset, length, rawLength })) });
    }
    for (const p of this.unindexed) this.addPackToIndex(p);
    await this.indexCache?.keepOnly(listedSet);
  }

  /** An index object, from the local cache when it holds a copy that authenticates. */
  private async readIndexObject(key: string): Promise<IndexFile | undefined> {
    const cached = await this.indexCache?.get(key);
    if (cached) {
      try {
        return this.openObject<IndexFile>('index', key, cached);
      } catch {
        // damaged or from another repository: fetch it again
      }
    }
    const got = await this.fetchObject<IndexFile>('index', key);
    if (got?.current) await this.indexCache?.put(key, got.current);
    return got?.value;
  }

  private addPackToIndex(p: PackInfo): void {
    this.packs.set(p.id, p);
    for (const e of p.entries) {
      if (!this.index.has(e.id)) this.index.set(e.id, { pack: p.id, offset: e.offset, length: e.length, rawLength: e.rawLength });
    }
  }

  /** True when the chunk is stored (indexed) or queued in this session. */
  has(id: string): boolean {
    return this.index.has(id) || this.pending.has(id);
  }

  lookup(id: string): IndexLocation | undefined {
    return this.index.get(id);
  }

  get indexedChunks(): number {
    return this.index.size;
  }

  /** Packs known to the loaded index (for GC). */
  knownPacks(): ReadonlyMap<string, PackInfo> {
    return this.packs;
  }

  loadedIndexKeys(): string[] {
    return [...this.indexKeys];
  }

  /** Writes one index object describing `packs`; returns its key. */
  async writeIndex(packs: PackInfo[]): Promise<string> {
    const file: IndexFile = { v: 1, packs: packs.map((p) => ({ id: p.id, size: p.size, blobs: p.entries.map((e) => [e.id, e.offset, e.length, e.rawLength]) })) };
    const body = this.sealObject('index', file);
    const key = INDEX_PREFIX + randomBytes(16).toString('hex');
    await this.store.put(key, body);
    await this.indexCache?.put(key, body);
    this.stats.bytesUploaded += body.length;
    this.stats.putRequests++;
    // A key counts as loaded (loadIndex skips it) only with its packs in the index: the caller may
    // index packs this instance never uploaded (replication indexes the packs it copied).
    this.indexKeys.add(key);
    this.indexPacks.set(key, packs.map((p) => p.id));
    for (const p of packs) this.addPackToIndex(p);
    return key;
  }

  /** The index objects (loaded or written by this instance) that list any of `packIds`. */
  indexKeysListing(packIds: ReadonlySet<string>): string[] {
    return [...this.indexPacks].filter(([, ids]) => ids.some((id) => packIds.has(id))).map(([key]) => key);
  }

  /** The pack ids a loaded index object lists. */
  packsListedBy(indexKey: string): readonly string[] {
    return this.indexPacks.get(indexKey) ?? [];
  }

  // ---------------------------------------------------------------- write path

  /** Stores a chunk unless an identical one is already stored. Call sequentially. */
  async addChunk(plain: Buffer): Promise<{ id: string; stored: boolean }> {
    this.throwUploadError();
    const id = chunkId(this.keys, plain);
    this.stats.bytesIn += plain.length;
    if (this.index.has(id) || this.pending.has(id)) {
      this.stats.chunksDeduped++;
      this.stats.bytesDeduped += plain.length;
      return { id, stored: false };
    }
    const blob = encryptBlob(this.keys, 'chunk', compressBlob(plain));
    this.pending.add(id);
    this.writer.add(id, blob, plain.length);
    this.stats.chunksNew++;
    this.stats.bytesNew += plain.length;
    if (this.writer.size >= this.packSize) await this.sealPack();
    return { id, stored: true };
  }

  private throwUploadError(): void {
    if (this.uploadError !== undefined) throw this.uploadError;
  }

  private async sealPack(): Promise<void> {
    if (this.writer.count === 0) return;
    const pack = this.writer.finish(this.keys);
    const p = this.uploadPack(pack).then(
      () => {
        this.inflight.delete(p);
      },
      (e: unknown) => {
        this.inflight.delete(p);
        this.uploadError ??= e;
      },
    );
    this.inflight.add(p);
    while (this.inflight.size >= this.uploadConcurrency) await Promise.race(this.inflight);
    this.throwUploadError();
  }

  private async uploadPack(pack: FinishedPack): Promise<void> {
    await this.store.put(packKey(pack.id), pack.body, { contentType: 'application/octet-stream' });
    this.stats.packsUploaded++;
    this.stats.bytesUploaded += pack.body.length;
    this.stats.putRequests++;
    const info: PackInfo = { id: pack.id, size: pack.body.length, entries: pack.entries };
    this.addPackToIndex(info);
    for (const e of pack.entries) this.pending.delete(e.id);
    this.unindexed.push(info);
  }

  /**
   * Makes everything added so far durable: seals the open pack, waits for all uploads, writes an
   * index object for the packs uploaded since the last flush. Returns the index key, if any.
   */
  async flush(): Promise<string | undefined> {
    await this.sealPack();
    while (this.inflight.size) await Promise.race(this.inflight);
    this.throwUploadError();
    if (this.unindexed.length === 0) return undefined;
    const packs = this.unindexed;
    const key = await this.writeIndex(packs);
    this.unindexed = [];
    return key;
  }

  /** Waits for in-flight uploads without raising (used when abandoning a session). */
  async settle(): Promise<void> {
    while (this.inflight.size) await Promise.race(this.inflight);
  }

  // ---------------------------------------------------------------- read path

  /** Reads one chunk with a range GET and verifies it (GCM tag, decompression, HMAC id). */
  async readChunk(id: string): Promise<Buffer> {
    return (await this.readChunks([id]))[0]!;
  }

  /**
   * Reads chunks that are stored back to back in one pack (see `adjacent`) with a single range
   * GET, and verifies each one (GCM tag, decompression, length, HMAC id). Returns the plaintexts
   * in the order of `ids`. Ids that are not adjacent are still read correctly, one GET per run.
   */
  async readChunks(ids: readonly string[]): Promise<Buffer[]> {
    const locs = ids.map((id) => {
      const loc = this.index.get(id);
      if (!loc) throw new ChunkMissingError(id, undefined, this.location);
      return loc;
    });
    const out: Buffer[] = [];
    for (let i = 0; i < ids.length; ) {
      let j = i + 1;
      while (j < ids.length && Repository.adjacentLocs(locs[j - 1]!, locs[j]!)) j++;
      const first = locs[i]!;
      const last = locs[j - 1]!;
      const key = packKey(first.pack);
      const span = last.offset + last.length - first.offset;
      const [from, to] = [i, j];
      const openRun = (raw: Buffer): Buffer[] => {
        if (raw.length !== span) {
          throw new ChunkCorruptedError(ids[from]!, key, this.location, `range read returned ${raw.length} bytes, expected ${span} (pack truncated)`);
        }
        const plains: Buffer[] = [];
        for (let k = from; k < to; k++) {
          const loc = locs[k]!;
          plains.push(this.openChunk(ids[k]!, key, raw.subarray(loc.offset - first.offset, loc.offset - first.offset + loc.length), loc));
        }
        return plains;
      };
      let plains: Buffer[];
      try {
        let raw: Buffer;
        try {
          raw = await this.store.getRange(key, first.offset, span);
        } catch (e) {
          let exists = true;
          try {
            exists = (await this.store.head(key)) !== undefined;
          } catch {
            /* report the original error */
          }
          if (!exists) throw new ChunkMissingError(ids[from]!, key, this.location);
          throw e;
        }
        this.stats.rangeGets++;
        this.stats.bytesRead += raw.length;
        plains = openRun(raw);
      } catch (e) {
        // A pack overwritten or deleted in a versioned (Object Lock) bucket: its locked version
        // is still there, and the chunks' keyed ids say which version is genuine.
        const older = await this.runFromPreviousVersion(key, first.offset, span, openRun);
        if (!older) throw e;
        plains = older;
      }
      out.push(...plains);
      this.stats.chunksRead += plains.length;
      i = j;
    }
    return out;
  }

  private async runFromPreviousVersion(key: string, offset: number, span: number, openRun: (raw: Buffer) => Buffer[]): Promise<Buffer[] | undefined> {
    for (const versionId of (await this.store.previousVersions?.(key)) ?? []) {
      try {
        const plains = openRun(await this.store.getRange(key, offset, span, { versionId }));
        this.stats.rangeGets++;
        this.stats.bytesRead += span;
        return plains;
      } catch {
        // not this one
      }
    }
    return undefined;
  }

  /** True when chunk `b` starts where chunk `a` ends in the same pack (one range GET reads both). */
  adjacent(a: string, b: string): boolean {
    const la = this.index.get(a);
    const lb = this.index.get(b);
    return la !== undefined && lb !== undefined && Repository.adjacentLocs(la, lb);
  }

  private static adjacentLocs(a: IndexLocation, b: IndexLocation): boolean {
    return a.pack === b.pack && b.offset === a.offset + a.length;
  }

  private openChunk(id: string, key: string, raw: Buffer, loc: IndexLocation): Buffer {
    let plain: Buffer;
    try {
      plain = decompressBlob(decryptBlob(this.keys, 'chunk', raw));
    } catch (e) {
      throw new ChunkCorruptedError(id, key, this.location, (e as Error).message);
    }
    if (plain.length !== loc.rawLength) throw new ChunkCorruptedError(id, key, this.location, `plaintext is ${plain.length} bytes, index says ${loc.rawLength}`);
    if (chunkId(this.keys, plain) !== id) throw new ChunkCorruptedError(id, key, this.location, 'content does not match its id (HMAC-SHA256)');
    return plain;
  }

  // ---------------------------------------------------------------- recovery

  /** Reads the trailer of every pack missing from the index and writes index objects for them. */
  async rebuildIndex(): Promise<{ packsScanned: number; packsAdded: number; unreadable: string[] }> {
    const objects = await listAll(this.store, PACKS_PREFIX);
    const unreadable: string[] = [];
    const added: PackInfo[] = [];
    await mapLimit(objects, 4, async (o) => {
      const id = packIdFromKey(o.key);
      if (!id || this.packs.has(id)) return;
      try {
        const footer = await this.store.getRange(o.key, o.size - PACK_FOOTER_BYTES, PACK_FOOTER_BYTES);
        const tlen = parsePackFooter(footer);
        const trailer = await this.store.getRange(o.key, o.size - PACK_FOOTER_BYTES - tlen, tlen);
        added.push({ id, size: o.size, entries: parsePackTrailer(this.keys, trailer) });
      } catch {
        unreadable.push(o.key);
      }
    });
    if (added.length) {
      await this.writeIndex(added);
      for (const p of added) this.addPackToIndex(p);
    }
    return { packsScanned: objects.length, packsAdded: added.length, unreadable };
  }

  // ---------------------------------------------------------------- sessions and locks

  /**
   * Registers a backup session (marker `repo/sessions/<id>`, start time kept across resumes),
   * waits while a GC holds the repository, then reloads the index so dedupe only uses packs that
   * GC can no longer delete while this session is alive.
   */
  async startSession(sessionId: string, info: { manifestKey?: string; host?: string } = {}, opts: { lockWaitMs?: number; lockStaleMs?: number } = {}): Promise<SessionMarker> {
    assertSafeId(sessionId, 'sessionId');
    const key = SESSIONS_PREFIX + sessionId;
    const prev = await this.readSession(sessionId);
    const now = new Date().toISOString();
    const marker: SessionMarker = { sessionId, started: prev?.started ?? now, updated: now, ...info };
    await this.store.put(key, JSON.stringify(marker), { contentType: 'application/json' });
    const deadline = Date.now() + (opts.lockWaitMs ?? 60_000);
    const staleMs = opts.lockStaleMs ?? 6 * 3600_000;
    for (;;) {
      const locks = (await listAll(this.store, LOCKS_PREFIX)).filter((l) => !l.lastModified || Date.now() - l.lastModified.getTime() < staleMs);
      if (locks.length === 0) break;
      if (Date.now() >= deadline) {
        await this.store.delete([key]).catch(() => undefined);
        throw new RepositoryBusyError(this.location, locks[0]!.key);
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
    await this.loadIndex();
    return marker;
  }

  async readSession(sessionId: string): Promise<SessionMarker | undefined> {
    const raw = await this.store.get(SESSIONS_PREFIX + sessionId);
    if (!raw) return undefined;
    try {
      return JSON.parse(raw.toString('utf8')) as SessionMarker;
    } catch {
      return undefined;
    }
  }

  /** Refreshes the marker's `updated` time (GC treats sessions not updated for long as abandoned). */
  async touchSession(marker: SessionMarker): Promise<void> {
    marker.updated = new Date().toISOString();
    await this.store.put(SESSIONS_PREFIX + marker.sessionId, JSON.stringify(marker), { contentType: 'application/json' });
  }

  /** Removes the session marker and its partial manifests. */
  async endSession(sessionId: string): Promise<void> {
    const partials = (await listAll(this.store, `${PARTIALS_PREFIX}${sessionId}/`)).map((o) => o.key);
    if (partials.length) await this.store.delete(partials);
    await this.store.delete([SESSIONS_PREFIX + sessionId]);
  }
}

/** Session ids become object keys: keep them to a safe alphabet. */
export function assertSafeId(id: string, field: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/.test(id)) {
    throw new InvalidInputError(`${field} "${id}" is invalid: use 1–200 characters of [A-Za-z0-9._-], starting with a letter or digit`);
  }
}

/** Parses and checks repo/config (format, version, chunker, wrapped keys); RepositoryFormatError otherwise. */
export function parseRepositoryConfig(raw: Buffer, location: string): RepositoryConfig {
  let config: RepositoryConfig;
  try {
    config = JSON.parse(raw.toString('utf8')) as RepositoryConfig;
  } catch (e) {
    throw new RepositoryFormatError(CONFIG_KEY, location, `invalid JSON (${(e as Error).message})`);
  }
  if (typeof config !== 'object' || config === null || config.format !== 'tdr-repository' || (config.version !== 1 && config.version !== 2)) {
    throw new RepositoryFormatError(CONFIG_KEY, location, `unsupported format ${config?.format} version ${config?.version}`);
  }
  try {
    validateChunkerParams(config.chunker);
  } catch (e) {
    throw new RepositoryFormatError(CONFIG_KEY, location, (e as Error).message);
  }
  if (config.version === 2) {
    const ok = Array.isArray(config.wrappedKeys) && config.wrappedKeys.every((w) => typeof w?.kek === 'string' && typeof w?.wrapped === 'string');
    if (!ok) throw new RepositoryFormatError(CONFIG_KEY, location, 'version 2 without a valid wrappedKeys list');
  }
  return config;
}

export function serializeConfig(config: RepositoryConfig): string {
  return JSON.stringify(config, null, 2) + '\n';
}

/**
 * The repository key (DEK) of `config` opened with `kek`: the key itself for version 1, the
 * unwrapped entry named by kekId(kek) for version 2; then checked against the key check.
 * WrongEncryptionKeyError, naming `keyRef` and what to do, when `kek` does not open it.
 */
export function unlockDataKey(config: RepositoryConfig, kek: Buffer, at: { location: string; keyRef?: string }): Buffer {
  const keyRef = at.keyRef ?? 'the repository encryption key';
  let dek = kek;
  if (config.version === 2) {
    const id = kekId(kek);
    const entry = wrappedEntryOf(config, id, at.location, keyRef);
    const unwrapped = unwrapDataKey(kek, entry.wrapped);
    if (!unwrapped) {
      throw new WrongEncryptionKeyError(at.location, keyRef, `the entry for key id ${id} in ${CONFIG_KEY} does not authenticate (the config was modified); restore ${CONFIG_KEY} from a standby copy`);
    }
    dek = unwrapped;
  }
  if (!keyCheckMatches(deriveKeys(dek), config.keyCheck)) throw new WrongEncryptionKeyError(at.location, keyRef);
  return dek;
}

/** The wrapped entry of key id `id`; WrongEncryptionKeyError (another key, or revoked) when absent. */
function wrappedEntryOf(config: RepositoryConfig, id: string, location: string, keyRef: string): WrappedKey {
  const entry = config.wrappedKeys?.find((w) => w.kek === id);
  if (entry) return entry;
  const ids = (config.wrappedKeys ?? []).map((w) => w.kek).join(', ') || 'none';
  throw new WrongEncryptionKeyError(
    location,
    keyRef,
    `it is not one of the repository's key-encryption keys: this key's id is ${id}, ${CONFIG_KEY} lists ${ids}; ` +
      `it is another key, or it was revoked by \`drctl key rotate --revoke-old\`: use the key the last rotation moved to`,
  );
}

/**
 * unlockDataKey for any key-encryption key: a KMS key (RemoteKek) asks the KMS to unwrap its entry,
 * which throws the KMS's typed error when it refuses (unreachable, permission, key gone or disabled).
 */
export async function unlockDataKeyWith(config: RepositoryConfig, kek: Kek, at: { location: string; keyRef?: string }): Promise<Buffer> {
  if (Buffer.isBuffer(kek)) return unlockDataKey(config, kek, at);
  const keyRef = at.keyRef ?? kek.id;
  if (config.version !== 2) {
    throw new WrongEncryptionKeyError(
      at.location,
      keyRef,
      `the repository is version 1: its key is the repository key itself, which a KMS key cannot be; rotate it to the KMS key first (\`drctl key rotate --key-env OLD --to-kms …\`)`,
    );
  }
  const dek = await kek.unwrap(wrappedEntryOf(config, kek.id, at.location, keyRef).wrapped);
  if (dek.length !== 32 || !keyCheckMatches(deriveKeys(dek), config.keyCheck)) {
    throw new WrongEncryptionKeyError(at.location, keyRef, `the entry for ${kek.id} in ${CONFIG_KEY} unwraps to another key (the config was modified); restore ${CONFIG_KEY} from a standby copy`);
  }
  return dek;
}

/**
 * rotateConfig for any key-encryption keys. Rotating to the same KMS key rewraps its entry under
 * the key's newest version (after the KMS key itself was rotated) through the KMS's rewrap.
 */
export async function rotateConfigWith(config: RepositoryConfig, currentKek: Kek, newKek: Kek, opts: { location: string; keyRef?: string; revokeCurrent?: boolean }): Promise<RepositoryConfig> {
  if (Buffer.isBuffer(currentKek) && Buffer.isBuffer(newKek)) return rotateConfig(config, currentKek, newKek, opts);
  const dek = await unlockDataKeyWith(config, currentKek, opts);
  const currentId = kekIdOf(currentKek);
  const newId = kekIdOf(newKek);
  if (config.version === 1 && opts.revokeCurrent) return rotateConfig(config, currentKek as Buffer, Buffer.alloc(32), opts); // throws the version-1 refusal
  if (opts.revokeCurrent && currentId === newId) throw new InvalidInputError('the new key is the current key: nothing to rotate or revoke');
  let entries: WrappedKey[] = config.version === 1 ? [{ kek: currentId, wrapped: await wrapDataKeyWith(currentKek, dek) }] : [...(config.wrappedKeys ?? [])];
  const same = entries.find((w) => w.kek === newId);
  const wrapped = same && !Buffer.isBuffer(newKek) && newKek.rewrap ? await newKek.rewrap(same.wrapped) : await wrapDataKeyWith(newKek, dek);
  entries = entries.filter((w) => w.kek !== newId && !(opts.revokeCurrent && w.kek === currentId));
  return { ...config, version: 2, wrappedKeys: [{ kek: newId, wrapped }, ...entries] };
}

/**
 * The config after a key rotation from `currentKek` to `newKek`: the repository key unwrapped with
 * the current key and wrapped under the new one; with `revokeCurrent`, the current key's entry is
 * removed. Nothing else changes (same repository key and key check), so no data is rewritten.
 * A version-1 config becomes version 2 with its key as the repository key (see README).
 */
export function rotateConfig(config: RepositoryConfig, currentKek: Buffer, newKek: Buffer, opts: { location: string; keyRef?: string; revokeCurrent?: boolean }): RepositoryConfig {
  const dek = unlockDataKey(config, currentKek, opts);
  const currentId = kekId(currentKek);
  const newId = kekId(newKek);
  if (config.version === 1 && opts.revokeCurrent) {
    throw new InvalidInputError(
      `the repository at ${opts.location} is version 1: its current key is the repository key itself, so revoking it would not stop anyone who holds it from reading the data; ` +
        `rotate without --revoke-old (that upgrades it to version 2), and to cut that key off, back up into a new repository`,
    );
  }
  if (opts.revokeCurrent && currentId === newId) throw new InvalidInputError('the new key is the current key: nothing to rotate or revoke');
  let entries: WrappedKey[] = config.version === 1 ? [{ kek: currentId, wrapped: wrapDataKey(currentKek, dek) }] : [...(config.wrappedKeys ?? [])];
  entries = entries.filter((w) => w.kek !== newId && !(opts.revokeCurrent && w.kek === currentId));
  return { ...config, version: 2, wrappedKeys: [{ kek: newId, wrapped: wrapDataKey(newKek, dek) }, ...entries] };
}
