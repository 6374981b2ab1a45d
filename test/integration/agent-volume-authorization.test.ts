/**
 * A node agent acts only on volumes it resolves itself through the Kubernetes API, whoever sent
 * the task. On the real local "source" cluster: pods on node-0 and node-1 mounting local-path
 * (hostPath) and csi-disk (CSI, no host path) claims. The agent's own activities, with a client
 * built as the agent process builds it, are given a good location (resolved to the right
 * directory, copied) and forged ones: a pod on another node, a pod that does not exist, a claim the
 * pod does not mount, a PV the claim is not bound to, a host path that is not the PV's, and the
 * bare host path of runs started by an older release. Each is refused with a non-retryable
 * VolumeAccessRefusedError that names claim, pod and node, and leaves the other pod's volume, a
 * sentinel directory and the store exactly as they were, even for restores that would mirror.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createAgentActivities } from '../../activities/volumes/agent-activities';
import { authorizeVolume, connectAgentCluster, type AgentScope } from '../../activities/volumes/authorize-volume';
import { resolveVolumeDir, VolumeNotMountedError } from '../../activities/volumes/resolve-path';
import { openRepository } from '../../activities/store/open-repository';
import { listAll } from '../../activities/store/object-store';
import { generateMasterKey } from '../../activities/datapath/crypto';
import type { VolumeLocation } from '../../shared/volume-location';
import type { StoreRef } from '../../shared/store-ref';
import { coreApi, freshNamespace, volumeDataDir, waitFor, type TestNamespace } from '../harness/clusters';
import { freshStore } from '../harness/store';

const cluster = 'source' as const;
const NODES = ['node-0', 'node-1', 'node-2'];
const KEY_ENV = 'TDR_AUTHZ_TEST_KEY';

interface Mounted {
  pod: k8s.V1Pod;
  pv: k8s.V1PersistentVolume;
  dir: string;
  loc: VolumeLocation;
}

/** A claim of `storageClass` mounted by a pod pinned to `node`, Ready; its location as the orchestrator builds it. */
async function mountedClaim(ns: string, claim: string, pod: string, node: string, storageClass: string): Promise<Mounted> {
  const core = coreApi(cluster);
  await core.createNamespacedPersistentVolumeClaim({
    namespace: ns,
    body: { metadata: { name: claim }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, storageClassName: storageClass } },
  });
  await core.createNamespacedPod({
    namespace: ns,
    body: {
      metadata: { name: pod },
      spec: {
        nodeSelector: { 'kubernetes.io/hostname': node },
        containers: [{ name: 'app', image: 'busybox', volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
        volumes: [{ name: 'data', persistentVolumeClaim: { claimName: claim } }],
      },
    },
  });
  let p: k8s.V1Pod | undefined;
  await waitFor(`pod ${ns}/${pod} Ready`, 90_000, async () => {
    p = await core.readNamespacedPod({ namespace: ns, name: pod });
    return !!p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
  }, () => JSON.stringify(p?.status?.conditions ?? p?.status?.phase));
  const pvc = await core.readNamespacedPersistentVolumeClaim({ namespace: ns, name: claim });
  const pv = await core.readPersistentVolume({ name: pvc.spec!.volumeName! });
  const hostPath = pv.spec?.hostPath?.path;
  return {
    pod: p!,
    pv,
    dir: fs.realpathSync(volumeDataDir(cluster, pv)),
    loc: { node: p!.spec!.nodeName!, podUid: p!.metadata!.uid!, pvName: pv.metadata!.name!, claim: `${ns}/${claim}`, ...(hostPath ? { hostPath } : {}) },
  };
}

/** Every file under `dir` with its content hash, mode and mtime: anything read-only access leaves alone. */
function fingerprint(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const f = path.join(d, e.name);
      const st = fs.lstatSync(f);
      const rel = path.relative(dir, f);
      if (e.isDirectory()) {
        out[rel + '/'] = `${st.mode}`;
        walk(f);
      } else {
        out[rel] = `${st.mode} ${st.mtimeMs} ${createHash('sha256').update(fs.readFileSync(f)).digest('hex')}`;
      }
    }
  };
  walk(dir);
  return out;
}

