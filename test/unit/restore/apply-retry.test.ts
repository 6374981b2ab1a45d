// One object the API server throttles (429) or briefly fails (503) is retried on its own, after
// the delay the server asks for; a rejection that is not transient is not retried.
import { ApiException } from '@kubernetes/client-node';
import { applyConcurrency, withTransientRetry } from '../../../activities/restore/apply-wave';

const apiError = (code: number, headers: Record<string, string> = {}) => new ApiException(code, `HTTP ${code}`, '{}', headers);

describe('applying one object', () => {
  test('is retried while the server answers 429/503, after the Retry-After it sends', async () => {
    let calls = 0;
    const started = Date.now();
    const out = await withTransientRetry(async () => {
      calls++;
      if (calls === 1) throw apiError(429, { 'retry-after': '1' });
      if (calls === 2) throw apiError(503);
      return 'created';
    });
    expect(out).toBe('created');
    expect(calls).toBe(3);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  });

  test('gives up after five tries with the last error, and never retries a 422', async () => {
    let calls = 0;
    await expect(withTransientRetry(async () => { calls++; throw apiError(500); })).rejects.toMatchObject({ code: 500 });
    expect(calls).toBe(5);
    calls = 0;
    await expect(withTransientRetry(async () => { calls++; throw apiError(422); })).rejects.toMatchObject({ code: 422 });
    expect(calls).toBe(1);
  }, 30_000);
});

describe('TDR_APPLY_CONCURRENCY', () => {
  test('defaults to 32, takes a whole number, and names itself when wrong', () => {
    expect(applyConcurrency({})).toBe(32);
    expect(applyConcurrency({ TDR_APPLY_CONCURRENCY: '64' })).toBe(64);
    expect(() => applyConcurrency({ TDR_APPLY_CONCURRENCY: 'many' })).toThrow(/TDR_APPLY_CONCURRENCY="many".*1 to 512/);
    expect(() => applyConcurrency({ TDR_APPLY_CONCURRENCY: '0' })).toThrow(/TDR_APPLY_CONCURRENCY/);
  });
});
