import { createHash } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, RetryState } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { checkStore } from '../../workflows';
import { attachTestEnv, replayHistory, startOrchestratorWorker, uniqueId } from '../harness/temporal';
import { freshStore, testStoreRef } from '../harness/store';
import { listAll } from '../../activities/store/object-store';
import { saveHistory } from '../harness/histories';

describe('checkStore workflow (the vertical slice) on the real dev server and MinIO', () => {
  let env: TestWorkflowEnvironment;
  beforeAll(async () => {
    env = await attachTestEnv();
  });
  afterAll(async () => {
    await env?.teardown();
  });

  it('writes a probe to MinIO, reads it back byte for byte, deletes it, and replays deterministically', async () => {
    const { ref, store } = await freshStore('slice');
    const w = await startOrchestratorWorker(env);
    try {
      const workflowId = uniqueId('store-check');
      const handle = await env.client.workflow.start(checkStore, {
        taskQueue: w.taskQueue,
        workflowId,
        args: [{ store: ref, sizeBytes: 256 * 1024 }],
      });
      const result = await handle.result();
      expect(result.bytes).toBe(256 * 1024);
      expect(result.location).toBe(`s3://${ref.bucket}/slice`);
      expect(result.sha256).toMatch(/^[0-9a-f]{64}$/);
      // The probe was deleted: nothing is left behind in the bucket.
      expect(await listAll(store, '')).toEqual([]);

      const history = await handle.fetchHistory();
      await replayHistory(history, workflowId);
      saveHistory(history, 'check-store-v1');
    } finally {
      await w.stop();
    }
  });

  it('fails with a clear, non-retried error when the bucket does not exist', async () => {
    const ref = testStoreRef('no-such-bucket-' + createHash('sha1').update(uniqueId('b')).digest('hex').slice(0, 8));
    const w = await startOrchestratorWorker(env);
    try {
      const err = await env.client.workflow
        .execute(checkStore, { taskQueue: w.taskQueue, workflowId: uniqueId('store-check'), args: [{ store: ref }] })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const cause = (err as WorkflowFailedError).cause?.cause as Error & { type?: string };
      expect(cause.type).toBe('NotFoundError');
      expect(cause.message).toMatch(/bucket no-such-bucket-\w+ does not exist/);
      // Not retried: a missing bucket does not appear by waiting.
      expect(((err as WorkflowFailedError).cause as ActivityFailure).retryState).toBe(RetryState.NON_RETRYABLE_FAILURE);
    } finally {
      await w.stop();
    }
  });
});
