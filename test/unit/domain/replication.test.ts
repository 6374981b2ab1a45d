import { replicateWorkflowId, rpoHealth } from '../../../shared/replication';
import { formatStatus, liveRpo } from '../../../client/commands/replicate';
import type { ReplicateStatus } from '../../../shared/replication';

describe('replication vocabulary', () => {
  it('names one loop per plan and site', () => expect(replicateWorkflowId('shop', 'dr-east')).toBe('replicate/shop/dr-east'));

  it.each([
    [undefined, 'no-point-yet'],
    [0, 'ok'],
    [60_000, 'ok'],
    [60_001, 'over-target'],
    [119_999, 'over-target'],
    [120_000, 'warning'],
    [179_999, 'warning'],
    [180_000, 'critical'],
  ] as const)('achieved %p ms against a 1m target is %s (warning at 2x, critical at 3x)', (achieved, health) => {
    expect(rpoHealth(achieved, 60_000)).toBe(health);
  });

  it('drctl computes the live RPO from the capture time and says when it is critical', () => {
    const now = Date.parse('2026-12-01T12:10:00Z');
    const s: ReplicateStatus = {
      planName: 'shop',
      site: 'target',
      phase: 'Waiting',
      paused: false,
      intervalMs: 30_000,
      targetRpoMs: 60_000,
      achievedRpoMs: 5_000,
      rpoHealth: 'ok',
      asOf: '2026-12-01T12:00:05Z',
      cycles: 3,
      cyclesThisRun: 1,
      runs: 3,
      pointsShipped: 2,
      bytesShipped: 4096,
      failures: 1,
      consecutiveFailures: 1,
      newest: { pointId: '20261201T120000Z-abcd', capturedAt: '2026-12-01T12:00:00Z', shippedAt: '2026-12-01T12:00:04Z', bytesShipped: 2048 },
      lastError: { at: '2026-12-01T12:05:00Z', phase: 'Ship', message: 'cannot reach the object store at http://dr:9000 (ECONNREFUSED)' },
    };
    expect(liveRpo(s, now)).toEqual({ achievedRpoMs: 600_000, rpoHealth: 'critical' });
    expect(liveRpo({ ...s, newest: undefined }, now)).toEqual({ rpoHealth: 'no-point-yet' });
    const text = formatStatus(s);
    expect(text).toContain('last error     Ship at 2026-12-01T12:05:00Z: cannot reach the object store');
    expect(text).toContain('shipped        2 point(s), 4.0 KiB in 3 cycle(s) (1 failed, 1 in a row)');
  });
});
