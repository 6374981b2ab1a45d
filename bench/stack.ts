/**
 * The local stack of the benchmarks that need Kubernetes (B7 objects, B8 failover): two kwok
 * clusters, a Temporal dev server, the orchestrator worker and a node agent per cluster as real
 * processes, and the run's MinIO. Each benchmark gets its own workdir under /tmp and stops
 * everything it started, also on failure.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import { generateMasterKey } from '../activities/datapath/crypto';
import { REPO_ROOT, findBinaries, startTemporal, stopServer, type MinioServer } from '../scripts/stack/local-stack';
import type { BenchContext } from './run';
import { payloadDataConverter } from '../config/payload-codec';

export const CLUSTERS_SH = path.join(REPO_ROOT, 'scripts', 'stack', 'clusters.sh');
export const NODES = ['node-0', 'node-1', 'node-2'];

export function sh(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; logFile?: string } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { env: { ...process.env, ...opts.env }, maxBuffer: 64 << 20, timeout: opts.timeoutMs ?? 15 * 60_000 }, (e, stdout, stderr) => {
      if (opts.logFile) writeFileSync(opts.logFile, `$ ${cmd} ${args.join(' ')}\n${stdout}\n--- stderr\n${stderr}\n`, { flag: 'a' });
      if (e) reject(new Error(`${path.basename(cmd)} ${args.join(' ')} failed (${e.message.split('\n')[0]}):\n${stderr.split('\n').slice(-30).join('\n')}`));
      else resolve(stdout);
    });
  });
}

export interface Proc {
  name: string;
  child: ChildProcess;
  logFile: string;
  stop(): Promise<void>;
}

/** A worker or agent process from dist/; resolves once its log says it is polling. */
export async function startProc(name: string, script: string, env: NodeJS.ProcessEnv, logDir: string, readyText: string): Promise<Proc> {
  const logFile = path.join(logDir, `${name}.log`);
  const fd = openSync(logFile, 'a');
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'dist', script)], { env: { ...process.env, LOG_LEVEL: 'WARN', ...env }, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const p: Proc = {
    name,
    child,
    logFile,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(t);
    },
  };
  const deadline = Date.now() + 180_000;
  for (;;) {
    const log = readFileSync(logFile, 'utf8');
    if (log.includes(readyText)) return p;
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${name} exited before it was ready; log ${logFile}:\n${log.slice(-3000)}`);
    if (Date.now() > deadline) {
      await p.stop();
      throw new Error(`${name} not ready within 180 s; log ${logFile}:\n${log.slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

export interface BenchStack {
  work: string;
  logDir: string;
  kubeconfig: string;
  /** [kubectl binary, args] for a context, for run()/sh(). */
  kubectl(context: string, ...args: string[]): [string, string[]];
  kc(context: string): k8s.KubeConfig;
  minio: MinioServer;
  /** The store credentials the processes use, for opening the store from the bench. */
  storeEnv: NodeJS.ProcessEnv;
  client: Client;
  taskQueue: string;
  worker: Proc;
  /** Workdirs of the clusters (kwok pid files under kwok/clusters/<name>/pids) and of Temporal (temporal.pid). */
  clustersDir: string;
  stackDir: string;
  /**
   * Starts one more orchestrator worker process on the same task queue (scale-out), stopped by
   * close() like the others; `name` names its log file.
   */
  addWorker(name: string, env?: NodeJS.ProcessEnv): Promise<Proc>;
  close(): Promise<void>;
}

/** Starts the stack for benchmark `label` (e.g. B7); the repository key is in `keyEnv` on every process and in this one. */
export async function startBenchStack(ctx: BenchContext, label: string, name: string, keyEnv: string): Promise<BenchStack> {
  // Own workdir under /tmp, mode 755 (the kubelet simulator's PostgreSQL user must reach volumes).
  const work = mkdtempSync(`/tmp/tdr-bench-${name}-`);
  chmodSync(work, 0o755);
  const clustersDir = path.join(work, 'clusters');
  const stackDir = path.join(work, 'stack');
  const logDir = path.join(work, 'logs');
  mkdirSync(logDir, { recursive: true });
  const procs: Proc[] = [];
  let clustersStarted = false;
  let temporalStarted = false;
  let connection: Connection | undefined;
  const close = async () => {
    await connection?.close().catch(() => undefined);
    await Promise.all(procs.map((p) => p.stop().catch((e) => console.error(`stopping ${p.name}: ${e}`))));
    if (temporalStarted) await stopServer(stackDir, 'temporal').catch((e) => console.error(`stopping Temporal: ${e}`));
    if (clustersStarted) {
      await sh('bash', [CLUSTERS_SH, 'down', '--workdir', clustersDir, ...(process.env.BENCH_KEEP === '1' ? [] : ['--purge'])], { timeoutMs: 5 * 60_000, logFile: path.join(logDir, 'clusters-down.log') }).catch((e) =>
        console.error(`stopping the clusters: ${e}`),
      );
    }
    if (process.env.BENCH_KEEP === '1') console.log(`[bench] kept ${work}`);
    else rmSync(work, { recursive: true, force: true });
  };
  try {
    const bins = findBinaries();
    const minio = await ctx.minio();
    ctx.log(`${label}: starting clusters (workdir ${clustersDir}) and Temporal`);
    const t0 = Date.now();
    clustersStarted = true; // `down --purge` is safe on a half-started workdir
    // allSettled: neither start is left running behind a failure of the other when cleanup runs.
    const [clustersUp, temporalUp] = await Promise.allSettled([
      sh('bash', [CLUSTERS_SH, 'up', '--workdir', clustersDir], { timeoutMs: 20 * 60_000, logFile: path.join(logDir, 'clusters-up.log') }),
      startTemporal({ bin: bins.temporal, dir: stackDir, headless: true }).finally(() => (temporalStarted = true)),
    ]);
    if (clustersUp.status === 'rejected') {
      throw new Error(`${label} needs the local clusters, and they did not start (log ${path.join(logDir, 'clusters-up.log')}): ${(clustersUp.reason as Error).message}`);
    }
    if (temporalUp.status === 'rejected') throw new Error(`${label}: the Temporal dev server did not start: ${(temporalUp.reason as Error).message}`);
    const temporal = temporalUp.value;
    const kubeconfig = /^TDR_KUBECONFIG=(.*)$/m.exec(clustersUp.value)?.[1] ?? path.join(clustersDir, 'kubeconfig');
    const kubectlBin = /^KUBECTL=(.*)$/m.exec(await sh('bash', [CLUSTERS_SH, 'env', '--workdir', clustersDir]))?.[1];
    if (!kubectlBin) throw new Error('clusters.sh env printed no KUBECTL=');
    ctx.log(`${label}: clusters and Temporal ${temporal.address} up in ${((Date.now() - t0) / 1000).toFixed(0)} s`);

    process.env[keyEnv] = generateMasterKey();
    const taskQueue = `bench-${name}`;
    const storeEnv = { AWS_ACCESS_KEY_ID: minio.accessKeyId, AWS_SECRET_ACCESS_KEY: minio.secretAccessKey };
    const procEnv: NodeJS.ProcessEnv = {
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_NAMESPACE: 'default',
      TDR_KUBECONFIG: kubeconfig,
      TDR_KUBELET_ROOT: path.join(path.dirname(kubeconfig), 'kubelet', '{cluster}', '{node}'),
      ...storeEnv,
      S3_ENDPOINT: minio.endpoint,
      S3_REGION: 'us-east-1',
      [keyEnv]: process.env[keyEnv],
    };
    const workerEnv = { ...procEnv, TEMPORAL_TASK_QUEUE: taskQueue, WORKER_SHUTDOWN_GRACE: '1s' };
    const started = await Promise.all([
      startProc('worker', 'worker/orchestrator.js', workerEnv, logDir, 'worker: polling'),
      startProc('agent-source', 'worker/node-agent.js', { ...procEnv, TDR_CLUSTER: 'source', TDR_NODES: NODES.join(','), TDR_AGENT_KUBECONFIG: kubeconfig, TDR_AGENT_CONTEXT: 'source' }, logDir, 'node-agent: serving'),
      startProc('agent-target', 'worker/node-agent.js', { ...procEnv, TDR_CLUSTER: 'target', TDR_NODES: NODES.join(','), TDR_AGENT_KUBECONFIG: kubeconfig, TDR_AGENT_CONTEXT: 'target' }, logDir, 'node-agent: serving'),
    ]);
    procs.push(...started);
    connection = await Connection.connect({ address: temporal.address });
    return {
      work,
      logDir,
      kubeconfig,
      kubectl: (context, ...args) => [kubectlBin, ['--kubeconfig', kubeconfig, '--context', context, ...args]],
      kc: (context) => {
        const k = new k8s.KubeConfig();
        k.loadFromFile(kubeconfig);
        k.setCurrentContext(context);
        return k;
      },
      minio,
      storeEnv,
      client: new Client({ connection, dataConverter: payloadDataConverter() }),
      taskQueue,
      worker: started[0],
      clustersDir,
      stackDir,
      addWorker: async (workerName, env = {}) => {
        const p = await startProc(workerName, 'worker/orchestrator.js', { ...workerEnv, ...env }, logDir, 'worker: polling');
        procs.push(p);
        return p;
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
