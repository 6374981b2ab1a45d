import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import type { WorkflowHandle } from '@temporalio/client';

/** With TDR_RECORD_HISTORIES=1, saves a run's history as a replay fixture (test/histories/<name>.bin). */
export async function recordHistory(handle: WorkflowHandle, name: string): Promise<void> {
  if (process.env.TDR_RECORD_HISTORIES !== '1') return;
  const history = await handle.fetchHistory();
  writeFileSync(path.join(__dirname, `../histories/${name}.bin`), temporal.api.history.v1.History.encode(history).finish());
}
