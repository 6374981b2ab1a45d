/**
 * Garbage collection of packs no live volume snapshot references.
 *
 * Safety rules:
 *  - A GC lock `repo/locks/gc-<id>` is written first, then sessions are listed; a backup session
 *    writes its marker first, then looks for locks (and waits), then loads the index. With a
 *    strongly consistent store one of the two always sees the other.
 *  - While any backup session is in progress nothing is deleted (`deferred: true`): a session may
 *    dedupe against any indexed chunk, including ones no finished point references yet, so no
 *    pack is provably unreachable. Sessions not updated for `staleSessionMs` are abandoned: their
 *    marker and partial manifests are removed (a later resume of them starts over).
 *  - Only packs older than `graceMs` are deleted, so packs uploaded by a crashed session whose
 *    index object was never written survive long enough to be re-indexed.
 *  - If a live manifest is missing or unreadable, GC stops without deleting anything.
 *  - If a referenced chunk is missing from the index, the index is rebuilt from pack trailers
 *    before deciding; unindexed packs are never deleted while that is the case.
 *  - New index objects are written before old ones are deleted, and both before packs are deleted.
 *  - Object Lock: a pack still under retention is never deleted, nor is an index object (and
 *    every pack such an index object lists stays too, so no index ever names a deleted pack);
 *    each one kept is reported with its date. Checked when the bucket has Object Lock enabled.
 *  - `onProgress` is called in every loop (the activity heartbeats there) and may throw to stop
 *    the run (cancellation): every step above leaves the repository safe when the next is skipped.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { listAll } from '../store/object-store';
import { manifestChunkIds, readVolumeManifest } from './manifest';
import { packIdFromKey } from './pack';
import { mapLimit } from '../util/concurrency';
import { describeRetention, isRetained, laterRetention, type ObjectRetention } from '../../shared/object-lock';
import { LOCKS_PREFIX, PACKS_PREFIX, SESSIONS_PREFIX, type PackInfo, type Repository, type SessionMarker } from './repository';

/** Catalogs read at once while building the live set (each is one small GET). */
export const LIVE_SET_READS = 16;
/** Volume manifests read at once: fewer, since one manifest of a volume of millions of files is large. */
const LIVE_MANIFEST_READS = 4;

export interface GcOptions {
  /**
   * Manifest keys of every volume snapshot of every complete recovery point to keep. A function is
   * called after the GC lock is written and no session is found in progress, so a backup that
   * finished its volumes just before is seen (its manifest is written before its session ends).
   */
  liveManifestKeys: string[] | (() => Promise<string[]>);
  /** Minimum age of a pack before it may be deleted. Default 1 hour. */
  graceMs?: number;
  /** A session not updated for this long is abandoned. Default 24 hours. */
  staleSessionMs?: number;
  /** Compute and report, delete nothing. */
  dryRun?: boolean;
  now?: () => number;
  /** Called in every loop with small progress details; may throw to stop (e.g. on cancellation). */
  onProgress?: (p: GcProgress) => void;
  /**
   * Names the lock object (`repo/locks/gc-<lockId>`). A stable id (e.g. the workflow run's) lets a
   * retried attempt overwrite, then remove, the lock of an attempt whose worker crashed, instead
   * of leaving it to block backups until it goes stale. Default: random.
   */
  lockId?: string;
}

export interface GcProgress {
  stage: 'sessions' | 'manifests' | 'index' | 'packs' | 'object lock' | 'rewrite index' | 'delete packs';
  done?: number;
  total?: number;
}

export interface GcResult {
  deferred: boolean;
  activeSessions: string[];
  staleSessionsRemoved: string[];
  manifests: number;
  referencedChunks: number;
  /** Referenced chunks found in no index even after a rebuild (data loss to investigate). */
  missingChunks: number;
  indexRebuilt: boolean;
  packsTotal: number;
  packsKept: number;
  packsDeleted: number;
  bytesDeleted: number;
  /** Unreferenced packs kept because they are younger than the grace period. */
  packsInGrace: number;
  indexObjectsWritten: number;
  indexObjectsDeleted: number;
  /** Unreferenced packs kept because Object Lock retains them (or an index object listing them). */
  packsLocked: number;
  /** Index objects kept because Object Lock retains them. */
  indexObjectsLocked: number;
  /** The first LOCKED_REPORT_MAX objects kept for Object Lock, with their date (`locked (mode) until …`). */
  lockedKept: { key: string; reason: string }[];
}

