import type { Readable } from 'node:stream';
import type { ObjectRetention } from '../../shared/object-lock';

/** One object as listed from the store. */
export interface StoredObject {
  key: string;
  size: number;
  lastModified?: Date;
}

/**
 * The small surface of S3 the product needs. Keys are relative to the store's prefix, so a
 * repository can live under any `s3://bucket/prefix`. S3ObjectStore is the real implementation;
 * unit tests of pure layers may use MemoryObjectStore.
 */
export interface ObjectStore {
  /** Human-readable location, e.g. `s3://bucket/prefix`, for errors and reports. */
  readonly location: string;
  /** `contentMd5` (base64): the server rejects the body unless it arrived intact (S3 Content-MD5). */
  /** `retainUntil`: for a key written under Object Lock, this date rather than now + the plan's retention. */
  put(key: string, body: Buffer | string, opts?: { contentType?: string; contentMd5?: string; retainUntil?: Date }): Promise<void>;
  /** Writes `key` only if no object has it (S3 If-None-Match: *); false when one already does. */
  putIfAbsent?(key: string, body: Buffer | string, opts?: { contentType?: string }): Promise<boolean>;
  /** Streams a large body with a multipart upload. */
  putStream(key: string, body: Readable, opts?: { contentType?: string; signal?: AbortSignal }): Promise<void>;
  /** Returns undefined when the key does not exist. `versionId`: that version (a versioned bucket). */
  get(key: string, opts?: { versionId?: string }): Promise<Buffer | undefined>;
  getRange(key: string, offset: number, length: number, opts?: { versionId?: string }): Promise<Buffer>;
  head(key: string): Promise<{ size: number; lastModified?: Date } | undefined>;
  list(prefix: string): AsyncIterable<StoredObject>;
  delete(keys: string[]): Promise<void>;
  /** Versioned buckets: the non-current versions of `key`, newest first (no delete markers). */
  previousVersions?(key: string): Promise<string[]>;
  /** Object Lock: the latest retention among the key's versions, if any. */
  retention?(key: string): Promise<ObjectRetention | undefined>;
  /** Object Lock: every version of `key` retained until at least `lock.retainUntil`. */
  extendRetention?(key: string, lock: ObjectRetention): Promise<number>;
  /** Object Lock enabled on the bucket (undefined: the server would not say). */
  objectLockEnabled?(): Promise<boolean | undefined>;
}

/**
 * Reading what a reader can authenticate, in a versioned (Object Lock) bucket: an overwrite or a
 * plain delete of a locked object does not fail there, it adds a version or a delete marker above
 * the locked one. The current version is used when `accept` takes it; else the previous versions
 * are tried, newest first, and the first one `accept` takes is used (`accept` throwing counts as
 * refusing). With `evenIfDeleted`, a key whose current version is a delete marker is read the same
 * way: only for objects an authenticated reference (a catalog, an index) says must exist.
 * Returns the current body (or undefined) when no version is accepted, so the caller reports it.
 */
export async function getAuthentic(
  store: ObjectStore,
  key: string,
  accept: (body: Buffer) => boolean,
  opts: { evenIfDeleted?: boolean } = {},
): Promise<Buffer | undefined> {
  const current = await store.get(key);
  if (current === undefined ? !opts.evenIfDeleted : accepts(accept, current)) return current;
  for (const versionId of (await store.previousVersions?.(key)) ?? []) {
    const body = await store.get(key, { versionId });
    if (body !== undefined && accepts(accept, body)) return body;
  }
  return current;
}

export function accepts(accept: (body: Buffer) => boolean, body: Buffer): boolean {
  try {
    return accept(body);
  } catch {
    return false;
  }
}

/** Thrown when an object the caller requires is absent. */
export class ObjectNotFoundError extends Error {
  constructor(readonly location: string, readonly key: string) {
    super(`object ${key} not found in ${location}`);
    this.name = 'ObjectNotFoundError';
  }
}

export async function getRequired(store: ObjectStore, key: string): Promise<Buffer> {
  const body = await store.get(key);
  if (body === undefined) throw new ObjectNotFoundError(store.location, key);
  return body;
}

export async function listAll(store: ObjectStore, prefix: string): Promise<StoredObject[]> {
  const out: StoredObject[] = [];
  for await (const o of store.list(prefix)) out.push(o);
  return out;
}
