/**
 * docker-compose.yml cannot run here (no Docker engine). This checks it against what can be
 * checked: the file as compose reads it (merge keys, ${VAR} interpolation from .env.example), the
 * variables the code reads and requires, the plan of the walk-through, the mounts the node agent
 * needs, and the Dockerfile's Node.js against the one the tests run on.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse } from 'yaml';
import { ALL_SEARCH_ATTRIBUTES } from '../../shared/search-attributes';
import { parsePlan, planKeyEnv, planToStoreRef } from '../../shared/plan';
import { s3Settings, temporalSettings } from '../../config/environment';
import { connectAgentCluster } from '../../activities/volumes/authorize-volume';

const ROOT = path.join(__dirname, '../..');
const read = (f: string) => readFileSync(path.join(ROOT, f), 'utf8');

/** KEY=value lines (comments and blank lines skipped). */
function dotenv(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

const REF = /\$\{([A-Z_][A-Z0-9_]*)(?:(:?[-?])((?:[^{}]|\{[^{}]*\})*))?\}/g;

/** Compose's interpolation: $$ is a dollar, ${V}, ${V:-default}, ${V-default}, ${V:?error}, ${V?error}. */
function interpolate(value: string, env: Record<string, string>, where: string): string {
  const parts = value.split('$$');
  return parts
    .map((part) =>
      part.replace(REF, (_m, name: string, op: string | undefined, arg: string | undefined) => {
        const set = env[name] !== undefined && (op?.startsWith(':') ? env[name] !== '' : true);
        if (set) return env[name]!;
        if (op === ':-' || op === '-') return interpolate(arg ?? '', env, where);
        if (op === ':?' || op === '?') throw new Error(`${where}: required variable ${name} is missing a value: ${arg}`);
        return '';
      }),
    )
    .join('$');
}

function interpolateAll(node: unknown, env: Record<string, string>, where = ''): unknown {
  if (typeof node === 'string') return interpolate(node, env, where);
  if (Array.isArray(node)) return node.map((v, i) => interpolateAll(v, env, `${where}[${i}]`));
  if (node && typeof node === 'object') {
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, interpolateAll(v, env, `${where}.${k}`)]));
  }
  return node;
}