const LOCKED_REPORT_MAX = 50;

const PACKS_PER_INDEX_OBJECT = 2000;

export async function collectGarbage(repo: Repository, opts: GcOptions): Promise<GcResult> {
  const now = opts.now ?? Date.now;
  const graceMs = opts.graceMs ?? 3600_000;
  const staleMs = opts.staleSessionMs ?? 24 * 3600_000;
  const store = repo.store;
  const progress = opts.onProgress ?? (() => undefined);
  const result: GcResult = {
    deferred: false,
    activeSessions: [],
    staleSessionsRemoved: [],
    manifests: 0,
    referencedChunks: 0,
    missingChunks: 0,
    indexRebuilt: false,
    packsTotal: 0,
    packsKept: 0,
    packsDeleted: 0,
    bytesDeleted: 0,
    packsInGrace: 0,
    indexObjectsWritten: 0,
    indexObjectsDeleted: 0,
    packsLocked: 0,
    indexObjectsLocked: 0,
    lockedKept: [],
  };

  const lockKey = `${LOCKS_PREFIX}gc-${opts.lockId ?? randomBytes(8).toString('hex')}`;
  await store.put(lockKey, JSON.stringify({ started: new Date(now()).toISOString(), host: hostname() }), { contentType: 'application/json' });
  try {
    // 1. Sessions in progress.
    progress({ stage: 'sessions' });
    for (const o of await listAll(store, SESSIONS_PREFIX)) {
      progress({ stage: 'sessions' });
      const id = o.key.slice(SESSIONS_PREFIX.length);
      const marker = await repo.readSession(id);
      const updated = marker ? Date.parse(marker.updated) : (o.lastModified?.getTime() ?? now());
      if (now() - updated > staleMs) {
        if (!opts.dryRun) await repo.endSession(id);
        result.staleSessionsRemoved.push(id);
      } else {
        result.activeSessions.push((marker as SessionMarker | undefined)?.sessionId ?? id);
      }
    }
    if (result.activeSessions.length) {
      result.deferred = true;
      return result;
    }

    // 2. Referenced chunks (a missing live manifest aborts: never guess).
    const referenced = new Set<string>();
    const liveKeys = typeof opts.liveManifestKeys === 'function' ? await opts.liveManifestKeys() : opts.liveManifestKeys;
    // Reads overlap (each is one small GET): the live set is most of a GC's time in a big repository.
    await mapLimit(liveKeys, LIVE_MANIFEST_READS, async (key) => {
      const manifest = await readVolumeManifest(repo, key);
      manifestChunkIds(manifest, referenced);
      result.manifests++;
      progress({ stage: 'manifests', done: result.manifests, total: liveKeys.length });
    });
    result.referencedChunks = referenced.size;

    // 3. Fresh index, rebuilt from pack trailers if it misses referenced chunks.
    progress({ stage: 'index' });
    await repo.loadIndex();
    const countMissing = () => [...referenced].filter((id) => !repo.lookup(id)).length;
    result.missingChunks = countMissing();
    if (result.missingChunks > 0) {
      progress({ stage: 'index' });
      await repo.rebuildIndex();
      result.indexRebuilt = true;
      result.missingChunks = countMissing();
    }

    // 4. Decide per pack object.
    progress({ stage: 'packs' });
    const objects = await listAll(store, PACKS_PREFIX);
    progress({ stage: 'packs', total: objects.length });
    const known = repo.knownPacks();
    const present = new Set<string>();
    const doomed: { key: string; size: number }[] = [];
    const kept: PackInfo[] = [];
    for (const o of objects) {
      const id = packIdFromKey(o.key);
      if (!id) continue;
      present.add(id);
      result.packsTotal++;
      const info = known.get(id);
      const isReferenced = info ? info.entries.some((e) => referenced.has(e.id)) : false;
      const age = o.lastModified ? now() - o.lastModified.getTime() : Infinity;
      if (isReferenced || (!info && result.missingChunks > 0)) {
        if (info) kept.push(info);
        result.packsKept++;
      } else if (age < graceMs) {
        if (info) kept.push(info);
        result.packsKept++;
        result.packsInGrace++;
      } else {
        doomed.push({ key: o.key, size: o.size });
      }
    }
    const indexedButAbsent = [...known.keys()].some((id) => !present.has(id));
    const oldIndexKeys = repo.loadedIndexKeys();

    // 4b. Object Lock: keep what is retained, and say until when.
    const lockedIndex = new Set<string>();
    if (store.retention && (await store.objectLockEnabled?.()) !== false) {
      const nowDate = () => new Date(now());
      const keptLocked = (key: string, r: ObjectRetention, via?: string) => {
        if (result.lockedKept.length < LOCKED_REPORT_MAX) result.lockedKept.push({ key, reason: describeRetention(r) + (via ? ` (listed by ${via})` : '') });
      };
      const pinned = new Map<string, { r: ObjectRetention; via: string }>();
      for (const [i, key] of oldIndexKeys.entries()) {
        progress({ stage: 'object lock', done: i, total: oldIndexKeys.length + doomed.length });
        const r = await store.retention(key);
        if (!isRetained(r, nowDate())) continue;
        lockedIndex.add(key);
        keptLocked(key, r);
        for (const id of repo.packsListedBy(key)) pinned.set(id, { r: laterRetention(pinned.get(id)?.r, r)!, via: key });
      }
      result.indexObjectsLocked = lockedIndex.size;
      const stillDoomed: typeof doomed = [];
      for (const [i, d] of doomed.entries()) {
        progress({ stage: 'object lock', done: oldIndexKeys.length + i, total: oldIndexKeys.length + doomed.length });
        const id = packIdFromKey(d.key)!;
        const pin = pinned.get(id);
        const own = await store.retention(d.key);
        const r = isRetained(own, nowDate()) ? own : pin?.r;
        if (!r) {
          stillDoomed.push(d);
          continue;
        }
        const info = known.get(id);
        if (info) kept.push(info);
        result.packsKept++;
        result.packsLocked++;
        keptLocked(d.key, r, r === own ? undefined : pin?.via);
      }
      doomed.splice(0, doomed.length, ...stillDoomed);
    }
    if (opts.dryRun) {
      result.packsDeleted = doomed.length;
      result.bytesDeleted = doomed.reduce((s, d) => s + d.size, 0);
      return result;
    }

    // 5. Rewrite the index (when packs go away, or to consolidate many small index objects).
    if (doomed.length > 0 || indexedButAbsent || oldIndexKeys.length - lockedIndex.size > 16) {
      const newKeys = new Set<string>();
      for (let i = 0; i < kept.length; i += PACKS_PER_INDEX_OBJECT) {
        progress({ stage: 'rewrite index', done: i, total: kept.length });
        newKeys.add(await repo.writeIndex(kept.slice(i, i + PACKS_PER_INDEX_OBJECT)));
        result.indexObjectsWritten++;
      }
      const stale = oldIndexKeys.filter((k) => !newKeys.has(k) && !lockedIndex.has(k));
      for (let i = 0; i < stale.length; i += 1000) await store.delete(stale.slice(i, i + 1000));
      result.indexObjectsDeleted = stale.length;
    }

    // 6. Delete the packs.
    for (let i = 0; i < doomed.length; i += 1000) {
      progress({ stage: 'delete packs', done: i, total: doomed.length });
      await store.delete(doomed.slice(i, i + 1000).map((d) => d.key));
    }
    result.packsDeleted = doomed.length;
    result.bytesDeleted = doomed.reduce((s, d) => s + d.size, 0);
    await repo.loadIndex();
    return result;
  } finally {
    await store.delete([lockKey]);
  }
}

