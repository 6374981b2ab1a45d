/**
 * The worker's /livez and /readyz (config/health-server.ts), which the chart's probes call: a real
 * worker process reaching the real Temporal dev server through a TCP relay the test cuts and
 * restores, as a network partition would.
 */
import { freePort } from '../stack/postgres';
import { startTcpRelay } from '../harness/tcp-relay';
import { startWorkerProcess, type TestProcess } from '../harness/processes';
import { uniqueId } from '../harness/temporal';

async function probe(url: string): Promise<{ status: number; body: string }> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    return { status: res.status, body: await res.text() };
  } catch (err) {
    return { status: 0, body: (err as Error).message };
  }
}

async function waitFor(url: string, status: number, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = { status: 0, body: '' };
  while (Date.now() < deadline) {
    last = await probe(url);
    if (last.status === status) return last.body;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`${url} still answers ${last.status} (${last.body.trim()}), expected ${status}`);
}

describe('worker health endpoints', () => {
  let worker: TestProcess | undefined;
  afterAll(async () => {
    await worker?.kill('SIGKILL');
  });

  it('are ready only while the Temporal server is reachable, and stay live through a partition', async () => {
    const relay = await startTcpRelay(process.env.TEMPORAL_ADDRESS!);
    const health = `127.0.0.1:${await freePort()}`;
    worker = startWorkerProcess(uniqueId('health'), { TEMPORAL_ADDRESS: relay.address, TDR_HEALTH_ADDRESS: health });

    expect(await waitFor(`http://${health}/readyz`, 200)).toMatch(/^ok: workers RUNNING; Temporal server reachable/);
    expect((await probe(`http://${health}/livez`)).status).toBe(200);

    await relay.down();
    expect(await waitFor(`http://${health}/readyz`, 503)).toMatch(/^not ok: Temporal server not reachable through the worker's connection/);
    expect(await probe(`http://${health}/livez`)).toEqual({ status: 200, body: expect.stringMatching(/^ok: workers RUNNING/) });

    await relay.up();
    expect(await waitFor(`http://${health}/readyz`, 200, 120_000)).toMatch(/Temporal server reachable/);

    expect((await probe(`http://${health}/other`)).status).toBe(404);
    await worker.kill('SIGTERM');
    expect(worker.child.exitCode).toBe(0);
    await relay.down();
  });
});
