import { resolveHook } from '../../../shared/hook-presets';
import { containerPathToVolume, type HookTarget } from '../../../shared/hooks';
import { planVolumeHooks } from '../../../shared/volume-hooks';
import { validatePlan } from '../../../shared/plan';
import { pathSelected } from '../../../activities/datapath/tree-backup';
import { volumesToCopy } from '../../../activities/backup/volumes-of';
import type { KubeObject } from '../../../shared/kube-object';

const target: HookTarget = {
  hook: 'pg',
  namespace: 'shop',
  pod: 'db-0',
  container: 'postgres',
  node: 'node-1',
  mounts: [
    { mountPath: '/var/lib/postgresql/data', pvc: 'data-db-0' },
    { mountPath: '/var/lib/postgresql/data/wal', pvc: 'wal-db-0', subPath: 'w' },
  ],
};

describe('containerPathToVolume', () => {
  it('maps a container path to the deepest mount and the path inside the volume', () => {
    expect(containerPathToVolume(target, '/var/lib/postgresql/data/pgdata/pg_wal')).toEqual({ pvc: 'data-db-0', path: 'pgdata/pg_wal' });
    expect(containerPathToVolume(target, '/var/lib/postgresql/data/wal/0001')).toEqual({ pvc: 'wal-db-0', path: 'w/0001' });
    expect(containerPathToVolume(target, '/var/lib/postgresql/data/')).toEqual({ pvc: 'data-db-0', path: '.' });
    expect(containerPathToVolume(target, '/etc/passwd')).toBeUndefined();
    expect(containerPathToVolume(target, '/var/lib/postgresql/database')).toBeUndefined();
  });
});

describe('planVolumeHooks', () => {
  it('turns the postgresql preset into excludes, a pg_wal re-copy and a backup_label artifact on the data PVC', () => {
    const hook = resolveHook({
      name: 'pg',
      podSelector: { namespace: 'shop', matchLabels: { app: 'db' } },
      preset: 'postgresql',
      presetOptions: { dataDirectory: '/var/lib/postgresql/data/pgdata' },
    });
    const plans = planVolumeHooks([{ hook, targets: [target] }], [{ namespace: 'shop', pvc: 'data-db-0' }]);
    expect([...plans.keys()]).toEqual(['shop/data-db-0']);
    expect(plans.get('shop/data-db-0')).toEqual({
      exclude: ['pgdata/postmaster.pid', 'pgdata/postmaster.opts'],
      recopy: ['pgdata/pg_wal'],
      artifacts: [{ hook: 'pg', pod: 'db-0', containerPath: '/var/lib/postgresql/data/pgdata/backup_label', path: 'pgdata/backup_label' }],
      needsFinalize: true,
    });
  });

  it('ignores hook paths on volumes that are not copied', () => {
    const hook = resolveHook({ name: 'pg', podSelector: { namespace: 'shop', matchLabels: { app: 'db' } }, preset: 'postgresql' });
    expect(planVolumeHooks([{ hook, targets: [target] }], []).size).toBe(0);
  });
});

describe('pathSelected (the copy filter)', () => {
  it('excludes subtrees and keeps the directories on the way to an `only` path', () => {
    expect(pathSelected('pgdata/postmaster.pid', undefined, ['pgdata/postmaster.pid'])).toBe(false);
    expect(pathSelected('pgdata/base/1', undefined, ['pgdata/postmaster.pid'])).toBe(true);
    expect(pathSelected('pgdata', ['pgdata/pg_wal'])).toBe(true);
    expect(pathSelected('pgdata/pg_wal/000000010000000000000001', ['pgdata/pg_wal'])).toBe(true);
    expect(pathSelected('pgdata/base', ['pgdata/pg_wal'])).toBe(false);
    expect(pathSelected('.', ['x'], ['.'])).toBe(true);
  });
});

describe('volumesToCopy', () => {
  const volumes = validatePlan({
    apiVersion: 'temporal-dr/v1',
    kind: 'DRPlan',
    metadata: { name: 'p' },
    spec: {
      source: { context: 's' },
      selector: { namespaces: ['shop'] },
      volumes: { byPvc: { 'shop/cache-*': 'skip' } },
      store: { url: 's3://bkt/p', encryption: { keyFrom: { env: 'K' } } },
    },
  }).spec.volumes;
  const pvc = (name: string, volumeName?: string): KubeObject => ({
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name, namespace: 'shop' },
    spec: { volumeName, storageClassName: 'local-path', resources: { requests: { storage: '1Gi' } } },
  });
  const pv = (name: string, spec: Record<string, unknown>): KubeObject => ({ apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name }, spec });

  it('finds the node and directory of hostPath PVs, skips by plan, and explains what cannot be copied', () => {
    const objects = [
      pvc('data', 'pv-1'),
      pv('pv-1', { hostPath: { path: '/vol/pv-1' }, nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['node-2'] }] }] } } }),
      pvc('cache-1', 'pv-2'),
      pvc('nfs', 'pv-3'),
      pv('pv-3', { nfs: { server: 'x', path: '/' } }),
      pvc('pending'),
    ];
    const out = volumesToCopy(objects, [], volumes);
    expect(out.find((v) => v.pvc === 'data')).toMatchObject({ mode: 'copy', node: 'node-2', hostPath: '/vol/pv-1' });
    expect(out.find((v) => v.pvc === 'data')?.problem).toBeUndefined();
    expect(out.find((v) => v.pvc === 'cache-1')).toMatchObject({ mode: 'skip' });
    expect(out.find((v) => v.pvc === 'nfs')?.problem).toMatch(/not a hostPath\/local volume.*byPvc\["shop\/nfs"\]: skip/);
    expect(out.find((v) => v.pvc === 'pending')?.problem).toMatch(/not bound/);
  });
});
