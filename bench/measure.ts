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
