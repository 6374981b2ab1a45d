/**
 * Ships one recovery point from the primary site's store to a standby site's store, so the point
 * is complete and restorable from the standby store alone.
 *
 * The two stores are independent repositories with the same parameters: the standby repository
 * is created from a verbatim copy of the primary's `repo/config` (same key check, chunker
 * parameters, codec and wrapped repository key), and it must be opened with the plan's key. When
 * the primary's config changes with the same key check (a key rotation rewraps the repository key,
 * or revokes a key), the standby's copy is replaced by it at the next ship. Chunk ids are keyed
 * HMACs and blobs are sealed under keys derived from that one repository key, so a pack is valid in both
 * repositories byte for byte: packs are copied as they are, never decrypted and re-sealed. A
 * standby repository made with another key or chunker is refused (WrongEncryptionKeyError,
 * RepositoryFormatError) instead of being mixed.
 *
 * Order, so a crash at any point leaves the standby consistent and a retry continues:
 *   1. `points/<plan>/<id>/in-progress.json` at the standby (a ship in progress, as backups do);
 *   2. the packs holding chunks the standby lacks (pack granularity: a pack is copied whole), each
 *      checked against its content address (SHA-256 = pack id) and its authenticated trailer
 *      before upload, PUT with Content-MD5 so the server rejects a body damaged in transit, then
 *      its trailer read back from the standby and authenticated again;
 *   3. an index object at the standby for each batch of packs that landed (packs present but not
 *      yet indexed, from an interrupted attempt, are indexed without being copied again);
 *   4. the point's other objects (resource bundle, volume manifests, hook artifacts), each
 *      checked against the catalog's SHA-256 before upload and PUT with Content-MD5;
 *   5. a check that every chunk of the point is in the standby's index and every object matches
 *      its catalog checksum, read from the standby;
 *   6. `catalog.json` last (the same bytes as the primary's), then the in-progress marker removed.
 * A point whose catalog is already at the standby is not shipped again (idempotent).
 */
import { createHash } from 'node:crypto';
import type { ObjectStore } from '../store/object-store';
import { listAll } from '../store/object-store';
import { openStore } from '../store/open-store';
import { resolveKek } from '../store/open-repository';
import { CONFIG_KEY, Repository, parseRepositoryConfig, unlockDataKeyWith, type PackInfo, type RepositoryConfig } from '../datapath/repository';
import { PACK_FOOTER_BYTES, packKey, parsePackFooter, parsePackTrailer, type PackEntry } from '../datapath/pack';
import { readVolumeManifest, manifestChunkIds } from '../datapath/manifest';
import { ChunkMissingError, RepositoryFormatError, WrongEncryptionKeyError } from '../datapath/errors';
import { verifyPoint } from '../catalog/verify-point';
import { openCatalog } from '../catalog/catalog-auth';
import { deriveKeys, type Kek, type RepositoryKeys } from '../datapath/crypto';
import { mapLimit } from '../util/concurrency';
import { beat, currentActivity } from '../util/heartbeat';
import { CATALOG_FORMAT_VERSION, catalogKey, inProgressMarkerKey, pointPrefix, type Catalog, type InProgressMarker } from '../../shared/catalog';
import { DataCorruptionError, InvalidInputError, NotFoundError } from '../../shared/errors';
import { describeKeyRef, type KeyRef, type StoreRef } from '../../shared/store-ref';

export interface ShipPointInput {
  planName: string;
  pointId: string;
  /** The primary site's store (where the backup wrote the point). */
  source: StoreRef;
  /** The standby site's store. */
  standby: StoreRef;
  /** The plan's key (both repositories use it). */
  key?: KeyRef;
  /** Environment variable holding the plan's key: the older form of `key`, kept for ships already scheduled. */
  keyEnv?: string;
  /** Packs copied at once (default 3; each is held in memory, up to ~16 MiB). */
  concurrency?: number;
  /** Packs per standby index object (default 16): an interrupted ship loses at most this much indexing. */
  indexBatch?: number;
}

export interface ShipPointResult {
  planName: string;
  pointId: string;
  /** True when the standby already held the complete point: nothing was copied. */
  alreadyShipped: boolean;
  /** When the backup of the point started: every write committed before it is in the point. */
  capturedAt: string;
  completedAt: string;
  /** Distinct chunks the point's volumes reference, and how many the standby lacked. */
  chunks: number;
  chunksMissing: number;
  /** Packs holding the missing chunks: copied now, or found already landed by an earlier attempt. */
  packsCopied: number;
  packsAlreadyLanded: number;
  /** Bytes PUT to the standby store: packs, index objects, point objects and the catalog. */
  bytesShipped: number;
  packBytesShipped: number;
  objectsShipped: number;
  /** Attempt of the activity that finished the ship (2+ means it continued after a crash or error). */
  attempt: number;
  durationMs: number;
}

