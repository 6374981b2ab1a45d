/**
 * The test command runs on the Node.js pinned in scripts/stack/versions.env, which
 * scripts/node-runtime.sh provides from the npm registry (cached: this only checks the cache).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const ROOT = path.join(__dirname, '../../..');
const pinned = /^NODE_VERSION=(.+)$/m.exec(readFileSync(path.join(ROOT, 'scripts/stack/versions.env'), 'utf8'))![1]!;

describe('scripts/node-runtime.sh', () => {
  it('is what this test runs on: the pinned release of an LTS line', () => {
    expect(process.version).toBe(`v${pinned}`);
    expect(process.release.lts).toBeTruthy();
  });

  it('prints the exports that put it first on PATH, and runs a command with it', () => {
    const out = execFileSync('bash', [path.join(ROOT, 'scripts/node-runtime.sh')], { encoding: 'utf8', timeout: 120_000 });
    const dir = /^export PATH=([^:\n]+\/node-[^/:\n]+)\/bin:/m.exec(out)?.[1];
    expect(dir).toMatch(new RegExp(`/node-${pinned.replace(/\./g, '\\.')}$`));
    expect(out).toContain(`export npm_config_nodedir=${dir}`);
    expect(path.dirname(process.execPath)).toBe(`${dir}/bin`);
    const version = execFileSync('bash', [path.join(ROOT, 'scripts/node-runtime.sh'), 'node', '-p', 'process.version'], {
      encoding: 'utf8',
      env: { ...process.env, PATH: '/usr/bin:/bin' },
    });
    expect(version.trim()).toBe(`v${pinned}`);
  });
});

describe('config/node-version (imported first by drctl, the worker and the node agent)', () => {
  it('stops an older Node.js with what to do, and lets the pinned one and newer run', () => {
    // Imported here, the check passes silently: this runs on the pinned Node.js.
    const { nodeVersionProblem, MIN_NODE_MAJOR } = require('../../../config/node-version') as typeof import('../../../config/node-version');
    expect(MIN_NODE_MAJOR).toBe(Number(pinned.split('.')[0]));
    expect(nodeVersionProblem('v20.20.2')).toMatch(/Node\.js v20\.20\.2 is too old; it needs Node\.js 24 or newer.*scripts\/node-runtime\.sh/);
    expect(nodeVersionProblem('v22.19.0')).toBeDefined();
    expect(nodeVersionProblem(`v${pinned}`)).toBeUndefined();
    expect(nodeVersionProblem('v26.12.1')).toBeUndefined();
  });
});
