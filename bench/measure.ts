/**
 * Runs a command as a child process and measures it the same way for our side and the baseline:
 * wall time from this process, CPU-seconds and peak RSS from GNU time (/usr/bin/time).
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Measured {
  wallS: number;
  /** user + system CPU-seconds of the command and its children. */
  cpuS?: number;
  rssMiB?: number;
  stdout: string;
  stderr: string;
}

const GNU_TIME = '/usr/bin/time';
export const haveGnuTime = () => existsSync(GNU_TIME);

let seq = 0;

export async function run(
  cmd: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv; allowFail?: boolean; label?: string } = {},
): Promise<Measured> {
  const timeFile = join(tmpdir(), `tdr-bench-time-${process.pid}-${seq++}`);
  const useTime = haveGnuTime();
  const [bin, argv] = useTime ? [GNU_TIME, ['-f', '%e %U %S %M', '-o', timeFile, cmd, ...args]] : [cmd, args];
  const t0 = process.hrtime.bigint();
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
    const child = spawn(bin, argv, { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (c) => resolve({ code: c, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }));
  });
  const wallS = Number(process.hrtime.bigint() - t0) / 1e9;
  let cpuS: number | undefined;
  let rssMiB: number | undefined;
  if (useTime && existsSync(timeFile)) {
    // GNU time writes "Command exited with non-zero status N" before the format line on failure.
    const last = readFileSync(timeFile, 'utf8').trim().split('\n').pop() ?? '';
    const [, u, s, m] = last.split(/\s+/).map(Number);
    if (Number.isFinite(u) && Number.isFinite(s)) cpuS = u! + s!;
    if (Number.isFinite(m)) rssMiB = m! / 1024;
    rmSync(timeFile, { force: true });
  }
  if (code !== 0 && !opts.allowFail) {
    throw new Error(`${opts.label ?? cmd} ${args.join(' ')} exited with ${code}\n${stderr.slice(-4000)}\n${stdout.slice(-2000)}`);
  }
  return { wallS, cpuS, rssMiB, stdout, stderr };
}

/** CPU-seconds a live process (e.g. the MinIO server) has used so far, from /proc; undefined off Linux. */
export function processCpuS(pid: number | undefined): number | undefined {
  if (!pid) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields after the command: state(0) ... utime(11) stime(12), in clock ticks (100/s on Linux).
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return undefined;
  }
}

/**
 * S3 requests MinIO has served for one bucket so far, by API name (PutObject, GetObject,
 * ListObjectsV2, …), from its per-bucket metrics (/minio/metrics/v3/bucket/api/<bucket>), which
 * are counted live (the v2 cluster metrics are cached for 10 s). Authenticated the way
 * `mc admin prometheus generate` does: a JWT (HS512) for the root user, signed with its secret.
 * Diff two readings around a command to count its requests, server-side, for any client.
 */
export interface BucketTraffic {
  /** Completed S3 requests by API name, and their sum. */
  byApi: Record<string, number>;
  total: number;
  /** Bytes MinIO received from clients for the bucket (request bodies: what was uploaded). */
  received: number;
  /** Bytes MinIO sent to clients for the bucket. */
  sent: number;
}

export async function bucketRequests(endpoint: string, accessKeyId: string, secretAccessKey: string, bucket: string): Promise<BucketTraffic> {
  const { createHmac } = await import('node:crypto');
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const body = `${b64({ alg: 'HS512', typ: 'JWT' })}.${b64({ exp: Math.floor(Date.now() / 1000) + 3600, sub: accessKeyId, iss: 'prometheus' })}`;
  const token = `${body}.${createHmac('sha512', secretAccessKey).update(body).digest('base64url')}`;
  const res = await fetch(`${endpoint}/minio/metrics/v3/bucket/api/${encodeURIComponent(bucket)}`, { headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  if (!res.ok) throw new Error(`MinIO metrics for bucket ${bucket}: HTTP ${res.status}: ${text.slice(0, 300)}`);
  const out: BucketTraffic = { byApi: {}, total: 0, received: 0, sent: 0 };
  for (const line of text.split('\n')) {
    // minio_bucket_api_total{bucket="b",name="PutObject",server="…",type="s3"} 12
    const m = /^(minio_bucket_api_\w+)\{([^}]*)\}\s+(\S+)/.exec(line);
    if (!m || !m[2]!.includes(`bucket="${bucket}"`)) continue;
    const n = Number(m[3]);
    if (m[1] === 'minio_bucket_api_total') {
      const api = /name="([^"]*)"/.exec(m[2]!)?.[1] ?? '?';
      out.byApi[api] = (out.byApi[api] ?? 0) + n;
      out.total += n;
    }
    // MinIO (metrics-v3-api.go) exports the bytes it received under *_sent_bytes and the bytes it
    // sent under *_received_bytes (its help texts say so); named here from the server's side.
    else if (m[1] === 'minio_bucket_api_traffic_sent_bytes') out.received += n;
    else if (m[1] === 'minio_bucket_api_traffic_received_bytes') out.sent += n;
  }
  return out;
}

/** What happened between two readings: requests (per API and total), bytes uploaded and downloaded. */
export function requestDiff(before: BucketTraffic, after: BucketTraffic): { total: number; byApi: Record<string, number>; uploaded: number; downloaded: number } {
  const byApi: Record<string, number> = {};
  let total = 0;
  for (const [k, v] of Object.entries(after.byApi)) {
    const d = v - (before.byApi[k] ?? 0);
    if (d) (byApi[k] = d), (total += d);
  }
  return { total, byApi, uploaded: after.received - before.received, downloaded: after.sent - before.sent };
}

/**
 * Drops the page cache of every file under the given paths (sync, then posix_fadvise DONTNEED via
 * `dd iflag=nocache count=0`), so that a read starts cold without touching the rest of the
 * machine's cache (no global drop_caches; other processes share the machine).
 */
export async function evictPageCache(...paths: string[]): Promise<void> {
  await run('bash', ['-c', 'sync; find "$@" -type f -exec sh -c \'for f; do dd if="$f" iflag=nocache count=0 status=none; done\' _ {} +', '_', ...paths], { label: 'evict page cache' });
}
