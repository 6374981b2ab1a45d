/**
 * Retention: expire a plan's recovery points by its `spec.retention` policy, remove failed and
 * abandoned points, then garbage-collect the packs no remaining point uses.
 *
 * Safety rules:
 *  - Only complete points (with `catalog.json`) are subject to the policy; the newest complete
 *    point is always kept (see shared/retention.ts).
 *  - An expired point gets an `expired.json` tombstone, then loses its `catalog.json` (so it stops
 *    being a recovery point at once), then every other object; the tombstone goes last. A run
 *    interrupted half way finishes the deletion on the next run, whatever the point's age.
 *  - Failed points and points without any marker (remnants) are removed when their id is older
 *    than `abandonedAfterMs`. An in-progress point is removed only when its id AND its newest
 *    object are older than that, and no live repository session writes into it.
 *  - GC runs store-wide (chunks are deduplicated across plans). Its live set is every snapshot of
 *    every complete catalog of every plan, plus the manifests of every point that is not complete
 *    and not being removed (an in-progress backup's finished volumes). It is computed after the
 *    GC lock is taken and no backup session is running. If any catalog cannot be read, GC is
 *    skipped and the reason reported: it never runs with a partial live set.
 *  - Object Lock: a point any of whose objects is still retained is kept whole, whatever the policy
 *    says, and reported in `locked` with its date; GC keeps its data (it stays in the live set) and
 *    any retained pack or index object (see datapath/gc.ts). The next run after the date removes it.
 *  - Idempotent: a second run converges (nothing more to expire, nothing more to collect).
 */
import type { ObjectStore, StoredObject } from '../store/object-store';
import { getAuthentic, listAll } from '../store/object-store';
import { openCatalog } from '../catalog/catalog-auth';
import type { RepositoryKeys } from '../datapath/crypto';
import { describeRetention, isRetained, laterRetention, type ObjectRetention } from '../../shared/object-lock';
import { openStore } from '../store/open-store';
import { resolveKek } from '../store/open-repository';
import { describeKeyRef } from '../../shared/store-ref';
import { Repository, SESSIONS_PREFIX } from '../datapath/repository';
import { LIVE_SET_READS, collectGarbage, type GcProgress, type GcResult } from '../datapath/gc';
import { mapLimit } from '../util/concurrency';
import { catalogKey, parseCatalog, parsePointKey, pointIdTime, pointPrefix } from '../../shared/catalog';
import { DrError, InvalidInputError, NotFoundError } from '../../shared/errors';
import { planKeyRef, planToStoreRef, type Plan, type RetentionSpec } from '../../shared/plan';
import { selectRetainedPoints, type RetentionReason } from '../../shared/retention';

export const DEFAULT_ABANDONED_AFTER_MS = 24 * 3600_000;

export const expiredMarkerKey = (plan: string, id: string) => `${pointPrefix(plan, id)}expired.json`;

export interface RetentionOptions {
  /** Decide and report; delete nothing (GC runs in its dry-run mode). */
  dryRun?: boolean;
  /** The time decisions are made at (default: now). */
  now?: Date;
  /** Failed, remnant and abandoned in-progress points older than this are removed. Default 24 h. */
  abandonedAfterMs?: number;
  /** Minimum age of a pack before GC may delete it (default: collectGarbage's, 1 h). */
  gcGraceMs?: number;
  /** A repository session not updated for this long is abandoned (default 24 h). */
  staleSessionMs?: number;
  /** Skip garbage collection (expire points only). */
  skipGc?: boolean;
  /**
   * Called in every loop with small progress details (an activity heartbeats here). It may throw
   * to stop the run (cancellation): points are removed catalog first and tombstone last, and GC
   * keeps the repository safe at every step, so a stopped run is finished by the next one.
   */
  onProgress?: (p: RetentionProgress) => void;
  /** Stable id of the GC lock object (see GcOptions.lockId); default random. */
  gcLockId?: string;
}

export type RetentionProgress = { stage: 'scan' | 'sessions' | 'remove points' | 'live set'; done?: number; total?: number } | GcProgress;