interface ShipProgress {
  stage: string;
  packsDone: number;
  packsTotal: number;
  bytesShipped: number;
}

const POINT_OBJECTS_NOT_SHIPPED = new Set(['catalog.json', 'in-progress.json', 'failed.json']);

/** Opens the primary's and the standby's stores from this worker's environment and ships the point. */
export async function shipPoint(input: ShipPointInput): Promise<ShipPointResult> {
  const key = shipKeyRef(input);
  return shipPointBetween(openStore(input.source), openStore(input.standby), await resolveKek(key), { ...input, keyRef: describeKeyRef(key) });
}

function shipKeyRef(input: Pick<ShipPointInput, 'key' | 'keyEnv'>): KeyRef {
  if (input.key) return input.key;
  if (input.keyEnv) return { env: input.keyEnv };
  throw new InvalidInputError('shipPoint: no key given (key or keyEnv)');
}

export async function shipPointBetween(
  src: ObjectStore,
  dst: ObjectStore,
  masterKey: Kek,
  input: Pick<ShipPointInput, 'planName' | 'pointId' | 'concurrency' | 'indexBatch' | 'keyEnv'> & { keyRef?: string },
): Promise<ShipPointResult> {
  const t0 = Date.now();
  const { planName, pointId } = input;
  const ctx = currentActivity();
  const attempt = ctx?.info.attempt ?? 1;
  const earlier = (ctx?.info.heartbeatDetails as ShipProgress | undefined) ?? undefined;
  const progress: ShipProgress = { stage: 'start', packsDone: 0, packsTotal: 0, bytesShipped: earlier?.bytesShipped ?? 0 };
  let packBytes = 0;
  let objects = 0;
  const put = async (key: string, body: Buffer, contentType = 'application/octet-stream') => {
    await dst.put(key, body, { contentType, contentMd5: md5(body) });
    progress.bytesShipped += body.length;
    objects++;
  };
  const stage = (name: string) => {
    progress.stage = name;
    beat({ ...progress });
  };

  // Already complete at the standby: nothing to do, and the primary is not needed. A catalog
  // there that does not authenticate is not this point: it is shipped again over it.
  const landed = await dst.get(catalogKey(planName, pointId));
  // The standby's own config gives the keys, unless it is stale (a key rotation not shipped yet).
  let keys = landed ? await repositoryKeysAt(dst, masterKey).catch(() => undefined) : undefined;
  keys ??= await repositoryKeysAt(src, masterKey, input.keyRef);
  if (landed) {
    try {
      const c = openCatalog(keys, landed.toString('utf8'), { planName, pointId, where: `${dst.location}/${catalogKey(planName, pointId)}` });
      return result(c, true, { chunks: 0, chunksMissing: 0, packsCopied: 0, packsAlreadyLanded: 0 });
    } catch (err) {
      if (!(err instanceof DataCorruptionError)) throw err;
    }
  }

  stage('read-source');
  const rawCatalog = await src.get(catalogKey(planName, pointId));
  if (!rawCatalog) {
    throw new NotFoundError(
      `recovery point ${planName}/${pointId} has no catalog in ${src.location}: it is incomplete, failed, or was pruned; ship a complete point (drctl points list)`,
    );
  }
  const catalog = openCatalog(keys, rawCatalog.toString('utf8'), { planName, pointId, where: `${src.location}/${catalogKey(planName, pointId)}` });
  const keyRef = input.keyRef ?? (input.keyEnv ? `the key in ${input.keyEnv}` : 'the repository encryption key');
  const source = await Repository.open(src, masterKey, { keyRef });
  const standby = await openStandbyRepository(src, dst, masterKey, keyRef);

  const info = ctx?.info.workflowExecution;
  const marker: InProgressMarker = {
    formatVersion: CATALOG_FORMAT_VERSION,
    pointId,
    planName,
    startedAt: new Date(t0).toISOString(),
    workflowId: info?.workflowId ?? 'ship-point',
    ...(info?.runId ? { runId: info.runId } : {}),
  };
  await put(inProgressMarkerKey(planName, pointId), Buffer.from(JSON.stringify(marker, null, 2) + '\n'), 'application/json');

  // Chunks the point needs and the standby lacks, and the packs that hold them.
  stage('plan');
  const needed = new Set<string>();
  for (const v of catalog.volumes) {
    if (!v.snapshotKey) continue;
    manifestChunkIds(await readVolumeManifest(source, v.snapshotKey), needed);
  }
  const packs = new Map<string, PackInfo>();
  let missing = 0;
  for (const id of needed) {
    if (standby.has(id)) continue;
    missing++;
    const loc = source.lookup(id);
    if (!loc) throw new ChunkMissingError(id, undefined, src.location);
    if (!packs.has(loc.pack)) packs.set(loc.pack, source.knownPacks().get(loc.pack)!);
  }
  progress.packsTotal = packs.size;

  // Packs, then an index object per batch of packs that landed.
  stage('packs');
  let copied = 0;
  let alreadyLanded = 0;
  const batch = Math.max(1, input.indexBatch ?? 16);
  const list = [...packs.values()];
  for (let i = 0; i < list.length; i += batch) {
    const group = list.slice(i, i + batch);
    await mapLimit(group, Math.max(1, input.concurrency ?? 3), async (p) => {
      const key = packKey(p.id);
      const there = await dst.head(key);
      if (there && there.size === p.size && (await trailerMatches(dst, key, p, standby))) {
        alreadyLanded++;
      } else {
        const body = await src.get(key);
        if (!body) throw new ChunkMissingError(p.entries[0]?.id ?? p.id, key, src.location);
        checkPackBody(body, p, source, `${src.location}/${key}`);
        await put(key, body);
        packBytes += body.length;
        if (!(await trailerMatches(dst, key, p, standby))) {
          throw new DataCorruptionError(`pack ${key} did not land intact at ${dst.location} (its trailer does not authenticate or differs); the ship will be retried`);
        }
        copied++;
      }
      progress.packsDone++;
      beat({ ...progress });
    });
    const before = standby.stats.bytesUploaded;
    await standby.writeIndex(group);
    progress.bytesShipped += standby.stats.bytesUploaded - before;
    objects++;
  }

  // The point's own objects: each checked against the catalog's checksum before it leaves.
  stage('point-objects');
  const expected = expectedChecksums(catalog);
  const prefix = pointPrefix(planName, pointId);
  for (const o of await listAll(src, prefix)) {
    const name = o.key.slice(prefix.length);
    if (POINT_OBJECTS_NOT_SHIPPED.has(name)) continue;
    const want = expected.get(o.key);
    // Landed by an earlier attempt (PUTs are atomic): keep it when it is the same object.
    const there = await dst.head(o.key);
    if (there && there.size === o.size) {
      if (!want) continue;
      const landedBody = await dst.get(o.key);
      if (landedBody && sha256(landedBody) === want) continue;
    }
    const body = await src.get(o.key);
    if (!body) throw new DataCorruptionError(`${o.key} of point ${planName}/${pointId} vanished from ${src.location} while shipping; was the point pruned?`);
    if (want && sha256(body) !== want) {
      throw new DataCorruptionError(`${src.location}/${o.key} does not match the checksum in its catalog; point ${planName}/${pointId} is corrupted at the primary and is not shipped`);
    }
    await put(o.key, body);
    beat({ ...progress });
  }
  for (const key of expected.keys()) {
    if (!(await dst.head(key))) throw new DataCorruptionError(`${key}, listed in the catalog of ${planName}/${pointId}, is missing from ${src.location}; the point is not shipped`);
  }

  // Everything the catalog names is at the standby, read back from there, before the catalog goes.
  stage('verify');
  await standby.loadIndex();
  const check = await verifyPoint(standby, catalog, { readData: false });
  for (const id of needed) if (!standby.has(id)) check.problems.push(`chunk ${id} is not in the standby's index`);
  if (check.problems.length) {
    throw new DataCorruptionError(
      `point ${planName}/${pointId} is not complete at ${dst.location} after shipping (${check.problems.length} problem(s)): ${check.problems.slice(0, 3).join('; ')}`,
    );
  }

  stage('catalog');
  await put(catalogKey(planName, pointId), rawCatalog, 'application/json');
  await dst.delete([inProgressMarkerKey(planName, pointId)]);
  return result(catalog, false, { chunks: needed.size, chunksMissing: missing, packsCopied: copied, packsAlreadyLanded: alreadyLanded });

  function result(c: Catalog, already: boolean, counts: Pick<ShipPointResult, 'chunks' | 'chunksMissing' | 'packsCopied' | 'packsAlreadyLanded'>): ShipPointResult {
    return {
      planName,
      pointId,
      alreadyShipped: already,
      capturedAt: c.startedAt,
      completedAt: c.completedAt,
      ...counts,
      bytesShipped: already ? 0 : progress.bytesShipped,
      packBytesShipped: packBytes,
      objectsShipped: objects,
      attempt,
      durationMs: Date.now() - t0,
    };
  }
}

