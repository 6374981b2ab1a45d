import type { Readable } from 'node:stream';

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
  put(key: string, body: Buffer | string, opts?: { contentType?: string; contentMd5?: string }): Promise<void>;
  /** Streams a large body with a multipart upload. */
  putStream(key: string, body: Readable, opts?: { contentType?: string; signal?: AbortSignal }): Promise<void>;
  /** Returns undefined when the key does not exist. */
  get(key: string): Promise<Buffer | undefined>;
  getRange(key: string, offset: number, length: number): Promise<Buffer>;
  head(key: string): Promise<{ size: number; lastModified?: Date } | undefined>;
  list(prefix: string): AsyncIterable<StoredObject>;
  delete(keys: string[]): Promise<void>;
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
