import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities } from '../activities';
import { payloadDataConverter } from '../config/payload-codec';

export interface OrchestratorWorkerOptions {
  connection: NativeConnection;
  namespace: string;
  taskQueue: string;
  /** Pre-bundled workflow code (tests bundle once per run); otherwise bundled from ../workflows. */
  workflowBundle?: WorkerOptions['workflowBundle'];
  /** Seconds an in-flight activity gets to finish on shutdown before it is cancelled. */
  shutdownGraceTime?: WorkerOptions['shutdownGraceTime'];
  /**
   * `all` (default), or only `workflows` or only `activities`: workflow code and activities (hook
   * sessions among them) can run in separate processes, deployed and restarted independently.
   */
  role?: WorkerRole;
}

export type WorkerRole = 'all' | 'workflows' | 'activities';

export const WORKFLOWS_PATH = require.resolve('../workflows');

/** The orchestrator worker: every workflow, and the activities that talk to Kubernetes and S3. */
export async function createOrchestratorWorker(opts: OrchestratorWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace,
    taskQueue: opts.taskQueue,
    ...(opts.role === 'activities' ? {} : opts.workflowBundle ? { workflowBundle: opts.workflowBundle } : { workflowsPath: WORKFLOWS_PATH }),
    ...(opts.role === 'workflows' ? {} : { activities: createActivities() }),
    shutdownGraceTime: opts.shutdownGraceTime ?? '10s',
    dataConverter: payloadDataConverter(),
  });
}
