import type { Command } from 'commander';
import { wholeNumber } from '../flags';
import { checkStore } from '../../workflows';
import { openClient } from '../temporal-client';
import { storeRefFromOptions } from '../store-options';
import { DrOperation } from '../../shared/search-attributes';
import { runResult } from '../run-result';

export function registerStoreCommands(program: Command): void {
  const store = program.command('store').description('object-store utilities');
  store
    .command('check')
    .description('write a probe object to the store, read it back and compare checksums (runs as a workflow)')
    .option('--store <url>', 's3://bucket/prefix (default: S3_BUCKET and S3_PREFIX)')
    .option('--endpoint <url>', 'S3 endpoint (default: S3_ENDPOINT)')
    .option('--size <bytes>', 'probe size in bytes', wholeNumber(1), 1024 * 1024)
    .action(async (opts: { store?: string; endpoint?: string; size: number }) => {
      const ref = storeRefFromOptions(opts);
      const dr = await openClient();
      try {
        const workflowId = `store-check/${ref.bucket}/${Date.now()}`;
        const handle = await dr.client.workflow.start(checkStore, {
          taskQueue: dr.settings.taskQueue,
          workflowId,
          args: [{ store: ref, sizeBytes: opts.size }],
          typedSearchAttributes: [{ key: DrOperation, value: 'store-check' }],
          staticSummary: `Object-store round trip on ${ref.bucket}`,
        });
        console.log(`started ${workflowId}`);
        const r = await runResult<Awaited<ReturnType<typeof checkStore>>>(handle, `store check of ${ref.bucket}`);
        console.log(`ok: wrote and read back ${r.bytes} bytes at ${r.location}/${r.key} (sha256 ${r.sha256.slice(0, 16)}…, put ${r.putMs} ms, get ${r.getMs} ms)`);
      } finally {
        await dr.close();
      }
    });
}