/** Small and JSON-able: ids and counts only. */
export interface RetentionResult {
  plan: string;
  dryRun: boolean;
  /** Complete points kept, newest first. */
  kept: string[];
  /** Why each kept point is kept (the policy rules that selected it). */
  reasons: Record<string, RetentionReason[]>;
  /** Complete points expired (or finished expiring), newest first. */
  expired: string[];
  /** Failed, remnant and abandoned in-progress points removed. */
  abandonedRemoved: string[];
  /** Recent in-progress or failed points left alone. */
  incompleteKept: string[];
  /** Points the policy (or abandonment) would remove, kept because Object Lock retains them: id → `locked (mode) until …`. */
  locked?: Record<string, string>;
  /** Objects under points/ deleted (would be, in a dry run). */
  objectsDeleted: number;
  gc: RetentionGcSummary;
}

export interface RetentionGcSummary {
  ran: boolean;
  /** A backup session is in progress: nothing was collected (run again later). */
  deferred?: boolean;
  /** Why GC did not run or stopped (unreadable catalog, missing manifest, no repository...). */
  reason?: string;
  /** True when `reason` is a problem an operator must look at (not just "nothing to do"). */
  problem?: boolean;
  activeSessions?: number;
  staleSessionsRemoved?: number;
  manifests?: number;
  referencedChunks?: number;
  missingChunks?: number;
  packsTotal?: number;
  packsKept?: number;
  packsInGrace?: number;
  packsDeleted?: number;
  bytesDeleted?: number;
  /** Unreferenced packs and index objects kept because Object Lock retains them. */
  packsLocked?: number;
  indexObjectsLocked?: number;
  /** Some of them, each with `locked (mode) until …`. */
  lockedKept?: { key: string; reason: string }[];
}

type PointState = 'complete' | 'expiring' | 'failed' | 'in-progress' | 'remnant';

interface StoredPoint {
  planName: string;
  pointId: string;
  state: PointState;
  time: Date;
  keys: string[];
  newest: number;
}

const MARKERS = new Set(['in-progress.json', 'failed.json', 'expired.json']);
const MANIFEST = /\/volumes\/[^/]+\/[^/]+\/snapshot\.json(\.pass[12])?$/;

/** Every point under `points/` with its objects, from one listing. */
async function scanPoints(store: ObjectStore, progress: (p: RetentionProgress) => void = () => undefined): Promise<StoredPoint[]> {
  const byPoint = new Map<string, { planName: string; pointId: string; objects: StoredObject[] }>();
  let listed = 0;
  for await (const o of store.list('points/')) {
    if (++listed % 1000 === 0) progress({ stage: 'scan', done: listed });
    const p = parsePointKey(o.key);
    if (!p) continue;
    const k = `${p.planName}/${p.pointId}`;
    if (!byPoint.has(k)) byPoint.set(k, { ...p, objects: [] });
    byPoint.get(k)!.objects.push(o);
  }
  const out: StoredPoint[] = [];
  for (const { planName, pointId, objects } of byPoint.values()) {
    const prefix = pointPrefix(planName, pointId);
    const files = new Set(objects.map((o) => o.key.slice(prefix.length)));
    const state: PointState = files.has('expired.json')
      ? 'expiring'
      : files.has('catalog.json')
        ? 'complete'
        : files.has('failed.json')
          ? 'failed'
          : files.has('in-progress.json')
            ? 'in-progress'
            : 'remnant';
    out.push({
      planName,
      pointId,
      state,
      time: pointIdTime(pointId)!,
      keys: objects.map((o) => o.key),
      newest: Math.max(0, ...objects.map((o) => o.lastModified?.getTime() ?? 0)),
    });
  }
  return out.sort((a, b) => (a.pointId < b.pointId ? 1 : a.pointId > b.pointId ? -1 : 0));
}

