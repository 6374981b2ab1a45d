import { readFileSync } from 'fs';
import { join } from 'path';
import { hookArtifactKey, resourcesKey, volumeSnapshotKey, type CatalogInput } from '../../../shared/catalog';
import { parsePlan } from '../../../shared/plan';

/** A valid format 1 catalog of point shop/20261122T021500Z-abcd, for catalog tests. */
export const plan = parsePlan(readFileSync(join(__dirname, '../../../examples/plan.yaml'), 'utf8'));
const sha = (c: string) => c.repeat(64);
export const id = '20261122T021500Z-abcd';

export const catalog = (): CatalogInput => ({
  formatVersion: 1,
  pointId: id,
  planName: 'shop',
  plan,
  status: 'complete',
  source: { clusterName: 'source', context: 'source', kubernetesVersion: 'v1.33.1' },
  createdAt: '2026-11-22T02:15:00Z',
  startedAt: '2026-11-22T02:15:00.120Z',
  completedAt: '2026-11-22T02:16:41.903Z',
  resources: {
    bundle: { key: resourcesKey('shop', id), sha256: sha('a'), size: 18234, encryption: 'aes-256-gcm' },
    items: [
      { apiVersion: 'apps/v1', kind: 'StatefulSet', namespace: 'shop', name: 'postgres', group: 'apps', resource: 'statefulsets', sha256: sha('b'), size: 2311 },
      { apiVersion: 'v1', kind: 'Secret', namespace: 'shop', name: 'postgres-auth', group: '', resource: 'secrets', sha256: sha('c'), keyed: true, size: 412 },
    ],
  },
  volumes: [
    {
      pvc: { namespace: 'shop', name: 'data-postgres-0' },
      pvName: 'pvc-0d6c3a1e-5d1b-4c8e-a0b2-7f1e2d3c4b5a',
      storageClass: 'local-path',
      size: '10Gi',
      mode: 'copy',
      node: 'node-1',
      snapshotKey: volumeSnapshotKey('shop', id, 'shop', 'data-postgres-0'),
      snapshotSha256: sha('d'),
      files: 1289,
      bytes: 48_234_112,
      hookArtifacts: [
        {
          hook: 'postgres',
          containerPath: '/var/lib/postgresql/data/backup_label',
          volumePath: 'pgdata/backup_label',
          key: hookArtifactKey('shop', id, 'shop', 'data-postgres-0', 'backup_label'),
          sha256: sha('e'),
          size: 231,
        },
      ],
    },
    { pvc: { namespace: 'shop', name: 'cache' }, size: '1Gi', mode: 'skip', files: 0, bytes: 0 },
  ],
  images: [{ kind: 'StatefulSet', namespace: 'shop', name: 'postgres', containers: [{ name: 'postgres', image: 'postgres:16.4' }] }],
  hooks: [
    { hook: 'postgres', pod: { namespace: 'shop', name: 'postgres-0' }, container: 'postgres', step: 'pre', result: 'ok', exitCode: 0, durationMs: 412, output: '0/3000028', outputTruncated: false },
  ],
  timings: [{ phase: 'discover', startedAt: '2026-11-22T02:15:00.200Z', durationMs: 1840 }],
  totals: { resources: 2, volumes: 2, files: 1289, bytes: 48_234_112, storedBytes: 21_004_331 },
});

