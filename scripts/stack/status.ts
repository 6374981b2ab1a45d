/**
 * `npm run status`: what of the local stack runs, where, and what is down (then `npm run up`
 * starts only that). Exits 0 when everything runs, 1 when something is down.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT, readEnvFile, runningPid } from './local-stack';

const dir = path.resolve(process.env.TDR_STACK_DIR ?? path.join(REPO_ROOT, '.stack'));
const envFile = path.join(dir, 'env.sh');
const env = readEnvFile(envFile);
const processes: [name: string, where: string][] = [
  ['temporal', `${env.TEMPORAL_ADDRESS ?? '?'} (UI ${env.TDR_TEMPORAL_UI ?? '?'})`],
  ['minio', `${env.S3_ENDPOINT ?? '?'} (source site's store)`],
  ['minio-target', `${env.S3_ENDPOINT_TARGET ?? '?'} (target site's store)`],
  ['codec-server', `${env.TDR_CODEC_ENDPOINT ?? '?'} (the UI decrypts payloads through it)`],
  ['worker', `task queue ${env.TEMPORAL_TASK_QUEUE ?? 'temporal-dr'}, metrics http://${env.TDR_METRICS_WORKER ?? '?'}/metrics, log ${path.join(dir, 'worker.log')}`],
  ['agent-source', `node agents of cluster source, metrics http://${env.TDR_METRICS_AGENT_SOURCE ?? '?'}/metrics, log ${path.join(dir, 'agent-source.log')}`],
  ['agent-target', `node agents of cluster target, metrics http://${env.TDR_METRICS_AGENT_TARGET ?? '?'}/metrics, log ${path.join(dir, 'agent-target.log')}`],
];
let down = 0;
console.log(`local stack in ${dir}`);
for (const [name, where] of processes) {
  const pid = runningPid(dir, name);
  if (!pid) down++;
  console.log(`${name.padEnd(13)} ${pid ? `running  pid ${String(pid).padEnd(8)}` : 'DOWN              '} ${where}`);
}
try {
  execFileSync('bash', [path.join(REPO_ROOT, 'scripts/stack/clusters.sh'), 'status', '--workdir', path.join(dir, 'clusters')], { stdio: 'inherit' });
} catch {
  down++;
}
if (down) console.log(`${down} part(s) down: \`npm run up\` starts only those and keeps the rest running`);
process.exit(down ? 1 : 0);