const composeText = read('docker-compose.yml');
const raw = parse(composeText, { merge: true }) as { services: Record<string, any>; volumes: Record<string, unknown> };
const example = dotenv(read('.env.example'));
/** .env.example with the values a user must fill in (keys) filled in. */
const filled = { ...example, TDR_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64'), TDR_PAYLOAD_KEYS: `k1=${Buffer.alloc(32, 9).toString('base64')}` };
const compose = interpolateAll(raw, filled) as typeof raw;
const services = compose.services;
const envOf = (svc: string) => services[svc].environment as Record<string, string>;
const plan = parsePlan(read('examples/compose-plan.yaml'));

/**
 * The environment variables the code reaching from `entry` reads: `env.X`, `process.env.X`,
 * `env['X']`, keys of zod environment schemas, and variable names held in string constants.
 */
function variablesReadFrom(entry: string): Set<string> {
  const names = new Set<string>();
  const seen = new Set<string>();
  const visit = (file: string) => {
    if (seen.has(file) || !existsSync(file)) return;
    seen.add(file);
    const src = readFileSync(file, 'utf8');
    for (const re of [/\benv\.([A-Z][A-Z0-9_]+)/g, /\benv\[['"]([A-Z][A-Z0-9_]+)['"]\]/g, /^\s*([A-Z][A-Z0-9_]+): z\./gm, /['"`]([A-Z][A-Z0-9]*_[A-Z0-9_]+)['"`]/g]) {
      for (const m of src.matchAll(re)) names.add(m[1]!);
    }
    for (const m of src.matchAll(/from '(\.{1,2}\/[^']+)'/g)) {
      const base = path.resolve(path.dirname(file), m[1]!);
      visit(existsSync(`${base}.ts`) ? `${base}.ts` : path.join(base, 'index.ts'));
    }
  };
  visit(path.join(ROOT, entry));
  return names;
}

/** Variables an entry point refuses to start without: those its own file says "X is not set" about. */
function requiredBy(entry: string): string[] {
  return [...read(entry).matchAll(/'([A-Z][A-Z0-9_]+) (?:\(or [A-Z_]+\) )?is not set/g)].map((m) => m[1]!);
}

describe('docker-compose.yml', () => {
  it('runs Temporal on PostgreSQL with its UI, MinIO with its bucket, the worker, a node agent and the codec server', () => {
    expect(Object.keys(services).sort()).toEqual(
      ['codec-server', 'minio', 'minio-bucket', 'node-agent', 'postgresql', 'temporal', 'temporal-search-attributes', 'temporal-ui', 'worker'].sort(),
    );
    expect(services.temporal.environment.POSTGRES_SEEDS).toBe('postgresql');
    expect(services.temporal.ports).toContain('7233:7233');
    expect(services['temporal-ui'].ports).toContain('8233:8080');
    expect(services.minio.ports).toEqual(expect.arrayContaining(['9000:9000', '9001:9001']));
    expect(services['minio-bucket'].command.join(' ')).toContain(`local/${envOf('worker').S3_BUCKET}`);
    const cmd = services['temporal-search-attributes'].command.join(' ');
    for (const key of ALL_SEARCH_ATTRIBUTES) expect(cmd).toContain(key.name);
    expect(Object.keys(compose.volumes)).toEqual(expect.arrayContaining(['temporal-postgres', 'minio-data']));
  });

  it('orders start-up by health and only references services that exist', () => {
    for (const [name, svc] of Object.entries(services)) {
      for (const dep of Object.keys(svc.depends_on ?? {})) {
        expect({ name, dep, exists: dep in services }).toEqual({ name, dep, exists: true });
        if (svc.depends_on[dep].condition === 'service_healthy') expect({ dep, healthcheck: !!services[dep].healthcheck }).toEqual({ dep, healthcheck: true });
      }
    }
    expect(services.worker.depends_on['temporal-search-attributes'].condition).toBe('service_completed_successfully');
    expect(services.worker.depends_on['minio-bucket'].condition).toBe('service_completed_successfully');
  });

  it('refuses to start without the keys, and names each one; .env.example lists every variable it uses', () => {
    const unescaped = composeText.split('$$').join('');
    // Compose rejects a `$` that starts no ${VAR} or $VAR ($$ is a literal dollar).
    expect(unescaped.replace(REF, '').match(/\$(?![A-Za-z_])/g)).toBeNull();
    const referenced = new Set([...unescaped.matchAll(REF)].map((m) => m[1]!));
    expect([...referenced].filter((v) => !(v in example))).toEqual([]);
    const mustFill = Object.entries(example).filter(([, v]) => v === '').map(([k]) => k).sort();
    expect(mustFill).toEqual(['TDR_ENCRYPTION_KEY', 'TDR_PAYLOAD_KEYS']);
    for (const key of mustFill) expect(() => interpolateAll(raw, { ...filled, [key]: '' })).toThrow(new RegExp(`required variable ${key}.*\\.env`));
  });

  it('gives the worker and the agent a Temporal and store configuration the code accepts, the one drctl on the host uses', () => {
    for (const svc of ['worker', 'node-agent']) {
      const env = envOf(svc);
      expect(temporalSettings(env)).toMatchObject({ address: example.TEMPORAL_ADDRESS, namespace: 'default' });
      expect(s3Settings(env)).toMatchObject({ endpoint: example.S3_ENDPOINT, bucket: example.S3_BUCKET, accessKeyId: example.AWS_ACCESS_KEY_ID });
      expect(services[svc].network_mode).toBe('host');
    }
    // The services publish what the host-network processes reach on 127.0.0.1.
    expect(example.TEMPORAL_ADDRESS).toBe('127.0.0.1:7233');
    expect(example.S3_ENDPOINT).toBe('http://127.0.0.1:9000');
    expect(services.minio.environment.MINIO_ROOT_USER).toBe(example.AWS_ACCESS_KEY_ID);
  });

  it('sets every variable the walk-through plan names, on the worker and the agent, and points the plan at the compose store', () => {
    const named = [planKeyEnv(plan)!, plan.spec.store.credentials!.fromEnv!.accessKeyIdVar, plan.spec.store.credentials!.fromEnv!.secretAccessKeyVar];
    expect(named[0]).toBe('TDR_ENCRYPTION_KEY');
    for (const svc of ['worker', 'node-agent']) for (const v of named) expect({ svc, v, set: !!envOf(svc)[v] }).toEqual({ svc, v, set: true });
    expect(planToStoreRef(plan)).toMatchObject({ endpoint: envOf('worker').S3_ENDPOINT, bucket: envOf('worker').S3_BUCKET });
    expect(plan.spec.source.context).toBe(example.TDR_CONTEXT);
    expect(envOf('node-agent').TDR_CLUSTER).toBe(plan.spec.source.context);
  });

  it('sets only variables the worker and the agent read (no misspelt name is silently ignored)', () => {
    const byService: Record<string, string> = { worker: 'worker/orchestrator.ts', 'node-agent': 'worker/node-agent.ts', 'codec-server': 'client/drctl.ts' };
    for (const [svc, entry] of Object.entries(byService)) {
      const known = variablesReadFrom(entry);
      const unknown = Object.keys(envOf(svc)).filter((v) => !known.has(v) && v !== planKeyEnv(plan));
      expect({ svc, unknown }).toEqual({ svc, unknown: [] });
    }
  });

  it('sets every variable the node agent refuses to start without, and the agent reaches its cluster through the mounted kubeconfig', () => {
    const required = requiredBy('worker/node-agent.ts');
    expect(required).toEqual(expect.arrayContaining(['TDR_CLUSTER', 'TDR_NODES']));
    for (const v of required) expect({ v, set: !!envOf('node-agent')[v] }).toEqual({ v, set: true });

    const agent = services['node-agent'];
    const mounts = (agent.volumes as (string | { source: string; target: string; bind?: { propagation?: string } })[]).map((m) =>
      typeof m === 'string' ? { source: m.split(':')[0]!, target: m.split(':')[1]!, bind: undefined } : m,
    );
    const env = envOf('node-agent');
    const kubeconfigMount = mounts.find((m) => m.target === env.TDR_AGENT_KUBECONFIG);
    expect(kubeconfigMount?.source).toBe(example.TDR_KUBECONFIG);
    expect(services.worker.volumes).toContain(`${example.TDR_KUBECONFIG}:${envOf('worker').TDR_KUBECONFIG}:ro`);

    // The kubelet root, and the hostPath PVs' directory at TDR_HOST_ROOT + the path the PVs name.
    expect(mounts.find((m) => m.target === env.TDR_KUBELET_ROOT)?.bind?.propagation).toBe('rslave');
    expect(mounts.find((m) => m.target === path.join(env.TDR_HOST_ROOT!, example.TDR_LOCAL_PATH_NODE_DIR!))).toMatchObject({
      source: example.TDR_LOCAL_PATH_HOST_DIR,
      bind: { propagation: 'rslave' },
    });
    expect(agent.user).toBe('0:0');

    // The agent's own check of its API access, on a kubeconfig like the one mounted.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'compose-kubeconfig-'));
    try {
      const file = path.join(dir, 'kubeconfig');
      writeFileSync(file, [
        'apiVersion: v1', 'kind: Config', `current-context: ${example.TDR_CONTEXT}`,
        'clusters: [{ name: c, cluster: { server: "https://127.0.0.1:6443" } }]',
        `contexts: [{ name: ${example.TDR_CONTEXT}, context: { cluster: c, user: u } }]`,
        'users: [{ name: u, user: { token: t } }]',
      ].join('\n'));
      expect(connectAgentCluster(env.TDR_CLUSTER!, { ...env, TDR_AGENT_KUBECONFIG: file }).source).toBe(`context ${example.TDR_CONTEXT} of ${file}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("matches kind's example cluster: its local-path directory is the one the agent mounts", () => {
    const kind = parse(read('examples/kind-cluster.yaml')) as { nodes: { extraMounts: { hostPath: string; containerPath: string }[] }[] };
    expect(kind.nodes).toHaveLength(1);
    expect(kind.nodes[0]!.extraMounts).toContainEqual({ hostPath: example.TDR_LOCAL_PATH_HOST_DIR, containerPath: example.TDR_LOCAL_PATH_NODE_DIR });
    expect(example.TDR_NODES).toBe('dr-control-plane');
    expect(example.TDR_CONTEXT).toBe('kind-dr');
  });

  it('builds every service of ours from the image, whose entry points are compiled from this repository', () => {
    for (const svc of ['worker', 'node-agent', 'codec-server']) {
      expect(services[svc].image).toBe('temporal-dr:local');
      const [node, script] = services[svc].command as string[];
      expect(node).toBe('node');
      expect(existsSync(path.join(ROOT, script!.replace(/^dist\//, '').replace(/\.js$/, '.ts')))).toBe(true);
    }
  });
});

describe('Dockerfile', () => {
  it('is based on the Node.js the tests run on (scripts/stack/versions.env)', () => {
    const pinned = /^NODE_VERSION=(.+)$/m.exec(read('scripts/stack/versions.env'))![1];
    const dockerfile = read('Dockerfile');
    expect(/^ARG NODE_VERSION=(.+)$/m.exec(dockerfile)![1]).toBe(pinned);
    const bases = [...dockerfile.matchAll(/^FROM (\S+)/gm)].map((m) => m[1]);
    expect(bases).toEqual(['node:${NODE_VERSION}-bookworm-slim', 'node:${NODE_VERSION}-bookworm-slim']);
    expect(JSON.parse(read('package.json')).engines.node).toBe(`>=${pinned!.split('.')[0]}`);
  });

  it('runs an entry point that is compiled from this repository', () => {
    const cmd = JSON.parse(/^CMD (.+)$/m.exec(read('Dockerfile'))![1]!) as string[];
    expect(cmd[0]).toBe('node');
    expect(existsSync(path.join(ROOT, cmd[1]!.replace(/^dist\//, '').replace(/\.js$/, '.ts')))).toBe(true);
    expect(readdirSync(path.join(ROOT, 'worker'))).toEqual(expect.arrayContaining(['orchestrator.ts', 'node-agent.ts']));
  });
});
