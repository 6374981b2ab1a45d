import { liveness, readiness } from '../../../config/health-server';

const connection = (check: () => Promise<unknown>) => ({
  healthService: { check } as never,
  withDeadline: <T>(_d: number | Date, fn: () => Promise<T>) => fn(),
});

describe('worker health', () => {
  it('is live until a worker fails or stops', () => {
    expect(liveness(['RUNNING', 'DRAINING'])).toEqual({ ok: true, reason: 'workers RUNNING, DRAINING' });
    expect(liveness(['RUNNING', 'FAILED'])).toEqual({ ok: false, reason: 'a worker is FAILED' });
    expect(liveness(['STOPPED'])).toEqual({ ok: false, reason: 'a worker is STOPPED' });
  });

  it('is ready only with every worker running and the server answering', async () => {
    expect(await readiness({ states: () => ['RUNNING'], connection: connection(async () => ({})) })).toEqual({ ok: true, reason: 'workers RUNNING; Temporal server reachable' });
    expect(await readiness({ states: () => ['INITIALIZED'], connection: connection(async () => ({})) })).toEqual({ ok: false, reason: 'workers INITIALIZED (not all RUNNING)' });
    const down = await readiness({ states: () => ['RUNNING'], connection: connection(async () => Promise.reject(new Error('14 UNAVAILABLE: tcp connect error\nmore'))) });
    expect(down).toEqual({ ok: false, reason: "Temporal server not reachable through the worker's connection: 14 UNAVAILABLE: tcp connect error" });
  });
});
