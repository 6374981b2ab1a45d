import { createHash, randomBytes } from 'node:crypto';
import type { StoreRef } from '../../shared/store-ref';
import type { StoreCheckResult } from '../../shared/store-check';
import { DataCorruptionError } from '../../shared/errors';
import { openStore } from './open-store';

/**
 * Writes a probe object of `sizeBytes` random bytes, reads it back, compares SHA-256 and deletes
 * it. Idempotent: the key is derived from the caller's run id, so a retry overwrites its own probe.
 */
export async function checkStoreRoundTrip(ref: StoreRef, runId: string, sizeBytes: number): Promise<StoreCheckResult> {
  const store = openStore(ref);
  const key = `probes/${runId}`;
  const body = randomBytes(sizeBytes);
  const written = createHash('sha256').update(body).digest('hex');
  const t0 = Date.now();
  await store.put(key, body);
  const t1 = Date.now();
  const back = await store.get(key);
  const t2 = Date.now();
  const read = back ? createHash('sha256').update(back).digest('hex') : 'missing';
  await store.delete([key]);
  if (read !== written) {
    throw new DataCorruptionError(`probe ${store.location}/${key}: wrote sha256 ${written}, read back ${read}`);
  }
  return { location: store.location, key, bytes: sizeBytes, sha256: written, putMs: t1 - t0, getMs: t2 - t1 };
}
