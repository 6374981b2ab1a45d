#!/usr/bin/env node
/**
 * The orchestrator worker process. Configuration comes from the environment (see README,
 * "Configuration"). SIGINT/SIGTERM drain in-flight tasks for up to WORKER_SHUTDOWN_GRACE
 * (default 10s) and exit.
 */
import '../config/node-version';
import { temporalSettings } from '../config/environment';
import { connectWorker } from '../config/temporal-connection';
import { createOrchestratorWorker, type WorkerRole } from './create-worker';
import { runMain } from '../config/run-main';
import { installRuntime } from '../config/runtime';
import { startHealthServer } from '../config/health-server';

runMain('worker', async () => {
  const settings = temporalSettings();
  installRuntime();
  const connection = await connectWorker(settings);
  const worker = await createOrchestratorWorker({
    connection,
    namespace: settings.namespace,
    taskQueue: settings.taskQueue,
    shutdownGraceTime: (process.env.WORKER_SHUTDOWN_GRACE as '10s' | undefined) ?? '10s',
    role: workerRole(process.env.TDR_WORKER_ROLE),
  });
  const health = await startHealthServer({ states: () => [worker.getState()], connection });
  console.log(`worker: polling task queue ${settings.taskQueue} on ${settings.address} (namespace ${settings.namespace})`);
  await worker.run();
  health?.close();
  await connection.close();
  console.log('worker: stopped');
});

/** TDR_WORKER_ROLE: all (default), workflows or activities. */
function workerRole(value: string | undefined): WorkerRole {
  if (value === undefined || value === '' || value === 'all') return 'all';
  if (value === 'workflows' || value === 'activities') return value;
  throw new Error(`TDR_WORKER_ROLE=${value}: expected all, workflows or activities`);
}