describe('node agent: volumes resolved through the Kubernetes API only', () => {
  let ns: TestNamespace;
  let data: Mounted; // local-path (hostPath PV), pod app on node-0
  let disk: Mounted; // csi-disk (CSI PV, no host path), pod csi-app on node-0
  let other: Mounted; // local-path, pod other on node-1: what a forged task would reach
  let sentinel: string; // a directory outside every volume
  let store: StoreRef;
  let scope: AgentScope;
  let agent: ReturnType<typeof createAgentActivities>;
  let goodManifest: string;
  const key = { env: KEY_ENV };
  const fingerprints = () => ({ other: fingerprint(other.dir), sentinel: fingerprint(sentinel), data: fingerprint(data.dir) });
  let objectStore: Parameters<typeof listAll>[0];
  const storeKeys = async () => (await listAll(objectStore, '')).map((o) => o.key).sort();

  beforeAll(async () => {
    process.env[KEY_ENV] = generateMasterKey();
    ns = await freshNamespace(cluster, 'agent-authz');
    [data, disk, other] = await Promise.all([
      mountedClaim(ns.name, 'data', 'app', 'node-0', 'local-path'),
      mountedClaim(ns.name, 'disk', 'csi-app', 'node-0', 'csi-disk'),
      mountedClaim(ns.name, 'other-data', 'other', 'node-1', 'local-path'),
    ]);
    fs.writeFileSync(path.join(data.dir, 'hello.txt'), 'hello from the good volume\n');
    fs.mkdirSync(path.join(data.dir, 'sub'));
    fs.writeFileSync(path.join(data.dir, 'sub', 'blob.bin'), randomBytes(64 * 1024));
    fs.writeFileSync(path.join(disk.dir, 'disk.txt'), 'on a CSI disk\n');
    fs.writeFileSync(path.join(other.dir, 'keep.txt'), `another tenant's data ${randomUUID()}\n`);
    sentinel = fs.mkdtempSync(path.join(os.tmpdir(), 'tdr-sentinel-'));
    fs.writeFileSync(path.join(sentinel, 'keep.txt'), `outside every volume ${randomUUID()}\n`);

    const fresh = await freshStore('authz');
    store = fresh.ref;
    objectStore = fresh.store;
    await openRepository(store, key, { create: true });

    // Built exactly as worker/node-agent.ts builds it on the local stack.
    const { kube } = connectAgentCluster(cluster, { TDR_AGENT_KUBECONFIG: process.env.TDR_KUBECONFIG, TDR_AGENT_CONTEXT: cluster });
    scope = { cluster, nodes: NODES, kube };
    agent = createAgentActivities(scope);
  });

  afterAll(async () => {
    if (sentinel) fs.rmSync(sentinel, { recursive: true, force: true });
    await ns?.cleanup().catch(() => undefined);
  });

  // Refusals are expected here: keep the SDK's "Activity failed" warnings out of the output.
  const activityEnv = () => new MockActivityEnvironment(undefined, { logger: new DefaultLogger('ERROR') });
  const backup = (ref: { volume?: VolumeLocation; hostPath?: string }, manifestKey: string, a = agent) =>
    activityEnv().run(a.backupVolume, { ...ref, store, key, manifestKey, sessionId: manifestKey.replace(/[^A-Za-z0-9._-]/g, '-'), source: { test: 'authz' } });
  const restore = (ref: { volume?: VolumeLocation; hostPath?: string }, a = agent) =>
    activityEnv().run(a.restoreVolume, { ...ref, store, key, manifestKey: goodManifest, mirror: true });

  test('(i) a good location resolves to the volume\'s own directory, for a hostPath PV and a CSI PV', async () => {
    // hostPath PV: the path comes from the PV, whether or not the task carried it
    const withPath = await authorizeVolume(data.loc, scope);
    expect(withPath).toEqual(data.loc);
    expect(await resolveVolumeDir(withPath, cluster)).toBe(data.dir);
    const { hostPath: _h, ...noPath } = data.loc;
    expect(await authorizeVolume(noPath, scope)).toEqual(data.loc);

    // CSI PV: no host path anywhere; read through the pod's kubelet directory
    expect(disk.loc.hostPath).toBeUndefined();
    const csi = await authorizeVolume(disk.loc, scope);
    expect(csi).toEqual(disk.loc);
    expect(await resolveVolumeDir(csi, cluster)).toBe(disk.dir);
    // right pod, right node, volume not (yet) mounted where the agent looks: still the retryable error
    const emptyKubelet = fs.mkdtempSync(path.join(os.tmpdir(), 'tdr-kubelet-'));
    await expect(resolveVolumeDir(csi, cluster, { kubeletRoot: emptyKubelet })).rejects.toThrow(VolumeNotMountedError);
    fs.rmSync(emptyKubelet, { recursive: true });

    // through the activity: the copy reads the right files
    goodManifest = `authz/${randomUUID()}/good`;
    const r = await backup({ volume: data.loc }, goodManifest);
    expect(r).toMatchObject({ files: 2, bytes: 'hello from the good volume\n'.length + 64 * 1024 });
    const c = await backup({ volume: disk.loc }, `authz/${randomUUID()}/csi`);
    expect(c).toMatchObject({ files: 1, bytes: 'on a CSI disk\n'.length });
  });

  /** The forged tasks, each with the refusal it must get. */
  const forged = (): { name: string; ref: { volume?: VolumeLocation; hostPath?: string }; message: RegExp; restoreRef?: { volume?: VolumeLocation; hostPath?: string }; nodes?: string[] }[] => [
    {
      name: '(ii) a pod that runs on another node than the task says',
      ref: { volume: { ...other.loc, node: 'node-0' } },
      message: new RegExp(`refused volume ${ns.name}/other-data \\(PV ${other.loc.pvName}\\) of pod ${ns.name}/other \\(uid ${other.loc.podUid}\\) on node node-0: pod ${ns.name}/other \\(uid [-0-9a-f]+\\) runs on node node-1, not on node node-0`),
    },
    {
      name: '(ii) a pod on a node this agent does not serve',
      ref: { volume: other.loc },
      nodes: ['node-0'],
      message: new RegExp(`refused volume ${ns.name}/other-data .* of pod uid ${other.loc.podUid} on node node-1: node node-1 is not served by this agent \\(it serves node-0\\)`),
    },
    {
      name: '(iii) a pod uid that does not exist',
      ref: { volume: { ...data.loc, podUid: '6b1e7c2d-1111-4222-8333-944455556666' } },
      message: new RegExp(`refused volume ${ns.name}/data .* of pod uid 6b1e7c2d-1111-4222-8333-944455556666 on node node-0: no pod with uid 6b1e7c2d-1111-4222-8333-944455556666 exists in namespace ${ns.name}`),
    },
    {
      name: '(iv) a claim the pod does not mount',
      ref: { volume: { ...other.loc, node: 'node-0', podUid: data.loc.podUid } },
      message: new RegExp(`refused volume ${ns.name}/other-data .* of pod ${ns.name}/app .* on node node-0: pod ${ns.name}/app .* does not mount claim other-data \\(it mounts claims data\\)`),
    },
    {
      name: '(v) a PV the claim is not bound to',
      ref: { volume: { ...data.loc, pvName: other.loc.pvName, hostPath: other.loc.hostPath } },
      message: new RegExp(`refused volume ${ns.name}/data \\(PV ${other.loc.pvName}\\) of pod ${ns.name}/app .* on node node-0: claim ${ns.name}/data is bound to PV ${data.loc.pvName}, not to PV ${other.loc.pvName}`),
    },
    {
      name: '(vi) a host path that is not the PV\'s (/etc; the sentinel for restores)',
      ref: { volume: { ...data.loc, hostPath: '/etc' } },
      restoreRef: { volume: { ...data.loc, hostPath: sentinel } },
      message: new RegExp(`refused volume ${ns.name}/data .* of pod ${ns.name}/app .* on node node-0: the task names host path (/etc|${sentinel}), but PV ${data.loc.pvName}'s path is ${data.loc.hostPath}`),
    },
    {
      name: '(vi) a host path for a CSI PV, which has none',
      ref: { volume: { ...disk.loc, hostPath: sentinel } },
      message: new RegExp(`refused volume ${ns.name}/disk .* of pod ${ns.name}/csi-app .* on node node-0: the task names host path ${sentinel}, but PV ${disk.loc.pvName} has no host path \\(a CSI volume of driver csi.temporal-dr.local\\)`),
    },
    {
      name: '(vii) the bare host path of a run started by an older release',
      ref: { hostPath: sentinel },
      message: new RegExp(`refused a volume task that names only the host path "${sentinel}" and no pod or claim: the run that sent it was started by an older release\\..*Run the backup or restore again`),
    },
  ];

  test('(ii)-(vii) forged locations are refused, non-retryable, before anything on disk or in the store is touched', async () => {
    expect(goodManifest).toBeDefined();
    const before = fingerprints();
    const keysBefore = await storeKeys();
    const seen: string[] = [];
    for (const f of forged()) {
      const a = f.nodes ? createAgentActivities({ ...scope, nodes: f.nodes }) : agent;
      for (const [op, run] of [
        ['backupVolume', () => backup(f.ref, `authz/${randomUUID()}/forged`, a)],
        ['restoreVolume', () => restore(f.restoreRef ?? f.ref, a)],
      ] as const) {
        const err = await run().then(
          () => undefined,
          (e: { type?: string; nonRetryable?: boolean; message: string }) => e,
        );
        expect({ case: f.name, op, refused: !!err }).toEqual({ case: f.name, op, refused: true });
        expect({ case: f.name, op, type: err!.type, nonRetryable: err!.nonRetryable }).toEqual({ case: f.name, op, type: 'VolumeAccessRefusedError', nonRetryable: true });
        expect(err!.message).toMatch(f.message);
        expect(err!.message).toMatch(/Nothing was read or written/);
        // nothing on disk or in the store changed
        expect({ case: f.name, op, ...fingerprints() }).toEqual({ case: f.name, op, ...before });
        expect(await storeKeys()).toEqual(keysBefore);
        seen.push(`${f.name}: ${err!.message}`);
      }
    }
    console.log(`refusals:\n  ${seen.filter((_, i) => i % 2 === 0).join('\n  ')}`);

    // the agent still serves the good location after all that: the restore writes the backup back
    fs.writeFileSync(path.join(data.dir, 'stray.txt'), 'not in the point\n');
    const r = await restore({ volume: data.loc });
    expect(r).toMatchObject({ files: 2, removed: 1 });
    expect(fs.readFileSync(path.join(data.dir, 'hello.txt'), 'utf8')).toBe('hello from the good volume\n');
    expect(fs.existsSync(path.join(data.dir, 'stray.txt'))).toBe(false);
    expect(fingerprint(other.dir)).toEqual(before.other);
    expect(fingerprint(sentinel)).toEqual(before.sentinel);
  });
});
