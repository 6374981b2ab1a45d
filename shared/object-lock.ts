/**
 * S3 Object Lock of recovery points (spec.store.objectLock). Pure: workflows, activities and drctl
 * share it.
 *
 * Which objects are locked: everything a restore reads, i.e. a point's catalog, resource bundle
 * and volume manifests, and the repository's packs and index objects (shared by every point that
 * deduplicates against them). Markers, staging objects, sessions, partial manifests, GC locks and
 * repo/config stay unlocked: they are rewritten or removed as part of normal operation.
 */
import { parseDuration } from './duration';

export type ObjectLockMode = 'governance' | 'compliance';

/** The plan's objectLock as workers receive it inside a StoreRef. */
export interface ObjectLockRef {
  mode: ObjectLockMode;
  /** How long each point stays locked after it is written (a duration, e.g. `30d`). */
  retention: string;
}

/** The S3 header value of a mode. */
export const s3LockMode = (mode: ObjectLockMode): 'GOVERNANCE' | 'COMPLIANCE' => (mode === 'compliance' ? 'COMPLIANCE' : 'GOVERNANCE');

const LOCKED_KEY = [/^repo\/packs\/[0-9a-f]{2}\/[0-9a-f]{64}$/, /^repo\/index\/[^/]+$/, /^points\/[^/]+\/[^/]+\/(catalog\.json|resources\.bundle|volumes\/[^/]+\/[^/]+\/snapshot\.json)$/];

/** True for the keys (relative to the store's prefix) that are written under Object Lock. */
export function isLockedKey(key: string): boolean {
  return LOCKED_KEY.some((re) => re.test(key));
}

/**
 * The retain-until date of an object written at `now`. Rounded up to the next whole second: S3
 * keeps seconds, and a date that reads back earlier than the one asked for would look shortened.
 */
export function retainUntil(now: Date, lock: Pick<ObjectLockRef, 'retention'>): Date {
  const ms = parseDuration(lock.retention);
  if (ms === undefined || ms <= 0) throw new RangeError(`objectLock.retention ${JSON.stringify(lock.retention)}: expected a duration like 30d`);
  return new Date(Math.ceil((now.getTime() + ms) / 1000) * 1000);
}

/** The retention an object carries (from HEAD), when it has one. */
export interface ObjectRetention {
  mode: ObjectLockMode;
  retainUntil: Date;
}

/** True while `r` forbids deleting or overwriting the object's version. */
export function isRetained(r: ObjectRetention | undefined, now: Date): r is ObjectRetention {
  return r !== undefined && r.retainUntil.getTime() > now.getTime();
}

/** `locked (compliance) until 2026-12-02T09:00:00Z`: how reports say why an object was kept. */
export function describeRetention(r: ObjectRetention): string {
  return `locked (${r.mode}) until ${r.retainUntil.toISOString().replace(/\.000Z$/, 'Z')}`;
}

/** The later of two retentions (compliance wins a tie: it is the stricter). */
export function laterRetention(a: ObjectRetention | undefined, b: ObjectRetention | undefined): ObjectRetention | undefined {
  if (!a || !b) return a ?? b;
  if (a.retainUntil.getTime() !== b.retainUntil.getTime()) return a.retainUntil > b.retainUntil ? a : b;
  return a.mode === 'compliance' ? a : b;
}
