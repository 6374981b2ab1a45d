/**
 * `npm run up`: starts the persistent local stack and a worker, and says where everything is.
 * State lives in TDR_STACK_DIR (default .stack/ in the checkout): the Temporal SQLite file, MinIO
 * data, the clusters' etcd data, logs and PID files. Re-running reuses what is already up.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ensureBucket, openStore } from '../../activities/store/open-store';
import { checkStoreRoundTrip } from '../../activities/store/check-store';
import { REPO_ROOT, ensureSearchAttributes, findBinaries, pickPort, readEnvFile, runningPid, spawnServer, startMinio, startTemporal, type StackEnv } from './local-stack';
import { generatePayloadKeys } from '../../config/payload-codec';

const note = (m: string) => console.log(`[up] ${m}`);

/** env.sh: the stack's variables, and the Node.js the stack runs on first on PATH, for drctl. */
function writeEnvFile(file: string, env: StackEnv): void {
  const lines = Object.entries(env).map(([k, v]) => `export ${k}='${v}'`);
  lines.push(`PATH='${path.dirname(process.execPath)}':"$PATH"  # scripts/node-runtime.sh's Node.js`);
  writeFileSync(file, lines.join('\n') + '\n', { mode: 0o600 });
}

async function main(): Promise<void> {
  const dir = path.resolve(process.env.TDR_STACK_DIR ?? path.join(REPO_ROOT, '.stack'));
  mkdirSync(dir, { recursive: true });
  const envFile = path.join(dir, 'env.sh');
  const env: StackEnv = readEnvFile(envFile);
  const bins = findBinaries();

  // Workers and drctl encrypt Temporal payloads with this key; the UI reads them through the codec server.
  env.TDR_PAYLOAD_KEYS = env.TDR_PAYLOAD_KEYS ?? generatePayloadKeys();
  const codecRunning = runningPid(dir, 'codec-server') && env.TDR_CODEC_ENDPOINT;
  env.TDR_CODEC_ENDPOINT = codecRunning ? env.TDR_CODEC_ENDPOINT : `http://127.0.0.1:${await pickPort(Number(env.TDR_CODEC_ENDPOINT?.split(':').at(-1)) || 8888, 'the codec server', note)}`;
  if (runningPid(dir, 'temporal') && env.TEMPORAL_ADDRESS) {
    note(`Temporal already running at ${env.TEMPORAL_ADDRESS}`);
  } else {
    const t = await startTemporal({ bin: bins.temporal, dir, port: 7233, uiPort: 8233, dbFile: path.join(dir, 'temporal.db'), uiCodecEndpoint: env.TDR_CODEC_ENDPOINT, note });
    env.TEMPORAL_ADDRESS = t.address;
    env.TDR_TEMPORAL_UI = t.uiUrl!;
  }
  // A dev server that keeps an older checkout's database ignores --search-attribute for names it lacks.
  const added = await ensureSearchAttributes(env.TEMPORAL_ADDRESS);
  if (added.length) note(`registered search attributes ${added.join(', ')}`);
  if (runningPid(dir, 'minio') && env.S3_ENDPOINT) {
    note(`MinIO already running at ${env.S3_ENDPOINT}`);
  } else {
    const accessKeyId = env.AWS_ACCESS_KEY_ID ?? 'temporal-dr';
    const secretAccessKey = env.AWS_SECRET_ACCESS_KEY ?? randomBytes(18).toString('base64url');
    const m = await startMinio({ bin: bins.minio, dir, dataDir: path.join(dir, 'minio-data'), port: 9000, consolePort: 9001, accessKeyId, secretAccessKey, note });
    Object.assign(env, { S3_ENDPOINT: m.endpoint, TDR_MINIO_CONSOLE: m.consoleUrl, AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey });
  }
  // The standby site's own object store: a second MinIO with its own port, data and credentials,
  // so stopping the "source" site (its API server and its MinIO) leaves the standby whole.
  if (runningPid(dir, 'minio-target') && env.S3_ENDPOINT_TARGET) {
    note(`MinIO of the target site already running at ${env.S3_ENDPOINT_TARGET}`);
  } else {
    const accessKeyId = env.AWS_ACCESS_KEY_ID_TARGET ?? 'temporal-dr-target';
    const secretAccessKey = env.AWS_SECRET_ACCESS_KEY_TARGET ?? randomBytes(18).toString('base64url');
    const m = await startMinio({ bin: bins.minio, dir, name: 'minio-target', dataDir: path.join(dir, 'minio-target-data'), port: 9100, consolePort: 9101, accessKeyId, secretAccessKey, note });
    Object.assign(env, { S3_ENDPOINT_TARGET: m.endpoint, TDR_MINIO_TARGET_CONSOLE: m.consoleUrl, AWS_ACCESS_KEY_ID_TARGET: accessKeyId, AWS_SECRET_ACCESS_KEY_TARGET: secretAccessKey });
  }
  env.S3_BUCKET = env.S3_BUCKET ?? 'temporal-dr';
  env.TEMPORAL_NAMESPACE = 'default';
  env.TDR_ENCRYPTION_KEY = env.TDR_ENCRYPTION_KEY ?? randomBytes(32).toString('base64');
  writeEnvFile(envFile, env);
  Object.assign(process.env, env);

  const ref = { endpoint: env.S3_ENDPOINT, bucket: env.S3_BUCKET, prefix: '', forcePathStyle: true };
  await ensureBucket(openStore(ref));
  const targetRef = { ...ref, endpoint: env.S3_ENDPOINT_TARGET, credentialsFromEnv: { accessKeyIdVar: 'AWS_ACCESS_KEY_ID_TARGET', secretAccessKeyVar: 'AWS_SECRET_ACCESS_KEY_TARGET' } };
  await ensureBucket(openStore(targetRef));

  startClustersWithSampleApp(dir, env);
  writeEnvFile(envFile, env);
  writeFileSync(path.join(dir, 'shop-plan.yaml'), samplePlan(env));

  // Prometheus endpoints: the worker's (the DR series) and each node agent's.
  const metricsPorts: Record<string, number> = { worker: 9464, 'agent-source': 9465, 'agent-target': 9466 };
  const metricsAddress = async (name: string) => {
    const key = `TDR_METRICS_${name.toUpperCase().replace('-', '_')}`;
    if (!runningPid(dir, name) || !env[key]) env[key] = `127.0.0.1:${await pickPort(metricsPorts[name], `${name} metrics`, note)}`;
    return env[key]!;
  };
  if (runningPid(dir, 'worker')) {
    note('worker already running');
  } else {
    spawnServer(dir, 'worker', process.execPath, [path.join(REPO_ROOT, 'dist/worker/orchestrator.js')], { ...env, TDR_METRICS_ADDRESS: await metricsAddress('worker') });
  }
  if (!codecRunning) {
    const port = env.TDR_CODEC_ENDPOINT.split(':').at(-1)!;
    spawnServer(dir, 'codec-server', process.execPath, [path.join(REPO_ROOT, 'dist/client/drctl.js'), 'codec-server', '--port', port, '--ui-origin', env.TDR_TEMPORAL_UI!], env);
  }
  for (const cluster of ['source', 'target']) {
    const name = `agent-${cluster}`;
    if (runningPid(dir, name)) continue;
    const nodes = kubectl(env, cluster, ['get', 'nodes', '-o', 'jsonpath={.items[*].metadata.name}']).trim().split(/\s+/);
    const metrics = await metricsAddress(name);
    spawnServer(dir, name, process.execPath, [path.join(REPO_ROOT, 'dist/worker/node-agent.js')], {
      ...env,
      TDR_METRICS_ADDRESS: metrics,
      TDR_CLUSTER: cluster,
      TDR_NODES: nodes.join(','),
      // its own cluster's API, to resolve volumes (a DaemonSet uses its service account instead)
      TDR_AGENT_KUBECONFIG: env.TDR_KUBECONFIG,
      TDR_AGENT_CONTEXT: cluster,
      // the kubelet simulator's per-node kubelet roots (a DaemonSet mounts /var/lib/kubelet instead)
      TDR_KUBELET_ROOT: path.join(path.dirname(env.TDR_KUBECONFIG!), 'kubelet', '{cluster}', '{node}'),
    });
  }
  writeEnvFile(envFile, env);
  const probe = await checkStoreRoundTrip(ref, 'up', 4096);
  note(`object store ok: ${probe.location} (round trip of ${probe.bytes} bytes)`);
  const probeTarget = await checkStoreRoundTrip(targetRef, 'up', 4096);
  note(`target site's object store ok: ${env.S3_ENDPOINT_TARGET} ${probeTarget.location} (round trip of ${probeTarget.bytes} bytes)`);

  console.log(`
Local stack is up (state and logs in ${dir}).
  Temporal UI      ${env.TDR_TEMPORAL_UI}
  Temporal gRPC    ${env.TEMPORAL_ADDRESS}
  Codec server     ${env.TDR_CODEC_ENDPOINT}  (the UI shows payloads, encrypted with TDR_PAYLOAD_KEYS, through it)
  MinIO (source)   ${env.S3_ENDPOINT}  (console ${env.TDR_MINIO_CONSOLE}, bucket ${env.S3_BUCKET})
  MinIO (target)   ${env.S3_ENDPOINT_TARGET}  (console ${env.TDR_MINIO_TARGET_CONSOLE}, bucket ${env.S3_BUCKET}; S3_ENDPOINT_TARGET, AWS_*_TARGET)
  Clusters         contexts "source" and "target" in ${env.TDR_KUBECONFIG}
                   (the sample application runs in namespace shop on source)
  Worker log       ${path.join(dir, 'worker.log')}  (node agents: agent-source.log, agent-target.log)
  Metrics          http://${env.TDR_METRICS_WORKER}/metrics  (node agents: http://${env.TDR_METRICS_AGENT_SOURCE}/metrics, http://${env.TDR_METRICS_AGENT_TARGET}/metrics)

Use it from this shell:
  source ${envFile}
  node dist/client/drctl.js store check      # runs a workflow you can watch in the UI
  node dist/client/drctl.js backup ${path.join(dir, 'shop-plan.yaml')}
  node dist/client/drctl.js points list --plan ${path.join(dir, 'shop-plan.yaml')}
  node dist/client/drctl.js restore shop/latest --plan ${path.join(dir, 'shop-plan.yaml')} --to target --namespace-map shop=shop-restored --dry-run
  node dist/client/drctl.js replicate start ${path.join(dir, 'shop-plan.yaml')}   # ship points to the target site's MinIO
  node dist/client/drctl.js replicate status shop
Stop everything:   npm run down
`);
}

