// CSI volume snapshots on the local clusters (test/stack/local-path-snapshotter.ts): a
// VolumeSnapshot of a local-path volume becomes readyToUse with upstream's object shapes, a claim
// restored from it (dataSource VolumeSnapshot) holds the snapshot-time bytes, not the live ones,
// and deleting the snapshot (deletionPolicy Delete) removes its content and its directory.
import * as k8s from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { TestNamespace, coreApi, execInPod, freshNamespace, httpCode, kubeConfigFor, stackWorkdir, waitFor } from '../harness/clusters';

const cluster = 'source' as const;
const GROUP = 'snapshot.storage.k8s.io';
const VERSION = 'v1';

/* eslint-disable @typescript-eslint/no-explicit-any */
const custom = () => kubeConfigFor(cluster).makeApiClient(k8s.CustomObjectsApi);
const sh = (script: string) => ['sh', '-c', script];

async function createClaimAndPod(ns: string, claim: string, pod: string, dataSource?: k8s.V1TypedLocalObjectReference) {
  const core = coreApi(cluster);
  await core.createNamespacedPersistentVolumeClaim({
    namespace: ns,
    body: {
      metadata: { name: claim },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, storageClassName: 'local-path', dataSource },
    },
  });
  await core.createNamespacedPod({
    namespace: ns,
    body: {
      metadata: { name: pod },
      spec: {
        containers: [{ name: 'app', image: 'busybox', volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
        volumes: [{ name: 'data', persistentVolumeClaim: { claimName: claim } }],
      },
    },
  });
  await waitFor(`pod ${ns}/${pod} Ready`, 60_000, async () => {
    const p = await core.readNamespacedPod({ namespace: ns, name: pod });
    return !!p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
  });
  const pvc = await core.readNamespacedPersistentVolumeClaim({ namespace: ns, name: claim });
  return core.readPersistentVolume({ name: pvc.spec!.volumeName! });
}

async function run(ns: string, pod: string, script: string, stdin?: Buffer) {
  const r = await execInPod(cluster, ns, pod, 'app', sh(script), stdin);
  expect({ script, exitCode: r.exitCode, stderr: r.stderr }).toEqual({ script, exitCode: 0, stderr: '' });
  return r.stdout;
}

describe('CSI snapshots of local-path volumes', () => {
  let ns: TestNamespace;
  beforeAll(async () => { ns = await freshNamespace(cluster, 'csi-snapshots'); });
  afterAll(async () => { await ns?.cleanup(); });

  test('snapshot → readyToUse, restore from it holds the snapshot-time bytes, delete removes content and directory', async () => {
    const blob = randomBytes(64 * 1024);
    const livePv = await createClaimAndPod(ns.name, 'data', 'writer');
    const liveDir = livePv.spec!.hostPath!.path;

    // files written through the pod, as an application would
    await run(ns.name, 'writer', 'cat > "$TDR_ROOT/data/blob.bin"', blob);
    await run(ns.name, 'writer', 'cd "$TDR_ROOT/data" && printf "version 1\\n" > state.txt && mkdir -p private && echo secret > private/key && chmod 700 private && chmod 640 private/key && ln -s state.txt current && chown 65534:65534 private/key');

    // the snapshot: VolumeSnapshot in the claim's namespace, class local-path-snapshots
    await custom().createNamespacedCustomObject({
      group: GROUP, version: VERSION, namespace: ns.name, plural: 'volumesnapshots',
      body: {
        apiVersion: `${GROUP}/${VERSION}`, kind: 'VolumeSnapshot',
        metadata: { name: 'snap-1' },
        spec: { volumeSnapshotClassName: 'local-path-snapshots', source: { persistentVolumeClaimName: 'data' } },
      },
    });
    let vs: any;
    await waitFor('VolumeSnapshot snap-1 readyToUse', 30_000, async () => {
      vs = await custom().getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns.name, plural: 'volumesnapshots', name: 'snap-1' });
      return vs.status?.readyToUse === true;
    }, () => JSON.stringify(vs?.status));
    const contentName: string = vs.status.boundVolumeSnapshotContentName;
    expect(contentName).toBe(`snapcontent-${vs.metadata.uid}`);
    expect(vs.status).toMatchObject({ readyToUse: true, restoreSize: '1Gi' });
    expect(Date.parse(vs.status.creationTime)).toBeGreaterThan(Date.now() - 120_000);
    expect(vs.metadata.finalizers).toContain('snapshot.storage.kubernetes.io/volumesnapshot-bound-protection');

    const content: any = await custom().getClusterCustomObject({ group: GROUP, version: VERSION, plural: 'volumesnapshotcontents', name: contentName });
    expect(content.spec).toMatchObject({
      driver: 'temporal-dr.local/local-path',
      deletionPolicy: 'Delete',
      source: { volumeHandle: livePv.metadata!.name },
      volumeSnapshotClassName: 'local-path-snapshots',
      volumeSnapshotRef: { kind: 'VolumeSnapshot', namespace: ns.name, name: 'snap-1', uid: vs.metadata.uid },
    });
    expect(content.status).toMatchObject({ readyToUse: true, snapshotHandle: contentName, restoreSize: 1024 ** 3 });
    expect(typeof content.status.creationTime).toBe('number'); // nanoseconds, as CSI reports it
    const snapDir = path.join(stackWorkdir(), 'snapshots', cluster, contentName);
    expect(fs.readFileSync(path.join(snapDir, 'state.txt'), 'utf8')).toBe('version 1\n');

    // the live volume moves on
    await run(ns.name, 'writer', 'cd "$TDR_ROOT/data" && printf "version 2\\n" > state.txt && rm blob.bin && echo later > added.txt');
    expect(fs.readFileSync(path.join(liveDir, 'state.txt'), 'utf8')).toBe('version 2\n');

    // restore: a new claim from the snapshot, mounted in a pod
    const restoredPv = await createClaimAndPod(ns.name, 'restored', 'reader', { apiGroup: GROUP, kind: 'VolumeSnapshot', name: 'snap-1' });
    const restoredDir = restoredPv.spec!.hostPath!.path;
    expect(restoredDir).not.toBe(liveDir);
    expect(restoredPv.spec?.storageClassName).toBe('local-path');
    expect(await run(ns.name, 'reader', 'cat "$TDR_ROOT/data/state.txt"')).toBe('version 1\n');
    const listing = await run(ns.name, 'reader', 'cd "$TDR_ROOT/data" && ls -A | sort && stat -c "%n %a" private private/key && readlink current');
    expect(listing.trim().split('\n')).toEqual(['blob.bin', 'current', 'private', 'state.txt', 'private 700', 'private/key 640', 'state.txt']);
    const readBack = await execInPod(cluster, ns.name, 'reader', 'app', sh('cat "$TDR_ROOT/data/blob.bin" | od -An -v -tx1'));
    expect(readBack.stdout.replace(/\s+/g, '')).toBe(blob.toString('hex'));
    expect(fs.readFileSync(path.join(restoredDir, 'blob.bin')).equals(blob)).toBe(true);
    expect(fs.readFileSync(path.join(restoredDir, 'private', 'key'), 'utf8')).toBe('secret\n');
    expect(fs.statSync(path.join(restoredDir, 'private', 'key'))).toMatchObject({ uid: 65534, gid: 65534 }); // owners kept (cp -a)

    // delete the snapshot: its content and directory go; the restored volume is its own copy
    await custom().deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns.name, plural: 'volumesnapshots', name: 'snap-1' });
    await waitFor('VolumeSnapshot snap-1 and its content gone', 30_000, async () => {
      const gone = async (p: Promise<unknown>) => p.then(() => false, (e) => httpCode(e) === 404);
      return (await gone(custom().getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns.name, plural: 'volumesnapshots', name: 'snap-1' })))
        && (await gone(custom().getClusterCustomObject({ group: GROUP, version: VERSION, plural: 'volumesnapshotcontents', name: contentName })));
    });
    expect(fs.existsSync(snapDir)).toBe(false);
    expect(await run(ns.name, 'reader', 'cat "$TDR_ROOT/data/state.txt"')).toBe('version 1\n');
  });

  test('deletionPolicy Retain keeps the directory; a pre-provisioned content on it binds, restores and is deleted', async () => {
    const core = coreApi(cluster);
    const cls = `retain-${ns.name}`;
    await custom().createClusterCustomObject({
      group: GROUP, version: VERSION, plural: 'volumesnapshotclasses',
      body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'VolumeSnapshotClass', metadata: { name: cls }, driver: 'temporal-dr.local/local-path', deletionPolicy: 'Retain' },
    });
    try {
      await createClaimAndPod(ns.name, 'keep', 'keeper');
      await run(ns.name, 'keeper', 'echo kept > "$TDR_ROOT/data/kept.txt"');
      const snap = async (name: string, source: Record<string, string>, className?: string) => {
        await custom().createNamespacedCustomObject({
          group: GROUP, version: VERSION, namespace: ns.name, plural: 'volumesnapshots',
          body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'VolumeSnapshot', metadata: { name }, spec: { source, ...(className ? { volumeSnapshotClassName: className } : {}) } },
        });
        let vs: any;
        await waitFor(`VolumeSnapshot ${name} readyToUse`, 30_000, async () => {
          vs = await custom().getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns.name, plural: 'volumesnapshots', name });
          return vs.status?.readyToUse === true;
        }, () => JSON.stringify(vs?.status));
        return vs;
      };
      const gone = (p: Promise<unknown>) => p.then(() => false, (e) => httpCode(e) === 404);
      const getContent = (name: string) => custom().getClusterCustomObject({ group: GROUP, version: VERSION, plural: 'volumesnapshotcontents', name });

      const retained = await snap('retained', { persistentVolumeClaimName: 'keep' }, cls);
      const retainedContent: string = retained.status.boundVolumeSnapshotContentName;
      const handle: string = ((await getContent(retainedContent)) as any).status.snapshotHandle;
      await custom().deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns.name, plural: 'volumesnapshots', name: 'retained' });
      await waitFor('VolumeSnapshot retained gone', 30_000, () => gone(custom().getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns.name, plural: 'volumesnapshots', name: 'retained' })));
      await new Promise((r) => setTimeout(r, 1500));
      await expect(getContent(retainedContent)).resolves.toBeTruthy();
      const dir = path.join(stackWorkdir(), 'snapshots', cluster, handle);
      expect(fs.readFileSync(path.join(dir, 'kept.txt'), 'utf8')).toBe('kept\n');

      // pre-provisioned: a content naming the retained snapshot's handle, and a snapshot naming the content
      const staticContent = `static-${ns.name}`;
      await custom().createClusterCustomObject({
        group: GROUP, version: VERSION, plural: 'volumesnapshotcontents',
        body: {
          apiVersion: `${GROUP}/${VERSION}`, kind: 'VolumeSnapshotContent', metadata: { name: staticContent },
          spec: {
            driver: 'temporal-dr.local/local-path', deletionPolicy: 'Delete', source: { snapshotHandle: handle },
            volumeSnapshotRef: { kind: 'VolumeSnapshot', apiVersion: `${GROUP}/${VERSION}`, namespace: ns.name, name: 'imported' },
          },
        },
      });
      const imported = await snap('imported', { volumeSnapshotContentName: staticContent });
      expect(imported.status.boundVolumeSnapshotContentName).toBe(staticContent);
      expect(((await getContent(staticContent)) as any).spec.volumeSnapshotRef.uid).toBe(imported.metadata.uid);
      await createClaimAndPod(ns.name, 'from-import', 'import-reader', { apiGroup: GROUP, kind: 'VolumeSnapshot', name: 'imported' });
      expect(await run(ns.name, 'import-reader', 'cat "$TDR_ROOT/data/kept.txt"')).toBe('kept\n');

      // its policy is Delete: deleting the snapshot deletes the content and the directory
      await custom().deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: ns.name, plural: 'volumesnapshots', name: 'imported' });
      await waitFor('pre-provisioned content gone', 30_000, () => gone(getContent(staticContent)));
      expect(fs.existsSync(dir)).toBe(false);
      await custom().deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: 'volumesnapshotcontents', name: retainedContent });
      await waitFor('retained content gone', 30_000, () => gone(getContent(retainedContent)));
      expect((await core.readNamespacedPersistentVolumeClaim({ namespace: ns.name, name: 'from-import' })).status?.phase).toBe('Bound');
    } finally {
      await custom().deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: 'volumesnapshotclasses', name: cls }).catch(() => undefined);
    }
  });

  test('a claim from a snapshot that does not exist stays Pending', async () => {
    const core = coreApi(cluster);
    await core.createNamespacedPersistentVolumeClaim({
      namespace: ns.name,
      body: {
        metadata: { name: 'orphan' },
        spec: {
          accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, storageClassName: 'local-path',
          dataSource: { apiGroup: GROUP, kind: 'VolumeSnapshot', name: 'no-such-snapshot' },
        },
      },
    });
    await core.createNamespacedPod({
      namespace: ns.name,
      body: {
        metadata: { name: 'orphan-reader' },
        spec: {
          containers: [{ name: 'app', image: 'busybox', volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
          volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'orphan' } }],
        },
      },
    });
    await new Promise((r) => setTimeout(r, 3000));
    const pvc = await core.readNamespacedPersistentVolumeClaim({ namespace: ns.name, name: 'orphan' });
    expect(pvc.status?.phase).toBe('Pending');
    expect(pvc.spec?.volumeName).toBeFalsy();
  });
});