/** Point ids (`plan/id`) that a live (recently updated) repository session writes into. */
async function pointsWithLiveSessions(store: ObjectStore, nowMs: number, staleMs: number, progress: (p: RetentionProgress) => void): Promise<Set<string>> {
  const out = new Set<string>();
  for (const o of await listAll(store, SESSIONS_PREFIX)) {
    progress({ stage: 'sessions' });
    const raw = await store.get(o.key);
    let marker: { updated?: string; manifestKey?: string } = {};
    try {
      marker = raw ? (JSON.parse(raw.toString('utf8')) as typeof marker) : {};
    } catch {
      /* unreadable marker: judged by its object time below */
    }
    const updated = marker.updated ? Date.parse(marker.updated) : (o.lastModified?.getTime() ?? nowMs);
    if (nowMs - updated > staleMs || !marker.manifestKey) continue;
    const p = parsePointKey(marker.manifestKey);
    if (p) out.add(`${p.planName}/${p.pointId}`);
  }
  return out;
}

async function deleteKeys(store: ObjectStore, keys: string[]): Promise<void> {
  for (let i = 0; i < keys.length; i += 1000) await store.delete(keys.slice(i, i + 1000));
}

class LiveSetIncomplete extends Error {}

/** Applies the plan's retention policy to the plan's store, then collects garbage store-wide. */
export async function applyRetention(plan: Plan, opts: RetentionOptions = {}): Promise<RetentionResult> {
  return applyRetentionIn(openStore(planToStoreRef(plan)), plan, opts);
}

/** As applyRetention, on a given store (tests wrap it to observe the order of deletions). */
export async function applyRetentionIn(store: ObjectStore, plan: Plan, opts: RetentionOptions = {}): Promise<RetentionResult> {
  const policy: RetentionSpec | undefined = plan.spec.retention;
  if (!policy) {
    throw new InvalidInputError(`plan ${plan.metadata.name} has no retention policy`, [
      'spec.retention: required to prune; add e.g. `retention: { keepLast: 7, keepDaily: 14 }`',
    ]);
  }
  const planName = plan.metadata.name;
  const dryRun = !!opts.dryRun;
  const nowMs = (opts.now ?? new Date()).getTime();
  const abandonedAfterMs = opts.abandonedAfterMs ?? DEFAULT_ABANDONED_AFTER_MS;
  const staleSessionMs = opts.staleSessionMs ?? 24 * 3600_000;
  const progress = opts.onProgress ?? (() => undefined);
  if (!(abandonedAfterMs >= 0)) throw new InvalidInputError('abandonedAfterMs: expected a non-negative number of milliseconds');

  // Open the repository first: a wrong or missing key fails before anything is deleted.
  const repo = opts.skipGc ? undefined : await openRepositoryForGc(store, plan);

  progress({ stage: 'scan' });
  const all = await scanPoints(store, progress);
  const mine = all.filter((p) => p.planName === planName);

  // 1. Decide.
  const complete = mine.filter((p) => p.state === 'complete');
  const decision = selectRetainedPoints(complete.map((p) => ({ id: p.pointId, time: p.time })), policy);
  const expireSet = new Set(decision.expire);
  const toExpire = mine.filter((p) => (p.state === 'complete' && expireSet.has(p.pointId)) || p.state === 'expiring');

  const live = await pointsWithLiveSessions(store, nowMs, staleSessionMs, progress);
  const abandoned: StoredPoint[] = [];
  const incompleteKept: string[] = [];
  for (const p of mine) {
    if (p.state === 'complete' || p.state === 'expiring') continue;
    const idAge = nowMs - p.time.getTime();
    const old =
      p.state === 'in-progress'
        ? idAge > abandonedAfterMs && nowMs - p.newest > abandonedAfterMs && !live.has(`${p.planName}/${p.pointId}`)
        : idAge > abandonedAfterMs;
    if (old) abandoned.push(p);
    else incompleteKept.push(p.pointId);
  }

  // 1b. Object Lock: what is retained stays, whole.
  const locked = await retainedPoints(store, [...toExpire, ...abandoned], new Date(nowMs), progress);
  const isLocked = (p: StoredPoint) => locked.has(p.pointId);
  const lockedComplete = toExpire.filter((p) => isLocked(p) && p.state === 'complete').map((p) => p.pointId);
  for (const p of abandoned) if (isLocked(p)) incompleteKept.push(p.pointId);
  toExpire.splice(0, toExpire.length, ...toExpire.filter((p) => !isLocked(p)));
  abandoned.splice(0, abandoned.length, ...abandoned.filter((p) => !isLocked(p)));

  // 2. Remove.
  const removing = new Set([...toExpire, ...abandoned].map((p) => `${p.planName}/${p.pointId}`));
  let objectsDeleted = 0;
  let pointsRemoved = 0;
  const pointsToRemove = toExpire.length + abandoned.length;
  for (const p of toExpire) {
    progress({ stage: 'remove points', done: pointsRemoved, total: pointsToRemove });
    const tombstone = expiredMarkerKey(planName, p.pointId);
    const catalog = catalogKey(planName, p.pointId);
    const rest = p.keys.filter((k) => k !== tombstone && k !== catalog);
    objectsDeleted += p.keys.length;
    if (dryRun) continue;
    if (!p.keys.includes(tombstone)) {
      await store.put(tombstone, JSON.stringify({ pointId: p.pointId, planName, expiredAt: new Date(nowMs).toISOString(), policy }), { contentType: 'application/json' });
    }
    if (p.keys.includes(catalog)) await store.delete([catalog]);
    await deleteKeys(store, rest);
    await store.delete([tombstone]);
    pointsRemoved++;
  }
  for (const p of abandoned) {
    progress({ stage: 'remove points', done: pointsRemoved, total: pointsToRemove });
    const prefix = pointPrefix(planName, p.pointId);
    const markers = p.keys.filter((k) => MARKERS.has(k.slice(prefix.length)));
    const rest = p.keys.filter((k) => !MARKERS.has(k.slice(prefix.length)));
    objectsDeleted += p.keys.length;
    if (dryRun) continue;
    await deleteKeys(store, rest);
    await deleteKeys(store, markers);
    pointsRemoved++;
  }

  const result: RetentionResult = {
    plan: planName,
    dryRun,
    kept: [...decision.keep.map((k) => k.id), ...lockedComplete].sort().reverse(),
    reasons: Object.fromEntries(decision.keep.map((k) => [k.id, k.reasons])),
    expired: toExpire.map((p) => p.pointId),
    abandonedRemoved: abandoned.map((p) => p.pointId),
    incompleteKept,
    ...(locked.size ? { locked: Object.fromEntries(locked) } : {}),
    objectsDeleted,
    gc: { ran: false },
  };
  if (opts.skipGc) {
    result.gc.reason = 'skipped on request';
    return result;
  }
  if (!repo) {
    result.gc.reason = `no repository in ${store.location}: nothing to collect`;
    return result;
  }
  result.gc = await collectStoreGarbage(store, repo, removing, { dryRun, nowMs, graceMs: opts.gcGraceMs, staleSessionMs, progress, lockId: opts.gcLockId });
  return result;
}

