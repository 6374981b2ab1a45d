// A local-path volume provisioner for the kwok clusters of the local stack, in the manner of
// rancher's local-path-provisioner: every PersistentVolumeClaim of a StorageClass whose
// provisioner is PROVISIONER gets a hostPath PersistentVolume, one directory per volume under
// <workdir>/volumes/<cluster>/<pv-name>, pinned (nodeAffinity) to the node that the first
// consumer was scheduled to (WaitForFirstConsumer) or to the first node (Immediate).
// A Released volume whose reclaim policy is Delete has its directory removed and is deleted.
// A claim with dataSource {apiGroup: snapshot.storage.k8s.io, kind: VolumeSnapshot} waits until
// that snapshot is readyToUse, then gets a new volume pre-filled (`cp -a`) from the snapshot's
// directory (local-path-snapshotter.ts), as external-provisioner + a CSI driver would do.
import * as k8s from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const PROVISIONER = 'temporal-dr.local/local-path';
/**
 * A CSI-style driver: its PVs carry only `spec.csi` (driver, volumeHandle), never a host path, as
 * on a cluster with cloud disks, Ceph or Longhorn. The "disk" behind a handle is a directory under
 * volumesDir that only the kubelet simulator knows; it mounts it into the pods' kubelet volume
 * directories (`<kubelet root>/pods/<uid>/volumes/kubernetes.io~csi/<pv>/mount`).
 */
export const CSI_DRIVER = 'csi.temporal-dr.local';
export const OUR_DRIVERS = new Set([PROVISIONER, CSI_DRIVER]);

/** The directory behind one of our volumes, whichever driver made it (undefined for others'). */
export function backingDirOf(pv: k8s.V1PersistentVolume, volumesDir: string): string | undefined {
  if (pv.spec?.csi?.driver === CSI_DRIVER) return path.join(volumesDir, pv.spec.csi.volumeHandle);
  if (pv.metadata?.annotations?.[PROVISIONED_BY] === PROVISIONER) return pv.spec?.hostPath?.path;
  return undefined;
}
const SELECTED_NODE = 'volume.kubernetes.io/selected-node';
const PROVISIONED_BY = 'pv.kubernetes.io/provisioned-by';

export interface ProvisionerOptions {
  core: k8s.CoreV1Api;
  storage: k8s.StorageV1Api;
  volumesDir: string; // <workdir>/volumes/<cluster>
  log: (msg: string) => void;
  /** The directory holding a ready VolumeSnapshot's files; undefined while it is not ready (or not ours). */
  snapshotDir?: (namespace: string, name: string) => Promise<{ dir: string } | undefined>;
}

export class LocalPathProvisioner {
  private readonly waitingLogged = new Set<string>();

  constructor(private readonly o: ProvisionerOptions) {
    fs.mkdirSync(o.volumesDir, { recursive: true });
  }

  /** One reconcile pass over claims and volumes; safe to call repeatedly. */
  async reconcile(): Promise<void> {
    const [classes, claims, volumes] = await Promise.all([
      this.o.storage.listStorageClass(),
      this.o.core.listPersistentVolumeClaimForAllNamespaces(),
      this.o.core.listPersistentVolume(),
    ]);
    const ours = new Map<string, k8s.V1StorageClass>();
    let defaultClass: string | undefined;
    for (const sc of classes.items) {
      if (!OUR_DRIVERS.has(sc.provisioner)) continue;
      ours.set(sc.metadata!.name!, sc);
      if (sc.metadata?.annotations?.['storageclass.kubernetes.io/is-default-class'] === 'true') defaultClass = sc.metadata!.name;
    }
    const pvNames = new Set(volumes.items.map((v) => v.metadata!.name!));
    for (const pvc of claims.items) {
      if (pvc.metadata?.deletionTimestamp || pvc.spec?.volumeName || pvc.status?.phase !== 'Pending') continue;
      // As external-provisioner: the legacy beta annotation names the class first.
      const className = pvc.metadata?.annotations?.['volume.beta.kubernetes.io/storage-class'] ?? pvc.spec?.storageClassName ?? defaultClass;
      const sc = className ? ours.get(className) : undefined;
      if (!sc) continue;
      const name = `pvc-${pvc.metadata!.uid}`;
      if (pvNames.has(name)) continue;
      let node = pvc.metadata?.annotations?.[SELECTED_NODE];
      if (!node) {
        if (sc.volumeBindingMode === 'WaitForFirstConsumer') continue; // the scheduler picks it
        const nodes = await this.o.core.listNode();
        node = nodes.items.map((n) => n.metadata!.name!).sort()[0];
        if (!node) continue;
      }
      let from: string | undefined;
      const ds = pvc.spec?.dataSourceRef ?? pvc.spec?.dataSource;
      if (ds) {
        if (ds.kind !== 'VolumeSnapshot' || ds.apiGroup !== 'snapshot.storage.k8s.io' || !this.o.snapshotDir) continue; // unsupported source: stays Pending
        const snap = await this.o.snapshotDir((ds as k8s.V1TypedObjectReference).namespace ?? pvc.metadata!.namespace!, ds.name);
        if (!snap) {
          const key = `${pvc.metadata!.uid}`;
          if (!this.waitingLogged.has(key)) this.o.log(`${pvc.metadata!.namespace}/${pvc.metadata!.name}: waiting for VolumeSnapshot ${ds.name} to be ready`);
          this.waitingLogged.add(key);
          continue;
        }
        from = snap.dir;
      }
      await this.provision(pvc, sc, name, node, from).catch((e) => this.o.log(`provision ${name}: ${errText(e)}`));
    }
    for (const pv of volumes.items) {
      if (!OUR_DRIVERS.has(pv.metadata?.annotations?.[PROVISIONED_BY] ?? '')) continue;
      if (pv.status?.phase !== 'Released' || pv.spec?.persistentVolumeReclaimPolicy !== 'Delete') continue;
      await this.remove(pv).catch((e) => this.o.log(`delete ${pv.metadata!.name}: ${errText(e)}`));
    }
  }

