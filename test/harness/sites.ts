/**
 * The two sites of the test stack. Each cluster has its own MinIO (started by global-setup.ts):
 * "source" at S3_ENDPOINT (credentials AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY) and "target" at
 * S3_ENDPOINT_TARGET (credentials AWS_ACCESS_KEY_ID_TARGET/AWS_SECRET_ACCESS_KEY_TARGET). A test
 * can stop the source site's MinIO alone, and must start it again before it ends (other test files
 * of the run share it).
 */
import path from 'node:path';
import { ensureBucket, openStore } from '../../activities/store/open-store';
import type { S3ObjectStore } from '../../activities/store/s3-object-store';
import type { StoreRef } from '../../shared/store-ref';
import { findBinaries, isAlive, portFree, runningPid, startMinio, stopServer } from '../../scripts/stack/local-stack';
import { uniqueId } from './temporal';

/** The environment variables that hold the target site's store credentials on every process. */
export const TARGET_CREDENTIALS = { accessKeyIdVar: 'AWS_ACCESS_KEY_ID_TARGET', secretAccessKeyVar: 'AWS_SECRET_ACCESS_KEY_TARGET' } as const;

function stackDir(): string {
  const dir = process.env.TDR_TEST_STACK_DIR;
  if (!dir) throw new Error('TDR_TEST_STACK_DIR is not set: run tests through jest so the global setup starts the stack');
  return dir;
}

/** A bucket on the target site's MinIO (its own endpoint and credentials). */
export function targetStoreRef(bucket = uniqueId('tdr-standby').toLowerCase(), prefix = ''): StoreRef {
  const endpoint = process.env.S3_ENDPOINT_TARGET;
  if (!endpoint) throw new Error('S3_ENDPOINT_TARGET is not set: run tests through jest so the global setup starts the target site\'s MinIO');
  return { endpoint, bucket, prefix, region: 'us-east-1', forcePathStyle: true, credentialsFromEnv: { ...TARGET_CREDENTIALS } };
}

/** A standby site of a plan on the "target" cluster whose store is `ref` (a spec.standbys[] entry). */
export function standbyOn(name: string, ref: StoreRef, extra: { standby?: 'cold' | 'warm' } = {}) {
  return {
    name,
    context: 'target',
    store: { url: `s3://${ref.bucket}/${ref.prefix}`, endpoint: ref.endpoint, forcePathStyle: true, credentials: { fromEnv: ref.credentialsFromEnv! } },
    ...extra,
  };
}

/** A fresh, empty bucket on the target site's MinIO. */
export async function freshTargetStore(prefix = ''): Promise<{ ref: StoreRef; store: S3ObjectStore }> {
  const ref = targetStoreRef(undefined, prefix);
  const store = openStore(ref);
  await ensureBucket(store);
  return { ref, store };
}

/** True while the source site's MinIO process runs. */
export function sourceStoreRunning(): boolean {
  const pid = runningPid(stackDir(), 'minio');
  return pid !== undefined && isAlive(pid);
}

/** Stops the source site's MinIO (SIGTERM, then SIGKILL): its store becomes unreachable. */
export async function stopSourceStore(): Promise<void> {
  await stopServer(stackDir(), 'minio');
  const url = new URL(process.env.S3_ENDPOINT!);
  const deadline = Date.now() + 15_000;
  while (!(await fetch(`${url.origin}/minio/health/live`).then(() => false).catch(() => true))) {
    if (Date.now() > deadline) throw new Error(`the source MinIO at ${url.origin} still answers after it was stopped`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Starts the source site's MinIO again on the same port, with the same data and credentials. */
export async function startSourceStore(): Promise<void> {
  if (sourceStoreRunning()) return;
  const dir = stackDir();
  const port = Number(new URL(process.env.S3_ENDPOINT!).port);
  const deadline = Date.now() + 30_000;
  while (!(await portFree(port))) {
    if (Date.now() > deadline) throw new Error(`port ${port} of the source MinIO is still taken; cannot restart it`);
    await new Promise((r) => setTimeout(r, 250));
  }
  const m = await startMinio({
    bin: findBinaries().minio,
    dir,
    dataDir: path.join(dir, 'minio-data'),
    port,
    accessKeyId: process.env.AWS_ACCESS_KEY_ID!,
    secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY!,
  });
  if (m.endpoint !== process.env.S3_ENDPOINT) throw new Error(`the source MinIO came back at ${m.endpoint}, not ${process.env.S3_ENDPOINT}`);
}
