import { PassThrough, Writable } from 'node:stream';
import * as k8s from '@kubernetes/client-node';
import type { Cluster } from '../kube/cluster';
import { classifyKubeError } from '../kube/cluster';

export interface ExecResult {
  stdout: string;
  stderr: string;
  exitCode: number;
  timedOut: boolean;
  /** True when the program wrote more than OUTPUT_LIMIT and the rest was dropped. */
  outputCut?: boolean;
}

/** Output kept per stream (per session). Hook artifacts must fit whole; more is never silently cut. */
export const OUTPUT_LIMIT = 4 * 1024 * 1024;

class Collector extends Writable {
  text = '';
  cut = false;
  onData?: () => void;
  private readonly decoder = new TextDecoder('utf-8');
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    // One decoder for the stream, so a multi-byte character split across chunks stays whole.
    if (this.text.length < OUTPUT_LIMIT) this.text += this.decoder.decode(chunk, { stream: true });
    else this.cut = true;
    this.onData?.();
    cb();
  }
}

/** Exit code from the status the exec API sends when the command ends. */
function exitCodeOf(status: k8s.V1Status): number {
  if (status.status === 'Success') return 0;
  const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
  if (cause?.message) return Number(cause.message);
  // Some runtimes (kwok's exec among them) only say "... exit status N" in the message.
  const m = /exit status (\d+)/.exec(status.message ?? '');
  return m ? Number(m[1]) : 1;
}

/** Runs a command in a container through the exec API and waits for it, at most `timeoutMs`. */
export async function execOnce(
  cluster: Cluster,
  target: { namespace: string; pod: string; container: string },
  command: string[],
  opts: { stdin?: string; timeoutMs: number },
): Promise<ExecResult> {
  const stdout = new Collector();
  const stderr = new Collector();
  const stdin = opts.stdin !== undefined ? new PassThrough() : null;
  let ws: { close(): void } | undefined;
  const done = new Promise<ExecResult>((resolve, reject) => {
    const timer = setTimeout(() => {
      ws?.close();
      resolve({ stdout: stdout.text, stderr: stderr.text, exitCode: -1, timedOut: true, outputCut: stdout.cut || stderr.cut });
    }, opts.timeoutMs);
    new k8s.Exec(cluster.kc)
      .exec(target.namespace, target.pod, target.container, command, stdout, stderr, stdin, false, (status) => {
        clearTimeout(timer);
        resolve({ stdout: stdout.text, stderr: stderr.text, exitCode: exitCodeOf(status), timedOut: false, outputCut: stdout.cut || stderr.cut });
      })
      .then((socket) => {
        ws = socket;
        if (stdin) stdin.end(opts.stdin);
      })
      .catch((err) => {
        clearTimeout(timer);
        reject(classifyKubeError(err, cluster.context, 'create', `pods/exec for ${target.namespace}/${target.pod}`));
      });
  });
  return done;
}

/**
 * One long-lived process in a container (e.g. `psql`) fed step by step through stdin: a database
 * session that must stay open across the volume copy, as pg_backup_start/pg_backup_stop require.
 * Each step writes its text followed by an echo of a unique marker and returns the output the
 * program printed before the marker.
 */
export class ExecSession {
  private readonly stdout = new Collector();
  private readonly stderr = new Collector();
  private readonly stdin = new PassThrough();
  private ws?: { close(): void };
  private exit?: number;
  private steps = 0;
  private exitWaiters: (() => void)[] = [];

  private constructor(
    private readonly cluster: Cluster,
    private readonly target: { namespace: string; pod: string; container: string },
    /** Line that makes the program print `{marker}`; for psql `\echo {marker}`. */
    private readonly echoTemplate: string,
  ) {}

  static async open(
    cluster: Cluster,
    target: { namespace: string; pod: string; container: string },
    command: string[],
    echoTemplate: string,
  ): Promise<ExecSession> {
    const s = new ExecSession(cluster, target, echoTemplate);
    try {
      s.ws = await new k8s.Exec(cluster.kc).exec(target.namespace, target.pod, target.container, command, s.stdout, s.stderr, s.stdin, false, (status) => {
        s.exit = exitCodeOf(status);
        for (const w of s.exitWaiters.splice(0)) w();
      });
    } catch (err) {
      throw classifyKubeError(err, cluster.context, 'create', `pods/exec for ${target.namespace}/${target.pod}`);
    }
    return s;
  }

  get exited(): boolean {
    return this.exit !== undefined;
  }

  /** The program's exit code once it exited. */
  get exitCode(): number | undefined {
    return this.exit;
  }

  /** Writes `text`, waits until the program has processed it, and returns what it printed. */
  async step(text: string, timeoutMs: number): Promise<ExecResult> {
    const marker = `__TDR_STEP_${++this.steps}_${Date.now()}__`;
    const outStart = this.stdout.text.length;
    const errStart = this.stderr.text.length;
    this.stdin.write(`${text.trimEnd()}\n${this.echoTemplate.replace('{marker}', marker)}\n`);
    const result = (timedOut: boolean, exitCode: number): ExecResult => {
      const out = this.stdout.text.slice(outStart);
      const at = out.indexOf(marker);
      return { stdout: at >= 0 ? out.slice(0, at) : out, stderr: this.stderr.text.slice(errStart), exitCode, timedOut, outputCut: this.stdout.cut || this.stderr.cut };
    };
    return new Promise<ExecResult>((resolve) => {
      const finish = (r: ExecResult) => {
        clearTimeout(timer);
        this.stdout.onData = undefined;
        resolve(r);
      };
      const timer = setTimeout(() => finish(result(true, -1)), timeoutMs);
      this.stdout.onData = () => {
        if (this.stdout.text.indexOf(marker, outStart) >= 0) finish(result(false, 0));
      };
      this.exitWaiters.push(() => finish(result(false, this.exit === 0 ? 1 : (this.exit ?? 1))));
      if (this.exited) finish(result(false, this.exit === 0 ? 1 : (this.exit ?? 1)));
    });
  }

  /** Ends stdin and waits briefly for the program to exit, then closes the connection. */
  async close(timeoutMs = 5000): Promise<void> {
    this.stdin.end();
    if (!this.exited) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, timeoutMs);
        this.exitWaiters.push(() => (clearTimeout(t), resolve()));
      });
    }
    this.ws?.close();
  }
}
