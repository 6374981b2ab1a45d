/**
 * Starts one real stack for the whole jest run: a Temporal dev server, a MinIO server, the two
 * local clusters ("source" and "target") and the pre-bundled workflow code. Test files attach through the environment variables set here.
 * Fails loudly, naming what is missing, when a server cannot start.
 */
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';
import { findBinaries, startMinio, startTemporal } from '../../scripts/stack/local-stack';
import { WORKFLOWS_PATH } from '../../worker/create-worker';
import { startClusters } from './clusters';
import globalTeardown from './global-teardown';
import { freePort } from '../stack/postgres';

/**
 * Every client and worker of the run encrypts its Temporal payloads (config/payload-codec.ts). The
 * key is fixed and test-only, so histories recorded by a run (test/histories) stay replayable.
 */
export const TEST_PAYLOAD_KEYS = 'test-k1=N/Muts0mZn/0fkv3VlEalMNSUxlMUi4y5Nb6SMEjARI=';

export default async function globalSetup(): Promise<void> {
  const t0 = Date.now();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tdr-test-'));
  // The sample app's PostgreSQL runs as the postgres user and must reach the volumes under here.
  chmodSync(dir, 0o755);
  process.env.TDR_TEST_STACK_DIR = dir;
  const bins = findBinaries();
  process.env.TDR_CLUSTERS_WORKDIR = path.join(dir, 'clusters');
  process.env.TDR_PAYLOAD_KEYS = TEST_PAYLOAD_KEYS;
  // The UI calls a codec server here; tests that read payloads in the UI start `drctl codec-server` on it.
  process.env.TDR_CODEC_PORT = String(await freePort());
  const [temporal, minio, minioTarget, clusters] = await allOrStopAll([
    // With its UI: test/harness/temporal-ui.ts drives it in headless Chromium.
    startTemporal({ bin: bins.temporal, dir, uiCodecEndpoint: `http://127.0.0.1:${process.env.TDR_CODEC_PORT}` }),
    startMinio({
      bin: bins.minio,
      dir,
      dataDir: path.join(dir, 'minio-data'),
      accessKeyId: 'tdr-test',
      secretAccessKey: 'tdr-test-secret-key',
    }),
    // The "target" site's own store (see test/harness/sites.ts), with its own credentials.
    startMinio({
      bin: bins.minio,
      dir,
      name: 'minio-target',
      dataDir: path.join(dir, 'minio-target-data'),
      accessKeyId: 'tdr-test-target',
      secretAccessKey: 'tdr-test-target-secret-key',
    }),
    startClusters(process.env.TDR_CLUSTERS_WORKDIR),
  ] as const);
  process.env.TDR_KUBECONFIG = clusters.kubeconfig;
  // Node agents (in-process and spawned) read volumes through the kubelet simulator's pod volume directories.
  process.env.TDR_KUBELET_ROOT = path.join(process.env.TDR_CLUSTERS_WORKDIR, 'kubelet', '{cluster}', '{node}');
  process.env.TEMPORAL_ADDRESS = temporal.address;
  process.env.TDR_TEMPORAL_UI = temporal.uiUrl!;
  process.env.TEMPORAL_NAMESPACE = 'default';
  process.env.S3_ENDPOINT = minio.endpoint;
  process.env.AWS_ACCESS_KEY_ID = minio.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = minio.secretAccessKey;
  process.env.S3_REGION = 'us-east-1';
  process.env.S3_ENDPOINT_TARGET = minioTarget.endpoint;
  process.env.AWS_ACCESS_KEY_ID_TARGET = minioTarget.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY_TARGET = minioTarget.secretAccessKey;

  const bundle = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietLogger });
  const bundlePath = path.join(dir, 'workflow-bundle.js');
  writeFileSync(bundlePath, bundle.code);
  process.env.TDR_WORKFLOW_BUNDLE = bundlePath;

  console.log(`\n[harness] Temporal ${temporal.address}, MinIO ${minio.endpoint} (target site ${minioTarget.endpoint}), clusters ${clusters.kubeconfig}, stack dir ${dir} (ready in ${Date.now() - t0} ms)`);
}

/**
 * Waits for every server to start; if one fails, stops the others before failing, so a failed
 * start-up leaves no servers running behind the test command.
 */
async function allOrStopAll<T extends readonly unknown[]>(starts: T): Promise<{ -readonly [K in keyof T]: Awaited<T[K]> }> {
  const settled = await Promise.allSettled(starts);
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await globalTeardown().catch((e: unknown) => console.error(`[harness] stopping the servers that did start: ${(e as Error).message}`));
    throw failed.reason;
  }
  return settled.map((r) => (r as PromiseFulfilledResult<unknown>).value) as { -readonly [K in keyof T]: Awaited<T[K]> };
}

const quietLogger = {
  log: () => undefined,
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: (m: string) => console.warn(m),
  error: (m: string) => console.error(m),
};
