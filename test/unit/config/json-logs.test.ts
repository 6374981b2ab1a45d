import { jsonLogLine } from '../../../config/runtime';

describe('JSON log lines', () => {
  it('puts time, level, message and every attribute of the run on one line, bigints and errors included', () => {
    const line = jsonLogLine({
      level: 'WARN',
      message: 'quiesce released before the workflow asked',
      timestampNanos: 1_764_633_600_123_000_000n,
      meta: { workflowId: 'backup/shop', workflowRunId: 'r1', activityType: 'holdHookSession', attempt: 2n, error: new Error('boom') },
    });
    expect(line).not.toContain('\n');
    expect(JSON.parse(line)).toEqual({
      time: '2025-12-02T00:00:00.123Z',
      level: 'WARN',
      message: 'quiesce released before the workflow asked',
      workflowId: 'backup/shop',
      workflowRunId: 'r1',
      activityType: 'holdHookSession',
      attempt: '2',
      error: { name: 'Error', message: 'boom' },
    });
  });
});