  private async provision(pvc: k8s.V1PersistentVolumeClaim, sc: k8s.V1StorageClass, name: string, node: string, from?: string) {
    const dir = path.join(this.o.volumesDir, name);
    if (from) {
      // the snapshot's tree, root directory included (its mode and owner too), like a restored CSI volume
      const tmp = `${dir}.restoring`;
      fs.rmSync(tmp, { recursive: true, force: true });
      await run('cp', ['-a', '--', from, tmp]);
      fs.rmSync(dir, { recursive: true, force: true });
      fs.renameSync(tmp, dir);
    } else {
      fs.mkdirSync(dir, { recursive: true, mode: 0o777 });
      fs.chmodSync(dir, 0o777);
    }
    const csi = sc.provisioner === CSI_DRIVER;
    const body: k8s.V1PersistentVolume = {
      apiVersion: 'v1',
      kind: 'PersistentVolume',
      metadata: { name, annotations: { [PROVISIONED_BY]: sc.provisioner }, labels: { 'stack.temporal-dr.local/node': node } },
      spec: {
        capacity: { storage: pvc.spec?.resources?.requests?.storage ?? '1Gi' },
        accessModes: pvc.spec?.accessModes?.length ? pvc.spec.accessModes : ['ReadWriteOnce'],
        persistentVolumeReclaimPolicy: sc.reclaimPolicy ?? 'Delete',
        storageClassName: sc.metadata!.name,
        volumeMode: pvc.spec?.volumeMode ?? 'Filesystem',
        claimRef: {
          apiVersion: 'v1',
          kind: 'PersistentVolumeClaim',
          namespace: pvc.metadata!.namespace,
          name: pvc.metadata!.name,
          uid: pvc.metadata!.uid,
        },
        ...(csi
          ? { csi: { driver: CSI_DRIVER, volumeHandle: name, fsType: 'ext4', volumeAttributes: { 'storage.kubernetes.io/csiProvisionerIdentity': 'tdr-local' } } }
          : { hostPath: { path: dir, type: 'DirectoryOrCreate' } }),
        nodeAffinity: {
          required: {
            nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/hostname', operator: 'In', values: [node] }] }],
          },
        },
      },
    };
    await this.o.core.createPersistentVolume({ body });
    this.waitingLogged.delete(pvc.metadata!.uid!);
    this.o.log(`provisioned ${csi ? 'CSI volume' : 'hostPath volume'} ${name} for ${pvc.metadata!.namespace}/${pvc.metadata!.name} on ${node} at ${dir}${from ? ` from snapshot ${from}` : ''}`);
  }

  private async remove(pv: k8s.V1PersistentVolume) {
    const dir = backingDirOf(pv, this.o.volumesDir);
    // Only ever delete inside our own volumes folder.
    if (dir && path.dirname(path.resolve(dir)) === path.resolve(this.o.volumesDir)) {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    await this.o.core.deletePersistentVolume({ name: pv.metadata!.name! });
    this.o.log(`deleted released volume ${pv.metadata!.name} (${dir})`);
  }
}

export function errText(e: unknown): string {
  const any = e as { code?: number; body?: unknown; message?: string };
  if (any && any.code && any.body) return `HTTP ${any.code}: ${typeof any.body === 'string' ? any.body : JSON.stringify(any.body)}`;
  return any?.message ?? String(e);
}