main().catch((err) => {
  console.error(`[up] ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});

const CLUSTERS_SH = path.join(REPO_ROOT, 'scripts/stack/clusters.sh');

function kubectl(env: StackEnv, context: string, args: string[], input?: string): string {
  return execFileSync(env.KUBECTL, ['--kubeconfig', env.TDR_KUBECONFIG, '--context', context, ...args], { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'inherit'] });
}

/** Starts (or reuses) the two local clusters and deploys the sample application on "source". */
function startClustersWithSampleApp(dir: string, env: StackEnv): void {
  const workdir = path.join(dir, 'clusters');
  note('starting (or reusing) the local clusters "source" and "target"');
  execFileSync('bash', [CLUSTERS_SH, 'up', '--workdir', workdir], { stdio: ['ignore', 'ignore', 'inherit'] });
  const vars = Object.fromEntries(
    execFileSync('bash', [CLUSTERS_SH, 'env', '--workdir', workdir], { encoding: 'utf8' })
      .trim()
      .split('\n')
      .map((l) => l.split('=', 2) as [string, string]),
  );
  env.TDR_KUBECONFIG = vars.TDR_KUBECONFIG;
  env.KUBECTL = vars.KUBECTL;
  const fixtures = path.join(REPO_ROOT, 'test/fixtures/sample-app');
  kubectl(env, 'source', ['apply', '-f', path.join(fixtures, 'crd.yaml')]);
  kubectl(env, 'source', ['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
  kubectl(env, 'source', ['apply', '-f', '-'], kubectl(env, 'source', ['create', 'namespace', 'shop', '--dry-run=client', '-o', 'yaml']));
  kubectl(env, 'source', ['apply', '-n', 'shop', '-f', path.join(fixtures, 'app.yaml')]);
  note('sample application applied to namespace shop on source');
}

/** A plan for the sample application, pointing at this stack's MinIO, with the target site as its standby. */
function samplePlan(env: StackEnv): string {
  return `# Written by npm run up: a DR plan for the sample application on the local stack.
apiVersion: temporal-dr/v1
kind: DRPlan
metadata: { name: shop }
spec:
  source: { context: source }
  selector: { namespaces: [shop] }
  hooks:
    - name: postgres
      podSelector: { namespace: shop, matchLabels: { app.kubernetes.io/name: db } }
      container: postgres
      preset: postgresql
      presetOptions: { user: shop, dataDirectory: /var/lib/postgresql/data/pgdata }
  store:
    url: s3://${env.S3_BUCKET}/points
    endpoint: ${env.S3_ENDPOINT}
    forcePathStyle: true
    encryption: { keyFrom: { env: TDR_ENCRYPTION_KEY } }
  retention: { keepLast: 5, keepDaily: 7 }
  target: { context: target }
  rpo: 10m
  standbys:
    - name: target
      context: target
      store:
        url: s3://${env.S3_BUCKET}/points
        endpoint: ${env.S3_ENDPOINT_TARGET}
        forcePathStyle: true
        credentials: { fromEnv: { accessKeyIdVar: AWS_ACCESS_KEY_ID_TARGET, secretAccessKeyVar: AWS_SECRET_ACCESS_KEY_TARGET } }
`;
}
