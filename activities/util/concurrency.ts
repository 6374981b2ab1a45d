/**
 * Maps with at most `limit` calls in flight; results in input order; first error rejects, and no
 * new item starts after it (a cancelled activity stops instead of finishing the whole list).
 */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async (): Promise<void> => {
    while (next < items.length && !failed) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!, i);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Throws the signal's reason (or an AbortError) when aborted. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    throw signal.reason instanceof Error ? signal.reason : Object.assign(new Error('operation aborted'), { name: 'AbortError' });
  }
}

/**
 * For loops of synchronous fs calls on many small files (each async fs call is a round trip
 * through libuv's thread pool, which on trees of small files costs more than the work): the
 * returned function lets the event loop turn once the current synchronous stretch has lasted
 * `sliceMs`, so heartbeats, uploads and cancellation keep flowing.
 */
export function syncSlices(sliceMs = 10): () => Promise<void> {
  let sliceStart = performance.now();
  return async () => {
    if (performance.now() - sliceStart < sliceMs) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
    sliceStart = performance.now();
  };
}
