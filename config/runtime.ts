import { DefaultLogger, Runtime, type LogEntry, type LogLevel } from '@temporalio/worker';
import { InvalidInputError } from '../shared/errors';

const LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'] as const;

/** One log entry as one JSON line: time, level, message, then the SDK's context (workflowId, runId, activityType...) and ours. */
export function jsonLogLine(e: LogEntry): string {
  const fields = { time: new Date(Number(e.timestampNanos / 1_000_000n)).toISOString(), level: e.level, message: e.message, ...e.meta };
  return JSON.stringify(fields, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v instanceof Error ? { name: v.name, message: v.message } : v));
}

/**
 * Installs the Temporal runtime of a worker or node-agent process: its logger (LOG_LEVEL; LOG_FORMAT
 * `json`, one line per event with the run's workflowId and runId, the default when stderr is not a
 * terminal, or `text`), SIGINT/SIGTERM draining, and Prometheus metrics at
 * http://<TDR_METRICS_ADDRESS>/metrics when that is set (the SDK's own metrics and the DR ones).
 */
export function installRuntime(env: NodeJS.ProcessEnv = process.env): void {
  const level = (env.LOG_LEVEL ?? 'INFO').toUpperCase();
  if (!(LEVELS as readonly string[]).includes(level)) throw new InvalidInputError(`LOG_LEVEL=${env.LOG_LEVEL}: expected one of ${LEVELS.join(', ')}`);
  const format = env.LOG_FORMAT ?? (process.stderr.isTTY ? 'text' : 'json');
  if (format !== 'json' && format !== 'text') throw new InvalidInputError(`LOG_FORMAT=${format}: expected json or text`);
  const metricsAddress = env.TDR_METRICS_ADDRESS;
  Runtime.install({
    logger: format === 'json' ? new DefaultLogger(level as LogLevel, (e) => process.stderr.write(`${jsonLogLine(e)}\n`)) : new DefaultLogger(level as LogLevel),
    shutdownSignals: ['SIGINT', 'SIGTERM'],
    ...(metricsAddress ? { telemetryOptions: { metrics: { prometheus: { bindAddress: metricsAddress } } } } : {}),
  });
}