/** The keys of the repository at `store` (its config only), opened with `kek`. */
async function repositoryKeysAt(store: ObjectStore, kek: Kek, keyRef?: string): Promise<RepositoryKeys> {
  const raw = await store.get(CONFIG_KEY);
  if (!raw) throw new NotFoundError(`no repository at ${store.location} (${CONFIG_KEY} is absent); nothing to ship`);
  return deriveKeys(await unlockDataKeyWith(parseRepositoryConfig(raw, store.location), kek, { location: store.location, keyRef }));
}

/**
 * Opens the standby repository, creating it as a verbatim copy of the primary's config when
 * absent. An existing standby repository must carry the same key check and chunker parameters;
 * when its config differs otherwise (the primary's key was rotated, or a version-1 config was
 * upgraded), it is replaced by the primary's, so the standby opens with the same keys.
 */
async function openStandbyRepository(src: ObjectStore, dst: ObjectStore, masterKey: Kek, keyRef: string): Promise<Repository> {
  const srcRaw = await src.get(CONFIG_KEY);
  if (!srcRaw) throw new NotFoundError(`no repository at ${src.location} (${CONFIG_KEY} is absent); nothing to ship`);
  let dstRaw = await dst.get(CONFIG_KEY);
  if (!dstRaw) {
    await dst.put(CONFIG_KEY, srcRaw, { contentType: 'application/json', contentMd5: md5(srcRaw) });
    dstRaw = (await dst.get(CONFIG_KEY)) ?? srcRaw;
  }
  const a = JSON.parse(srcRaw.toString('utf8')) as RepositoryConfig;
  let b: RepositoryConfig;
  try {
    b = JSON.parse(dstRaw.toString('utf8')) as RepositoryConfig;
  } catch (e) {
    throw new RepositoryFormatError(CONFIG_KEY, dst.location, `invalid JSON (${(e as Error).message})`);
  }
  if (a.keyCheck !== b.keyCheck) throw new WrongEncryptionKeyError(dst.location, `${keyRef}: the standby repository was created with another key than the primary's; give the standby its own empty store location`);
  const sameChunker = a.chunker.min === b.chunker.min && a.chunker.avg === b.chunker.avg && a.chunker.max === b.chunker.max;
  if (!sameChunker || a.format !== b.format) {
    throw new RepositoryFormatError(
      CONFIG_KEY,
      dst.location,
      `the standby repository's parameters differ from the primary's (${JSON.stringify(b.chunker)} vs ${JSON.stringify(a.chunker)}); packs are copied as-is, so both must match: give the standby its own empty store location`,
    );
  }
  if (!srcRaw.equals(dstRaw)) await dst.put(CONFIG_KEY, srcRaw, { contentType: 'application/json', contentMd5: md5(srcRaw) });
  return Repository.open(dst, masterKey, { keyRef });
}

