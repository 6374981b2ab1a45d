/** `npm run down`: stops what `npm run up` started; data stays in the stack dir for the next `up`. */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { REPO_ROOT, stopServer } from './local-stack';

async function main(): Promise<void> {
  const dir = path.resolve(process.env.TDR_STACK_DIR ?? path.join(REPO_ROOT, '.stack'));
  for (const name of ['codec-server', 'worker', 'agent-source', 'agent-target', 'minio', 'minio-target', 'temporal']) await stopServer(dir, name);
  execFileSync('bash', [path.join(REPO_ROOT, 'scripts/stack/clusters.sh'), 'down', '--workdir', path.join(dir, 'clusters')], { stdio: 'inherit' });
  console.log(`[down] stopped the local stack; its data stays in ${dir}`);
}
void main();
