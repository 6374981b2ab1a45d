/** Per-test access to the run's shared Temporal server, with unique task queues and IDs. */
import { randomUUID } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Runtime, DefaultLogger, Worker } from '@temporalio/worker';
import { createOrchestratorWorker } from '../../worker/create-worker';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { payloadDataConverter } from '../../config/payload-codec';

let installed = false;
/** Keeps the SDK's own logging to warnings, once per test file (Runtime is a per-module singleton). */
export function installRuntime(): void {
  if (installed) return;
  installed = true;
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    // Already installed by an earlier call in this module registry.
  }
}

export async function attachTestEnv(): Promise<TestWorkflowEnvironment> {
  installRuntime();
  const address = process.env.TEMPORAL_ADDRESS;
  if (!address) throw new Error('TEMPORAL_ADDRESS is not set: run tests through jest so test/harness/global-setup.ts starts the stack');
  return TestWorkflowEnvironment.createFromExistingServer({ address, namespace: 'default', client: { dataConverter: payloadDataConverter() } });
}

/** Replays a history with the run's workflow bundle and payload keys; throws on non-determinism. */
export function replayHistory(history: Parameters<typeof Worker.runReplayHistory>[1], workflowId: string): Promise<void> {
  return Worker.runReplayHistory({ workflowBundle: { codePath: process.env.TDR_WORKFLOW_BUNDLE! }, dataConverter: payloadDataConverter() }, history, workflowId);
}

/** A payload as the server stores it (in a fetched history), decrypted with the run's keys and decoded. */
export async function decodePayload<T>(payload: Payload): Promise<T> {
  let p = payload;
  for (const codec of [...(payloadDataConverter().payloadCodecs ?? [])].reverse()) [p] = await codec.decode([p]);
  return defaultPayloadConverter.fromPayload(p) as T;
}

export const uniqueId = (prefix: string): string => `${prefix}-${randomUUID().slice(0, 8)}`;

/** Creates an orchestrator worker on a fresh task queue, using the run's pre-built bundle. */
export async function startOrchestratorWorker(env: TestWorkflowEnvironment, taskQueue = uniqueId('tq')) {
  const worker: Worker = await createOrchestratorWorker({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    workflowBundle: { codePath: process.env.TDR_WORKFLOW_BUNDLE! },
    shutdownGraceTime: '1s',
  });
  const running = worker.run();
  return {
    worker,
    taskQueue,
    async stop() {
      worker.shutdown();
      await running;
    },
  };
}
