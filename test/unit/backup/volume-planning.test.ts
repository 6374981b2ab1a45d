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

  const runningPod = (name: string, uid: string, node: string, claims: string[], phase = 'Running'): KubeObject => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'shop', uid },
    spec: { nodeName: node, volumes: claims.map((c) => ({ name: c, persistentVolumeClaim: { claimName: c } })) },
    status: { phase },
  });
  const UID = '0d6c3a1e-1111-4222-8333-444455556666';

  it('reads each claim through the kubelet directory of a running pod that mounts it, for any storage', () => {
    const objects = [
      pvc('data', 'pv-1'),
      pv('pv-1', { hostPath: { path: '/vol/pv-1' }, nodeAffinity: { required: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: ['node-2'] }] }] } } }),
      pvc('disk', 'pv-csi'),
      pv('pv-csi', { csi: { driver: 'ebs.csi.aws.com', volumeHandle: 'vol-0abc' } }),
      pvc('cache-1', 'pv-2'),
      pvc('idle', 'pv-4'),
      pv('pv-4', { csi: { driver: 'rbd.csi.ceph.com', volumeHandle: 'x' } }),
    ];
    const pods = [runningPod('db-0', UID, 'node-2', ['data', 'disk']), runningPod('old', '9d6c3a1e-1111-4222-8333-444455556666', 'node-1', ['idle'], 'Succeeded')];
    const out = volumesToCopy(objects, pods, volumes);
    expect(out.find((v) => v.pvc === 'data')).toMatchObject({ mode: 'copy', node: 'node-2', location: { node: 'node-2', podUid: UID, pvName: 'pv-1', claim: 'shop/data', hostPath: '/vol/pv-1' } });
    // A CSI volume has no host path: only the pod's kubelet directory leads to it.
    const disk = out.find((v) => v.pvc === 'disk')!;
    expect(disk.location).toEqual({ node: 'node-2', podUid: UID, pvName: 'pv-csi', claim: 'shop/disk' });
    expect(disk.problem).toBeUndefined();
    expect(out.find((v) => v.pvc === 'cache-1')).toMatchObject({ mode: 'skip' });
    // No running pod mounts it: no location (the workflow mounts it in a helper pod), and no problem.
    const idle = out.find((v) => v.pvc === 'idle')!;
    expect(idle.location).toBeUndefined();
    expect(idle.problem).toBeUndefined();
  });

  it('records an unbound claim as holding no data instead of failing, and refuses Block volumes with the fix', () => {
    const block: KubeObject = { ...pvc('raw', 'pv-5'), spec: { volumeName: 'pv-5', volumeMode: 'Block', resources: { requests: { storage: '1Gi' } } } };
    const pending: KubeObject = { ...pvc('pending'), status: { phase: 'Pending' } };
    const out = volumesToCopy([pending, block, pv('pv-5', { csi: { driver: 'd', volumeHandle: 'h' } })], [], volumes);
    expect(out.find((v) => v.pvc === 'pending')).toMatchObject({ mode: 'copy', noData: expect.stringMatching(/shop\/pending was not bound \(Pending\).*no data/) });
    expect(out.find((v) => v.pvc === 'pending')?.problem).toBeUndefined();
    expect(out.find((v) => v.pvc === 'raw')?.problem).toMatch(/volumeMode Block.*byPvc\["shop\/raw"\]: skip/);
  });

  it('takes the class from the beta annotation when a claim uses it', () => {
    const beta: KubeObject = {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'cache-beta', namespace: 'shop', annotations: { 'volume.beta.kubernetes.io/storage-class': 'fast' } },
      spec: { volumeName: 'pv-9', resources: { requests: { storage: '1Gi' } } },
    };
    const out = volumesToCopy([beta, pv('pv-9', { csi: { driver: 'd', volumeHandle: 'h' } })], [], volumes);
    expect(out[0]).toMatchObject({ storageClass: 'fast' });
  });
});
