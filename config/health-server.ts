/**
 * Liveness and readiness for a worker process, at http://<TDR_HEALTH_ADDRESS>/livez and /readyz.
 * The metrics endpoint answers as long as the process is up; these answer for the worker:
 * /livez fails once the worker has failed or stopped (restart it), /readyz fails while the
 * Temporal server cannot be reached through the worker's own connection (take it out of
 * service, do not restart it: the connection reconnects by itself).
 */
import http from 'node:http';
import type { NativeConnection, State } from '@temporalio/worker';
import { InvalidInputError } from '../shared/errors';

export interface HealthSubject {
  /** Worker states, one per worker the process runs. */
  states(): State[];
  connection: Pick<NativeConnection, 'healthService' | 'withDeadline'>;
}

export interface Health {
  ok: boolean;
  reason: string;
}

const LIVE_STATES: readonly State[] = ['INITIALIZED', 'RUNNING', 'STOPPING', 'DRAINING', 'DRAINED'];

export function liveness(states: State[]): Health {
  const dead = states.find((s) => !LIVE_STATES.includes(s));
  return dead ? { ok: false, reason: `a worker is ${dead}` } : { ok: true, reason: `workers ${states.join(', ')}` };
}

export async function readiness(subject: HealthSubject, timeoutMs = 3000): Promise<Health> {
  const states = subject.states();
  if (!states.every((s) => s === 'RUNNING')) return { ok: false, reason: `workers ${states.join(', ')} (not all RUNNING)` };
  try {
    await subject.connection.withDeadline(Date.now() + timeoutMs, () => subject.connection.healthService.check({}));
    return { ok: true, reason: 'workers RUNNING; Temporal server reachable' };
  } catch (err) {
    return { ok: false, reason: `Temporal server not reachable through the worker's connection: ${(err as Error).message.split('\n')[0]}` };
  }
}

/** host:port, or :port for every interface. */
function parseAddress(value: string): { host?: string; port: number } {
  const m = /^(.*):(\d{1,5})$/.exec(value);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65535) throw new InvalidInputError(`TDR_HEALTH_ADDRESS=${value}: expected host:port like 0.0.0.0:9465`);
  return { host: m[1] || undefined, port };
}

/** Serves /livez and /readyz when TDR_HEALTH_ADDRESS is set; returns the server, or undefined. */
export async function startHealthServer(subject: HealthSubject, env: NodeJS.ProcessEnv = process.env): Promise<http.Server | undefined> {
  if (!env.TDR_HEALTH_ADDRESS) return undefined;
  const { host, port } = parseAddress(env.TDR_HEALTH_ADDRESS);
  const server = http.createServer((req, res) => {
    const reply = ({ ok, reason }: Health) => {
      res.writeHead(ok ? 200 : 503, { 'Content-Type': 'text/plain' });
      res.end(`${ok ? 'ok' : 'not ok'}: ${reason}\n`);
    };
    const path = req.url?.replace(/\?.*$/, '');
    if (path === '/livez') return reply(liveness(subject.states()));
    if (path === '/readyz') return void readiness(subject).then(reply);
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('GET /livez or /readyz\n');
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, host, resolve));
  server.unref();
  return server;
}