/**
 * The points among `points` that Object Lock still retains (any of their objects), each with its
 * latest retention as `locked (mode) until …`. Empty, with no request, when the bucket has no lock.
 */
async function retainedPoints(store: ObjectStore, points: StoredPoint[], now: Date, progress: (p: RetentionProgress) => void): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (!points.length || !store.retention || (await store.objectLockEnabled?.()) === false) return out;
  let done = 0;
  for (const p of points) {
    progress({ stage: 'remove points', done: done++, total: points.length });
    let latest: ObjectRetention | undefined;
    for (const key of p.keys) {
      const r = await store.retention(key);
      if (isRetained(r, now)) latest = laterRetention(latest, r);
    }
    if (latest) out.set(p.pointId, describeRetention(latest));
  }
  return out;
}

/** The live set: read after the GC lock is taken, from a fresh listing of every plan's points. */
async function liveManifestKeys(store: ObjectStore, removing: Set<string>, progress: (p: RetentionProgress) => void, repoKeys: RepositoryKeys): Promise<string[]> {
  const keys = new Set<string>();
  const problems: string[] = [];
  const points = await scanPoints(store, progress);
  let done = 0;
  // Catalog reads overlap (each is one small GET): the live set is most of a GC's time in a big repository.
  await mapLimit(points, LIVE_SET_READS, async (p) => {
    progress({ stage: 'live set', done: done++, total: points.length });
    if (removing.has(`${p.planName}/${p.pointId}`) || p.state === 'expiring') return;
    if (p.state === 'complete') {
      const key = catalogKey(p.planName, p.pointId);
      try {
        const where = `${store.location}/${key}`;
        const body = await getAuthentic(store, key, (b) => !!openCatalog(repoKeys, b.toString('utf8'), { planName: p.planName, pointId: p.pointId, where }));
        if (!body) throw new NotFoundError(`${key} vanished while listing`);
        for (const v of parseCatalog(body.toString('utf8'), `${store.location}/${key}`).volumes) if (v.snapshotKey) keys.add(v.snapshotKey);
      } catch (err) {
        if (err instanceof DrError && err.retryable) throw err;
        problems.push(`${p.planName}/${p.pointId}: ${(err as Error).message.split('\n').slice(0, 3).join(' ')}`);
      }
    } else {
      // Not a recovery point (yet): keep what its finished volumes use, in case it completes.
      for (const k of p.keys) if (MANIFEST.test(k)) keys.add(k);
    }
  });
  if (problems.length) {
    throw new LiveSetIncomplete(
      `${problems.length} catalog(s) cannot be read, so the set of live data is unknown and nothing was collected; fix or remove them: ${problems.slice(0, 5).join('; ')}`,
    );
  }
  return [...keys].sort();
}

