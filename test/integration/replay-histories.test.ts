/** Replays every committed history so a workflow change that breaks running executions fails CI. */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';

const dir = path.join(__dirname, '../histories');
const files = readdirSync(dir).filter((f) => f.endsWith('.json'));

describe('replay of recorded workflow histories', () => {
  it('has at least one recorded history per workflow type', () => {
    expect(files.length).toBeGreaterThan(0);
  });
  it.each(files)('%s replays without non-determinism', async (file) => {
    const history = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
    await Worker.runReplayHistory({ workflowBundle: { codePath: process.env.TDR_WORKFLOW_BUNDLE! } }, history, file);
  });
});
