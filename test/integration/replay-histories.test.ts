/**
 * Replays every committed history (binary protobuf, one per workflow type and version) so a
 * workflow change that would break running executions fails CI. Record new ones with
 * TDR_RECORD_HISTORIES=1 when a workflow's shape changes on purpose (and guard it with patched()).
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import { installRuntime, replayHistory } from '../harness/temporal';

installRuntime();

const dir = path.join(__dirname, '../histories');
const files = readdirSync(dir).filter((f) => f.endsWith('.bin'));

describe('replay of recorded workflow histories', () => {
  it('has at least one recorded history', () => {
    expect(files.length).toBeGreaterThan(0);
  });
  it.each(files)('%s replays without non-determinism', async (file) => {
    const history = temporal.api.history.v1.History.decode(readFileSync(path.join(dir, file)));
    expect(history.events.length).toBeGreaterThan(3);
    await replayHistory(history, file);
  });
});