/** A pack read from the primary: its bytes hash to its id, its size and trailer match the index. */
function checkPackBody(body: Buffer, p: PackInfo, repo: Repository, where: string): void {
  if (body.length !== p.size) throw new DataCorruptionError(`pack ${where} is ${body.length} bytes, its index says ${p.size}; not shipped`);
  if (sha256(body) !== p.id) throw new DataCorruptionError(`pack ${where} does not hash to its id (content modified or damaged); not shipped`);
  const tlen = parsePackFooter(body.subarray(body.length - PACK_FOOTER_BYTES));
  const entries = parsePackTrailer(repo.keys, body.subarray(body.length - PACK_FOOTER_BYTES - tlen, body.length - PACK_FOOTER_BYTES));
  if (!sameEntries(entries, p.entries)) throw new DataCorruptionError(`pack ${where}: its trailer disagrees with the index; not shipped`);
}

/** Reads a pack's trailer back from a store and authenticates it under the key; compares it with the index. */
async function trailerMatches(store: ObjectStore, key: string, p: PackInfo, repo: Repository): Promise<boolean> {
  try {
    const footer = await store.getRange(key, p.size - PACK_FOOTER_BYTES, PACK_FOOTER_BYTES);
    const tlen = parsePackFooter(footer);
    const trailer = await store.getRange(key, p.size - PACK_FOOTER_BYTES - tlen, tlen);
    return sameEntries(parsePackTrailer(repo.keys, trailer), p.entries);
  } catch {
    return false;
  }
}

function sameEntries(a: PackEntry[], b: PackEntry[]): boolean {
  if (a.length !== b.length) return false;
  const byId = new Map(b.map((e) => [e.id, e]));
  return a.every((e) => {
    const o = byId.get(e.id);
    return o !== undefined && o.offset === e.offset && o.length === e.length && o.rawLength === e.rawLength;
  });
}

/** Keys of the point's objects whose SHA-256 the catalog records. */
function expectedChecksums(c: Catalog): Map<string, string> {
  const out = new Map<string, string>([[c.resources.bundle.key, c.resources.bundle.sha256]]);
  for (const v of c.volumes) {
    if (v.snapshotKey && v.snapshotSha256) out.set(v.snapshotKey, v.snapshotSha256);
    for (const a of v.hookArtifacts) out.set(a.key, a.sha256);
  }
  return out;
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const md5 = (b: Buffer) => createHash('md5').update(b).digest('base64');
