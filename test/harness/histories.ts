import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { temporal } from '@temporalio/proto';
import type { WorkflowHandle } from '@temporalio/client';

/** Whether this run records replay fixtures (TDR_RECORD_HISTORIES=1). */
export const recordingHistories = (): boolean => process.env.TDR_RECORD_HISTORIES === '1';

/** With TDR_RECORD_HISTORIES=1, saves a fetched history as a replay fixture (test/histories/<name>.bin). */
export function saveHistory(history: temporal.api.history.v1.IHistory, name: string): void {
  if (!recordingHistories()) return;
  writeFileSync(path.join(__dirname, `../histories/${name}.bin`), temporal.api.history.v1.History.encode(history).finish());
}

/** With TDR_RECORD_HISTORIES=1, saves a run's history as a replay fixture (test/histories/<name>.bin). */
export async function recordHistory(handle: Pick<WorkflowHandle, 'fetchHistory'>, name: string): Promise<void> {
  if (recordingHistories()) saveHistory(await handle.fetchHistory(), name);
}
