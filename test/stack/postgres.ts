// Runs a real PostgreSQL server (Debian's postgresql package) for a pod of the kwok clusters:
// the data directory lives on the pod's local-path volume; the server listens on 127.0.0.1:<port>
// only (no unix socket: socket paths under deep work dirs exceed the 107-byte limit).
// PostgreSQL refuses to run as root, so it runs as the `postgres` system user.
import { execFileSync, spawn, ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import net from 'node:net';

export function postgresBinDir(): string {
  const explicit = process.env.TDR_POSTGRES_BIN_DIR;
  if (explicit) return explicit;
  const base = '/usr/lib/postgresql';
  const versions = fs.existsSync(base)
    ? fs.readdirSync(base).filter((v) => fs.existsSync(path.join(base, v, 'bin', 'postgres'))).sort((a, b) => Number(b) - Number(a))
    : [];
  if (!versions.length) throw new Error('PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/postgres): apt-get install -y postgresql');
  return path.join(base, versions[0], 'bin');
}

export function systemUser(name: string): { uid: number; gid: number } {
  const line = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`system user ${name} does not exist (it comes with the postgresql package)`);
  const f = line.split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

export function canConnect(port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    const done = (ok: boolean) => { s.destroy(); resolve(ok); };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

export function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

export interface PostgresSpec {
  dataDir: string; // host path of PGDATA
  volumeRoot: string; // host path of the volume that holds it (made writable for postgres)
  port: number;
  user: string; // POSTGRES_USER
  database?: string; // POSTGRES_DB
  logFile: string;
  pidFile: string; // where the supervisor records the postmaster pid
}

export class PostgresProcess {
  private child?: ChildProcess;
  private exited?: Promise<void>;
  private stopping = false;

  constructor(private readonly spec: PostgresSpec, private readonly log: (m: string) => void) {}

  get pid(): number | undefined { return this.child?.pid; }
  get running(): boolean { return !!this.child && this.child.exitCode === null && this.child.signalCode === null; }

  /** initdb on first start, then starts the server and waits until it accepts connections. */
  async start(onUnexpectedExit: () => void): Promise<void> {
    const bin = postgresBinDir();
    const pg = systemUser('postgres');
    const { dataDir, port } = this.spec;
    killStale(this.spec.pidFile, dataDir, this.log);
    fs.mkdirSync(dataDir, { recursive: true });
    chownR(this.spec.volumeRoot, pg, 0);
    chownR(dataDir, pg, 64);
    fs.chmodSync(dataDir, 0o700);
    if (!fs.existsSync(path.join(dataDir, 'PG_VERSION'))) {
      this.log(`initdb ${dataDir}`);
      execFileSync(path.join(bin, 'initdb'), ['-D', dataDir, '-U', this.spec.user, '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8', '--no-sync'], {
        uid: pg.uid, gid: pg.gid, stdio: ['ignore', 'pipe', 'pipe'], cwd: '/tmp',
      });
    }
    const out = fs.openSync(this.spec.logFile, 'a');
    fs.chownSync(this.spec.logFile, pg.uid, pg.gid);
    this.child = spawn(path.join(bin, 'postgres'), [
      '-D', dataDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=',
      '-c', 'fsync=on', '-c', 'max_connections=50', '-c', 'shared_buffers=16MB',
    ], { uid: pg.uid, gid: pg.gid, stdio: ['ignore', out, out], cwd: '/tmp' });
    fs.closeSync(out);
    fs.writeFileSync(this.spec.pidFile, String(this.child.pid));
    const child = this.child;
    this.exited = new Promise((resolve) => child.once('exit', (code, sig) => {
      this.log(`postgres (pid ${child.pid}) exited code=${code} signal=${sig}`);
      resolve();
      if (!this.stopping) onUnexpectedExit();
    }));
    const deadline = Date.now() + 60_000;
    while (!(await canConnect(port))) {
      if (!this.running) throw new Error(`postgres exited during start-up; see ${this.spec.logFile}`);
      if (Date.now() > deadline) throw new Error(`postgres did not accept connections on ${port} within 60s; see ${this.spec.logFile}`);
      await sleep(100);
    }
    // Accepting TCP is not yet accepting queries; wait for pg_isready.
    for (;;) {
      try {
        execFileSync(path.join(bin, 'pg_isready'), ['-q', '-h', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
        break;
      } catch {
        if (Date.now() > deadline) throw new Error(`postgres is not ready on ${port}; see ${this.spec.logFile}`);
        await sleep(100);
      }
    }
    // Like the postgres image's entrypoint: POSTGRES_DB (default: the user's name) exists.
    const db = this.spec.database;
    if (db && db !== 'postgres') {
      const conn = ['-h', '127.0.0.1', '-p', String(port), '-U', this.spec.user];
      const has = execFileSync(path.join(bin, 'psql'), [...conn, '-d', 'postgres', '-XAtc', `SELECT 1 FROM pg_database WHERE datname = '${db.replace(/'/g, "''")}'`]).toString().trim();
      if (has !== '1') execFileSync(path.join(bin, 'createdb'), [...conn, db], { stdio: 'ignore' });
    }
    this.log(`postgres running pid=${this.child.pid} port=${port} data=${dataDir}`);
  }

  /** Fast shutdown (SIGINT), SIGKILL after timeoutMs. */
  async stop(timeoutMs = 30_000): Promise<void> {
    this.stopping = true;
    if (!this.child || !this.running) { rmQuiet(this.spec.pidFile); return; }
    this.child.kill('SIGINT');
    const t = setTimeout(() => this.child?.kill('SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(t);
    rmQuiet(this.spec.pidFile);
  }
}

/** A postmaster left over by an earlier supervisor (crash, kill -9) still holds the data dir. */
function killStale(pidFile: string, dataDir: string, log: (m: string) => void) {
  const pids = new Set<number>();
  for (const f of [pidFile, path.join(dataDir, 'postmaster.pid')]) {
    try { const p = Number(fs.readFileSync(f, 'utf8').split('\n')[0]); if (p > 0) pids.add(p); } catch { /* none */ }
  }
  for (const pid of pids) {
    if (!pidAlive(pid)) continue;
    let cmd = '';
    try { cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8'); } catch { continue; }
    if (!cmd.includes('postgres') || !cmd.includes(dataDir)) continue;
    log(`stopping stale postgres pid ${pid}`);
    try { process.kill(pid, 'SIGQUIT'); } catch { /* gone */ }
    const until = Date.now() + 10_000;
    while (pidAlive(pid) && Date.now() < until) execFileSync('sleep', ['0.1']);
    if (pidAlive(pid)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  }
}

function chownR(p: string, u: { uid: number; gid: number }, depth: number) {
  try { fs.lchownSync(p, u.uid, u.gid); } catch { return; }
  if (depth <= 0) return;
  let entries: fs.Dirent[] = [];
  try { entries = fs.readdirSync(p, { withFileTypes: true }); } catch { return; }
  for (const e of entries) {
    if (e.isDirectory()) chownR(path.join(p, e.name), u, depth - 1);
    else try { fs.lchownSync(path.join(p, e.name), u.uid, u.gid); } catch { /* ignore */ }
  }
}

function rmQuiet(f: string) { try { fs.rmSync(f, { force: true }); } catch { /* ignore */ } }
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
