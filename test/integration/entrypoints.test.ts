/**
 * The entry points the Dockerfile, docker-compose.yml and the Helm chart start exist in the
 * compiled dist/ (scripts/test.sh compiles before jest), and the worker's and the node agent's load
 * their whole module graph (the ES-module-only @kubernetes/client-node included) on the Node.js
 * the tests run on, the image's: given a bad setting, they stop on it, not on a module.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

const ROOT = path.join(__dirname, '../..');
const read = (f: string) => readFileSync(path.join(ROOT, f), 'utf8');

function chartTemplates(dir = 'deploy/helm/temporal-dr/templates'): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? chartTemplates(path.join(dir, e.name)) : e.name.endsWith('.yaml') ? [path.join(dir, e.name)] : [],
  );
}

function entryPoints(): Map<string, string> {
  const found = new Map<string, string>();
  const dockerCmd = JSON.parse(/^CMD (.+)$/m.exec(read('Dockerfile'))![1]!) as string[];
  found.set(dockerCmd[1]!, 'Dockerfile');
  const compose = parse(read('docker-compose.yml'), { merge: true }) as { services: Record<string, { command?: string[] }> };
  for (const [name, svc] of Object.entries(compose.services)) if (svc.command?.[0] === 'node') found.set(svc.command[1]!, `docker-compose.yml ${name}`);
  for (const t of chartTemplates()) for (const m of read(t).matchAll(/command: \[node, (dist\/[^\],]+)/g)) found.set(m[1]!, t);
  return found;
}

const run = (script: string, args: string[], env: NodeJS.ProcessEnv) =>
  spawnSync(process.execPath, [path.join(ROOT, script), ...args], { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env }, encoding: 'utf8', timeout: 60_000 });

describe('entry points', () => {
  it('every `node dist/...` the Dockerfile, compose and the chart start is compiled', () => {
    const points = entryPoints();
    expect([...points.keys()]).toEqual(expect.arrayContaining(['dist/worker/orchestrator.js', 'dist/worker/node-agent.js', 'dist/client/drctl.js']));
    const missing = [...points].filter(([script]) => !existsSync(path.join(ROOT, script))).map(([script, from]) => `${script} (${from})`);
    expect(missing).toEqual([]);
  });

  it('the worker and the node agent load on this Node.js and stop on a bad setting, naming it', () => {
    expect(process.version).toBe(`v${/^NODE_VERSION=(.+)$/m.exec(read('scripts/stack/versions.env'))![1]}`);
    for (const script of ['dist/worker/orchestrator.js', 'dist/worker/node-agent.js']) {
      const r = run(script, [], { TEMPORAL_TLS: 'sometimes' });
      expect({ script, status: r.status, stderr: r.stderr }).toEqual({ script, status: 2, stderr: expect.stringContaining('TEMPORAL_TLS') });
    }
    const agent = run('dist/worker/node-agent.js', [], {});
    expect({ status: agent.status, stderr: agent.stderr }).toEqual({ status: 2, stderr: expect.stringContaining('TDR_CLUSTER is not set') });
    const drctl = run('dist/client/drctl.js', ['--version'], {});
    expect({ status: drctl.status, stdout: drctl.stdout }).toEqual({ status: 0, stdout: expect.stringMatching(/\d+\.\d+\.\d+/) });
  });
});
