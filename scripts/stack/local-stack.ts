/**
 * Starts and stops the local stack's servers (Temporal dev server, MinIO) as real processes.
 * Used by `npm run up` (persistent, PID files under .stack/) and by the jest global setup
 * (one throw-away stack per test run). Nothing here is product code.
 */
import { spawn, execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { ALL_SEARCH_ATTRIBUTES, searchAttributeFlags } from '../../shared/search-attributes';

export const REPO_ROOT = path.resolve(__dirname, '..', '..').replace(/[/\\]dist$/, '');

export interface StackBinaries {
  temporal: string;
  minio: string;
}

/** Runs build-binaries.sh (cached after the first build) and returns the binaries' paths. */
export function findBinaries(): StackBinaries {
  if (process.env.TEMPORAL_BIN && process.env.MINIO_BIN) {
    return { temporal: process.env.TEMPORAL_BIN, minio: process.env.MINIO_BIN };
  }
  const out = execFileSync('bash', [path.join(REPO_ROOT, 'scripts/stack/build-binaries.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const vars = Object.fromEntries(out.trim().split('\n').map((l) => l.split('=', 2) as [string, string]));
  return { temporal: vars.TEMPORAL_BIN, minio: vars.MINIO_BIN };
}

export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** The preferred port when free; otherwise a free one, with a note saying which port was taken. */
export async function pickPort(preferred: number | undefined, what: string, note: (m: string) => void): Promise<number> {
  if (preferred === undefined) return freePort();
  if (await portFree(preferred)) return preferred;
  const p = await freePort();
  note(`port ${preferred} for ${what} is taken; using ${p} instead`);
  return p;
}

export async function waitForTcp(port: number, what: string, logFile: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = net.connect(port, '127.0.0.1');
      c.once('connect', () => (c.destroy(), resolve(true)));
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) {
      throw new Error(`${what} did not listen on 127.0.0.1:${port} within ${timeoutMs / 1000}s; see ${logFile}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

export interface ManagedProcess {
  name: string;
  pid: number;
  logFile: string;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A killed process nobody has reaped yet (a container's PID 1 may never reap) is a zombie: dead.
  try {
    return !/^State:\s*Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return true; // no /proc (not Linux): kill(0) is all we know
  }
}

/** Spawns a detached server whose output goes to `dir/<name>.log` and whose PID goes to `dir/<name>.pid`. */
export function spawnServer(dir: string, name: string, bin: string, args: string[], env: NodeJS.ProcessEnv = {}): ManagedProcess {
  mkdirSync(dir, { recursive: true });
  const logFile = path.join(dir, `${name}.log`);
  const fd = openSync(logFile, 'a');
  const child = spawn(bin, args, { detached: true, stdio: ['ignore', fd, fd], env: { ...process.env, ...env } });
  closeSync(fd);
  child.unref();
  if (!child.pid) throw new Error(`could not start ${name} (${bin}); see ${logFile}`);
  writeFileSync(path.join(dir, `${name}.pid`), String(child.pid));
  return { name, pid: child.pid, logFile };
}

export async function stopServer(dir: string, name: string, timeoutMs = 10_000): Promise<void> {
  const pidFile = path.join(dir, `${name}.pid`);
  if (!existsSync(pidFile)) return;
  const pid = Number(readFileSync(pidFile, 'utf8'));
  if (isAlive(pid)) {
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {
      try { process.kill(pid, 'SIGTERM'); } catch { /* gone */ }
    }
    const deadline = Date.now() + timeoutMs;
    while (isAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    if (isAlive(pid)) {
      try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ }
    }
  }
  rmSync(pidFile, { force: true });
}

/** Returns the PID recorded for a server that is still alive, if any. */
export function runningPid(dir: string, name: string): number | undefined {
  const pidFile = path.join(dir, `${name}.pid`);
  if (!existsSync(pidFile)) return undefined;
  const pid = Number(readFileSync(pidFile, 'utf8'));
  return isAlive(pid) ? pid : undefined;
}

export interface TemporalServer {
  address: string;
  uiUrl?: string;
  process: ManagedProcess;
}

export async function startTemporal(opts: {
  bin: string;
  dir: string;
  port?: number;
  uiPort?: number;
  headless?: boolean;
  dbFile?: string;
  /** The remote codec the UI calls to show encrypted payloads (`drctl codec-server`). */
  uiCodecEndpoint?: string;
  note?: (m: string) => void;
}): Promise<TemporalServer> {
  const note = opts.note ?? (() => undefined);
  const port = await pickPort(opts.port, 'the Temporal frontend', note);
  const uiPort = opts.headless ? undefined : await pickPort(opts.uiPort ?? port + 1000, 'the Temporal UI', note);
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--log-level', 'warn', ...searchAttributeFlags()];
  args.push(...(uiPort ? ['--ui-port', String(uiPort)] : ['--headless']));
  if (opts.dbFile) args.push('--db-filename', opts.dbFile);
  if (uiPort && opts.uiCodecEndpoint) args.push('--ui-codec-endpoint', opts.uiCodecEndpoint);
  const proc = spawnServer(opts.dir, 'temporal', opts.bin, args);
  await waitForTcp(port, 'Temporal dev server', proc.logFile);
  if (uiPort) await waitForTcp(uiPort, 'Temporal UI', proc.logFile);
  return { address: `127.0.0.1:${port}`, uiUrl: uiPort ? `http://127.0.0.1:${uiPort}` : undefined, process: proc };
}

/**
 * Registers the search attributes a running dev server lacks: one started by an older checkout
 * keeps its database, and a workflow that upserts an unknown attribute fails its task.
 */
export async function ensureSearchAttributes(address: string, namespace = 'default'): Promise<string[]> {
  const connection = await Connection.connect({ address });
  try {
    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
    const missing = ALL_SEARCH_ATTRIBUTES.filter((k) => !customAttributes?.[k.name]);
    if (missing.length) {
      await connection.operatorService.addSearchAttributes({
        namespace,
        searchAttributes: Object.fromEntries(
          missing.map((k) => [k.name, k.type === 'INT' ? temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_INT : temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD]),
        ),
      });
    }
    return missing.map((k) => k.name);
  } finally {
    await connection.close();
  }
}

export interface MinioServer {
  endpoint: string;
  consoleUrl: string;
  accessKeyId: string;
  secretAccessKey: string;
  process: ManagedProcess;
}

export async function startMinio(opts: {
  bin: string;
  dir: string;
  dataDir: string;
  /** Name of its PID and log files in `dir` (default `minio`); each site's MinIO has its own. */
  name?: string;
  port?: number;
  consolePort?: number;
  accessKeyId: string;
  secretAccessKey: string;
  /** A directory holding `public.crt` and `private.key`: MinIO then serves https only. */
  certsDir?: string;
  note?: (m: string) => void;
}): Promise<MinioServer> {
  const note = opts.note ?? (() => undefined);
  const name = opts.name ?? 'minio';
  const port = await pickPort(opts.port, name, note);
  const consolePort = await pickPort(opts.consolePort, `the ${name} console`, note);
  mkdirSync(opts.dataDir, { recursive: true });
  const proc = spawnServer(
    opts.dir,
    name,
    opts.bin,
    [
      'server', opts.dataDir, '--address', `127.0.0.1:${port}`, '--console-address', `127.0.0.1:${consolePort}`, '--quiet',
      ...(opts.certsDir ? ['--certs-dir', opts.certsDir] : []),
    ],
    { MINIO_ROOT_USER: opts.accessKeyId, MINIO_ROOT_PASSWORD: opts.secretAccessKey, MINIO_BROWSER: 'on', MINIO_UPDATE: 'off' },
  );
  await waitForTcp(port, name, proc.logFile);
  const scheme = opts.certsDir ? 'https' : 'http';
  const endpoint = `${scheme}://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  while (!(await minioReady(endpoint))) {
    if (Date.now() > deadline) throw new Error(`${name} at ${endpoint} did not become ready; see ${proc.logFile}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return { endpoint, consoleUrl: `${scheme}://127.0.0.1:${consolePort}`, accessKeyId: opts.accessKeyId, secretAccessKey: opts.secretAccessKey, process: proc };
}

function minioReady(endpoint: string): Promise<boolean> {
  const url = `${endpoint}/minio/health/ready`;
  if (!endpoint.startsWith('https:')) return fetch(url).then((r) => r.ok, () => false);
  // Readiness of the server this process just started, not a check of its certificate: that is
  // for its clients (their CA), which this helper does not know.
  return new Promise((resolve) => {
    https
      .get(url, { rejectUnauthorized: false }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      })
      .on('error', () => resolve(false));
  });
}

export interface StackEnv {
  [k: string]: string;
}

/** The variables `npm run up` wrote to its env.sh (`export K='v'` lines); empty when there is none. */
export function readEnvFile(file: string): StackEnv {
  if (!existsSync(file)) return {};
  return Object.fromEntries(
    readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('export '))
      // Values hold '=' (base64 keys): split at the first one only.
      .map((l) => [l.slice(7, l.indexOf('=')), l.slice(l.indexOf('=') + 1)] as [string, string])
      .map(([k, v]) => [k, v.replace(/^'|'$/g, '')]),
  );
}
