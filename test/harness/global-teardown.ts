import { rmSync } from 'node:fs';
import { stopServer } from '../../scripts/stack/local-stack';
import { stopClusters } from './clusters';

export default async function globalTeardown(): Promise<void> {
  const dir = process.env.TDR_TEST_STACK_DIR;
  if (!dir) return;
  await Promise.all([
    stopServer(dir, 'temporal'),
    stopServer(dir, 'minio'),
    stopServer(dir, 'minio-target'),
    process.env.TDR_CLUSTERS_WORKDIR ? stopClusters(process.env.TDR_CLUSTERS_WORKDIR, { purge: process.env.TDR_KEEP_STACK !== '1' }) : undefined,
  ]);
  if (process.env.TDR_KEEP_STACK !== '1') rmSync(dir, { recursive: true, force: true });
}