/** The plan's repository (index not loaded: GC loads it), or undefined when the store has none yet. */
async function openRepositoryForGc(store: ObjectStore, plan: Plan): Promise<Repository | undefined> {
  const keyRef = planKeyRef(plan);
  const key = await resolveKek(keyRef);
  try {
    return await Repository.open(store, key, { skipIndex: true, keyRef: describeKeyRef(keyRef) });
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}

async function collectStoreGarbage(
  store: ObjectStore,
  repo: Repository,
  removing: Set<string>,
  o: { dryRun: boolean; nowMs: number; graceMs?: number; staleSessionMs: number; progress: (p: RetentionProgress) => void; lockId?: string },
): Promise<RetentionGcSummary> {
  const offset = o.nowMs - Date.now();
  let r: GcResult;
  try {
    r = await collectGarbage(repo, {
      liveManifestKeys: () => liveManifestKeys(store, removing, o.progress, repo.keys),
      onProgress: o.progress,
      ...(o.lockId ? { lockId: o.lockId } : {}),
      dryRun: o.dryRun,
      staleSessionMs: o.staleSessionMs,
      now: () => Date.now() + offset,
      ...(o.graceMs !== undefined ? { graceMs: o.graceMs } : {}),
    });
  } catch (err) {
    if (err instanceof LiveSetIncomplete) return { ran: false, problem: true, reason: err.message };
    // A missing or corrupt live manifest: GC stopped before deleting anything. Report it; retrying cannot help.
    if (err instanceof DrError && !err.retryable) return { ran: false, problem: true, reason: `garbage collection stopped, nothing collected: ${err.message}` };
    throw err;
  }
  const counts = {
    activeSessions: r.activeSessions.length,
    staleSessionsRemoved: r.staleSessionsRemoved.length,
  };
  if (r.deferred) {
    return { ran: false, deferred: true, reason: `${r.activeSessions.length} backup session(s) in progress (${r.activeSessions.slice(0, 3).join(', ')}); run prune again later`, ...counts };
  }
  return {
    ran: true,
    ...counts,
    manifests: r.manifests,
    referencedChunks: r.referencedChunks,
    missingChunks: r.missingChunks,
    packsTotal: r.packsTotal,
    packsKept: r.packsKept,
    packsInGrace: r.packsInGrace,
    packsDeleted: r.packsDeleted,
    bytesDeleted: r.bytesDeleted,
    ...(r.packsLocked || r.indexObjectsLocked ? { packsLocked: r.packsLocked, indexObjectsLocked: r.indexObjectsLocked, lockedKept: r.lockedKept } : {}),
    ...(r.missingChunks > 0 ? { problem: true, reason: `${r.missingChunks} referenced chunk(s) are in no index even after a rebuild; run \`drctl points verify\` on the kept points` } : {}),
  };
}
