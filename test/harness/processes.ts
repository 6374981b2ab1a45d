/**
 * Real worker and node-agent processes for end-to-end and fault tests, run from the compiled
 * dist/ (scripts/test.sh compiles before jest), so a test can SIGKILL them like a crash would.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.resolve(__dirname, '../..');

export interface TestProcess {
  name: string;
  child: ChildProcess;
  logFile: string;
  /** Sends a signal (SIGKILL simulates a crash) and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  log(): string;
}

function start(name: string, script: string, env: NodeJS.ProcessEnv, args: string[] = []): TestProcess {
  const file = path.join(ROOT, 'dist', script);
  const dir = path.join(process.env.TDR_TEST_STACK_DIR ?? '/tmp', 'procs');
  mkdirSync(dir, { recursive: true });
  const logFile = path.join(dir, `${name}-${Date.now()}.log`);
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, [file, ...args], { env: { ...process.env, LOG_LEVEL: 'WARN', ...env }, stdio: ['ignore', fd, fd] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    name,
    child,
    logFile,
    async kill(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
    log: () => readFileSync(logFile, 'utf8'),
  };
}

/** The orchestrator worker on a task queue. */
export const startWorkerProcess = (taskQueue: string, env: NodeJS.ProcessEnv = {}) =>
  start(`worker-${taskQueue}`, 'worker/orchestrator.js', { TEMPORAL_TASK_QUEUE: taskQueue, WORKER_SHUTDOWN_GRACE: '1s', ...env });

/**
 * `drctl codec-server` on the port the test stack's UI calls (TDR_CODEC_PORT), for the UI's origin;
 * resolves once it listens. `env` may give it other keys than the run's.
 */
export async function startCodecServer(env: NodeJS.ProcessEnv = {}): Promise<TestProcess> {
  const port = process.env.TDR_CODEC_PORT!;
  const p = start('codec-server', 'client/drctl.js', env, ['codec-server', '--port', port, '--ui-origin', process.env.TDR_TEMPORAL_UI!]);
  const deadline = Date.now() + 30_000;
  while (!(await fetch(`http://127.0.0.1:${port}/decode`, { method: 'OPTIONS' }).then(() => true, () => false))) {
    if (p.child.exitCode !== null || Date.now() > deadline) throw new Error(`drctl codec-server did not listen on ${port}: ${p.log()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return p;
}

/** A node agent serving the given nodes of a cluster, resolving volumes through that cluster's context. */
export const startAgentProcess = (cluster: string, nodes: string[], env: NodeJS.ProcessEnv = {}) =>
  start(`agent-${cluster}`, 'worker/node-agent.js', {
    TDR_CLUSTER: cluster,
    TDR_NODES: nodes.join(','),
    TDR_AGENT_KUBECONFIG: process.env.TDR_KUBECONFIG,
    TDR_AGENT_CONTEXT: cluster,
    ...env,
  });

/** The controller (worker/controller.js) serving `cluster`, starting workflows on `taskQueue`. */
export const startControllerProcess = (cluster: string, taskQueue: string, env: NodeJS.ProcessEnv = {}) =>
  start(`controller-${cluster}`, 'worker/controller.js', {
    LOG_LEVEL: 'INFO',
    TEMPORAL_TASK_QUEUE: taskQueue,
    TDR_CONTROLLER_CONTEXT: cluster,
    TDR_CONTROLLER_CLUSTER_NAME: cluster,
    TDR_TEMPORAL_UI_URL: process.env.TDR_TEMPORAL_UI,
    ...env,
  });
