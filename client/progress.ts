import type { WorkflowHandle } from '@temporalio/client';
import { detachOnInterrupt } from './run-result';

/** Heartbeat details of a workflow's running activities (bytes done/total of volume copies). */
async function pendingTransfer(handle: WorkflowHandle): Promise<{ done: number; total: number } | undefined> {
  const d = await handle.describe().catch(() => undefined);
  const pending = d?.raw.pendingActivities ?? [];
  let done = 0;
  let total = 0;
  for (const a of pending) {
    const payload = a.heartbeatDetails?.payloads?.[0];
    if (!payload?.data) continue;
    try {
      const hb = JSON.parse(Buffer.from(payload.data).toString('utf8')) as { bytesDone?: number; bytesTotal?: number };
      done += hb.bytesDone ?? 0;
      total += hb.bytesTotal ?? 0;
    } catch {
      // Not our JSON heartbeat; ignore.
    }
  }
  return total ? { done, total } : undefined;
}

export const formatBytes = (n: number): string => {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) (v /= 1024), i++;
  return `${v.toFixed(i ? 1 : 0)} ${units[i]}`;
};

/**
 * Prints a workflow's progress until it ends: its `progress` query plus the bytes its node agents
 * report in heartbeats, on stderr so stdout keeps only the result: one line per change when not on
 * a terminal, a live line when on one.
 */
export async function followProgress<P extends object>(handle: WorkflowHandle, render: (p: P, transfer?: { done: number; total: number }) => string): Promise<void> {
  let last = '';
  let finished = false;
  const stopDetach = detachOnInterrupt(handle.workflowId);
  const result = handle.result().finally(() => {
    finished = true;
    stopDetach();
  });
  result.catch(() => undefined);
  while (!finished) {
    const p = await handle.query<P>('progress').catch(() => undefined);
    if (p) {
      const line = render(p, await pendingTransfer(handle));
      if (line !== last) {
        if (process.stderr.isTTY) process.stderr.write(`\r\x1b[2K${line}`);
        else process.stderr.write(`${line}\n`);
        last = line;
      }
    }
    await Promise.race([result.catch(() => undefined), new Promise((r) => setTimeout(r, 1000))]);
  }
  if (process.stderr.isTTY && last) process.stderr.write('\n');
}
