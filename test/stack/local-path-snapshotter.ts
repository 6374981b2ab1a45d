// CSI volume snapshots for the local-path volumes of the local stack: the parts of
// external-snapshotter's common snapshot-controller and of a CSI driver + csi-snapshotter sidecar
// that our hostPath volumes need, run inside the kubelet simulator (kubelet-sim.ts).
//
// Why not the upstream snapshot-controller: it only snapshots PersistentVolumes with a CSI source
// (snapshot_controller.go: "cannot find CSI PersistentVolumeSource for volume"), and our volumes
// are hostPath volumes on purpose (node agents copy pv.spec.hostPath.path). So this module plays
// both roles, with upstream's object shapes, names and finalizers:
//
// - common controller: a VolumeSnapshot {source.persistentVolumeClaimName, volumeSnapshotClassName
//   (or the default class of DRIVER)} whose claim is bound to one of our volumes gets a
//   VolumeSnapshotContent "snapcontent-<snapshot uid>" {driver, deletionPolicy, source.volumeHandle
//   = PV name, volumeSnapshotRef, volumeSnapshotClassName}; a pre-provisioned content
//   (source.volumeSnapshotContentName) is bound. The content's status is mirrored to the snapshot
//   (boundVolumeSnapshotContentName, readyToUse, creationTime, restoreSize, error). Finalizers:
//   snapshot.storage.kubernetes.io/volumesnapshot-bound-protection on the snapshot,
//   .../volumesnapshotcontent-bound-protection on the content. Deleting a snapshot deletes its
//   content when deletionPolicy is Delete.
// - driver + sidecar: "cutting" a snapshot copies the volume directory, `cp -a` (modes, owners,
//   times, links), to <workdir>/snapshots/<cluster>/<content name>/, then sets the content's status
//   {snapshotHandle = content name, creationTime (ns), readyToUse: true, restoreSize (bytes: the
//   source volume's capacity, as CSI drivers report it)}.
//   A deleted content with deletionPolicy Delete has its directory removed.
// Restoring (a claim with dataSource kind VolumeSnapshot) is the provisioner's part:
// LocalPathProvisioner asks snapshotDirFor() where the snapshot's files are.
import * as k8s from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { OUR_DRIVERS, backingDirOf, errText } from './local-path-provisioner';

const run = promisify(execFile);

const GROUP = 'snapshot.storage.k8s.io';
const VERSION = 'v1';
const CONTENT_FINALIZER = 'snapshot.storage.kubernetes.io/volumesnapshotcontent-bound-protection';
const SNAPSHOT_FINALIZER = 'snapshot.storage.kubernetes.io/volumesnapshot-bound-protection';
const DEFAULT_CLASS = 'snapshot.storage.kubernetes.io/is-default-class';
const PROVISIONED_BY = 'pv.kubernetes.io/provisioned-by';

/* eslint-disable @typescript-eslint/no-explicit-any */
type Obj = { apiVersion?: string; kind?: string; metadata: k8s.V1ObjectMeta; spec?: any; status?: any; driver?: string; deletionPolicy?: string };

export interface SnapshotterOptions {
  core: k8s.CoreV1Api;
  custom: k8s.CustomObjectsApi;
  volumesDir: string; // <workdir>/volumes/<cluster>
  snapshotsDir: string; // <workdir>/snapshots/<cluster>
  log: (msg: string) => void;
}

export class LocalPathSnapshotter {
  private crdsMissingLogged = false;

  constructor(private readonly o: SnapshotterOptions) {
    fs.mkdirSync(o.snapshotsDir, { recursive: true });
  }

  /** One reconcile pass; safe to call repeatedly. */
  async reconcile(): Promise<void> {
    let classes: Obj[], snapshots: Obj[], contents: Obj[];
    try {
      [classes, snapshots, contents] = await Promise.all([
        this.o.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: 'volumesnapshotclasses' }).then(items),
        this.o.custom.listCustomObjectForAllNamespaces({ group: GROUP, version: VERSION, resourcePlural: 'volumesnapshots' }).then(items),
        this.o.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: 'volumesnapshotcontents' }).then(items),
      ]);
    } catch (e) {
      if ((e as { code?: number }).code === 404) {
        if (!this.crdsMissingLogged) this.o.log('snapshotter: snapshot.storage.k8s.io CRDs not installed; idle');
        this.crdsMissingLogged = true;
        return;
      }
      throw e;
    }
    const contentByName = new Map(contents.map((c) => [c.metadata.name!, c]));
    const snapshotUids = new Set(snapshots.map((s) => s.metadata.uid!));

    for (const vs of snapshots) {
      await this.syncSnapshot(vs, classes, contentByName).catch((e) => this.o.log(`snapshot ${ref(vs)}: ${errText(e)}`));
    }
    for (const c of contents) {
      if (!OUR_DRIVERS.has(c.spec?.driver)) continue;
      await this.syncContent(c, snapshotUids).catch((e) => this.o.log(`content ${c.metadata.name}: ${errText(e)}`));
    }
  }

  /** Where the files of a ready snapshot of our driver are, for a claim's dataSource; undefined while not ready. */
  async snapshotDirFor(namespace: string, name: string): Promise<{ dir: string; restoreSize?: string } | undefined> {
    let vs: Obj;
    try {
      vs = (await this.o.custom.getNamespacedCustomObject({ group: GROUP, version: VERSION, namespace, plural: 'volumesnapshots', name })) as Obj;
    } catch { return undefined; }
    const contentName = vs.status?.boundVolumeSnapshotContentName;
    if (!vs.status?.readyToUse || !contentName) return undefined;
    const c = (await this.o.custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: 'volumesnapshotcontents', name: contentName })) as Obj;
    if (!OUR_DRIVERS.has(c.spec?.driver) || !c.status?.readyToUse || !c.status?.snapshotHandle) return undefined;
    const dir = this.dirOf(c.status.snapshotHandle);
    if (!dir || !fs.existsSync(dir)) return undefined;
    return { dir, restoreSize: vs.status?.restoreSize };
  }

  // ---- common controller -------------------------------------------------------------------

  private async syncSnapshot(vs: Obj, classes: Obj[], contents: Map<string, Obj>) {
    const ns = vs.metadata.namespace!;
    const boundName: string | undefined = vs.status?.boundVolumeSnapshotContentName;
    const ours = vs.metadata.finalizers?.includes(SNAPSHOT_FINALIZER);

    if (vs.metadata.deletionTimestamp) {
      if (!ours) return;
      const c = boundName ? contents.get(boundName) : undefined;
      if (c && c.spec?.deletionPolicy === 'Delete') {
        if (!c.metadata.deletionTimestamp) {
          await this.o.custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: 'volumesnapshotcontents', name: c.metadata.name! });
          this.o.log(`snapshot ${ref(vs)} deleted: deleting its content ${c.metadata.name}`);
        }
        return; // the finalizer goes once the content is gone
      }
      await this.setFinalizers('volumesnapshots', vs, (vs.metadata.finalizers ?? []).filter((f) => f !== SNAPSHOT_FINALIZER));
      return;
    }

    if (boundName) {
      const c = contents.get(boundName);
      if (!c) {
        if (vs.status?.readyToUse !== false || !vs.status?.error) {
          await this.patchStatus('volumesnapshots', vs, { readyToUse: false, error: errorOf(`VolumeSnapshotContent ${boundName} is missing`) });
        }
        return;
      }
      if (!OUR_DRIVERS.has(c.spec?.driver)) return;
      const want: Record<string, unknown> = { boundVolumeSnapshotContentName: boundName, readyToUse: !!c.status?.readyToUse };
      if (c.status?.creationTime) want.creationTime = new Date(Math.floor(Number(c.status.creationTime) / 1e6)).toISOString().replace(/\.\d+Z$/, 'Z');
      if (c.status?.restoreSize !== undefined) want.restoreSize = quantity(Number(c.status.restoreSize));
      want.error = c.status?.error ?? null;
      if (differs(vs.status, want)) await this.patchStatus('volumesnapshots', vs, want);
      return;
    }

    // Pre-provisioned: bind to the named content.
    const staticName: string | undefined = vs.spec?.source?.volumeSnapshotContentName;
    if (staticName) {
      const c = contents.get(staticName);
      if (!c || !OUR_DRIVERS.has(c.spec?.driver)) return;
      const r = c.spec.volumeSnapshotRef ?? {};
      if (r.name !== vs.metadata.name || r.namespace !== ns || (r.uid && r.uid !== vs.metadata.uid)) {
        await this.patchStatus('volumesnapshots', vs, { readyToUse: false, error: errorOf(`VolumeSnapshotContent ${staticName} is bound to another snapshot`) });
        return;
      }
      if (!r.uid) await this.patchObject('volumesnapshotcontents', c, { spec: { volumeSnapshotRef: { uid: vs.metadata.uid } } });
      await this.addFinalizer('volumesnapshots', vs, SNAPSHOT_FINALIZER);
      await this.patchStatus('volumesnapshots', vs, { boundVolumeSnapshotContentName: staticName, readyToUse: false });
      this.o.log(`snapshot ${ref(vs)} bound to pre-provisioned content ${staticName}`);
      return;
    }

    // Dynamic: only for our driver's classes.
    const pvcName: string | undefined = vs.spec?.source?.persistentVolumeClaimName;
    if (!pvcName) return;
    let cls = vs.spec?.volumeSnapshotClassName ? classes.find((x) => x.metadata.name === vs.spec.volumeSnapshotClassName) : undefined;
    if (!vs.spec?.volumeSnapshotClassName) {
      const defaults = classes.filter((x) => OUR_DRIVERS.has(x.driver ?? '') && x.metadata.annotations?.[DEFAULT_CLASS] === 'true');
      if (defaults.length === 1) cls = defaults[0];
    }
    if (!cls || !OUR_DRIVERS.has(cls.driver ?? '')) return; // another driver's (or no) class: not ours
    let pv: k8s.V1PersistentVolume;
    try {
      const pvc = await this.o.core.readNamespacedPersistentVolumeClaim({ namespace: ns, name: pvcName });
      if (pvc.status?.phase !== 'Bound' || !pvc.spec?.volumeName) throw new Error(`PersistentVolumeClaim ${ns}/${pvcName} is not bound`);
      pv = await this.o.core.readPersistentVolume({ name: pvc.spec.volumeName });
    } catch (e) {
      const msg = (e as { code?: number }).code === 404 ? `PersistentVolumeClaim ${ns}/${pvcName} not found` : errText(e);
      if (vs.status?.error?.message !== msg) await this.patchStatus('volumesnapshots', vs, { readyToUse: false, error: errorOf(msg) });
      return;
    }
    if (pv.metadata?.annotations?.[PROVISIONED_BY] !== cls.driver || !backingDirOf(pv, this.o.volumesDir)) {
      const msg = `PersistentVolume ${pv.metadata?.name} was not provisioned by ${cls.driver}`;
      if (vs.status?.error?.message !== msg) await this.patchStatus('volumesnapshots', vs, { readyToUse: false, error: errorOf(msg) });
      return;
    }
    const contentName = `snapcontent-${vs.metadata.uid}`;
    await this.addFinalizer('volumesnapshots', vs, SNAPSHOT_FINALIZER);
    if (!contents.has(contentName)) {
      const body = {
        apiVersion: `${GROUP}/${VERSION}`,
        kind: 'VolumeSnapshotContent',
        metadata: { name: contentName, finalizers: [CONTENT_FINALIZER] },
        spec: {
          driver: cls.driver,
          deletionPolicy: cls.deletionPolicy ?? 'Delete',
          source: { volumeHandle: pv.metadata!.name },
          sourceVolumeMode: pv.spec?.volumeMode ?? 'Filesystem',
          volumeSnapshotClassName: cls.metadata.name,
          volumeSnapshotRef: {
            apiVersion: `${GROUP}/${VERSION}`, kind: 'VolumeSnapshot', namespace: ns, name: vs.metadata.name, uid: vs.metadata.uid,
          },
        },
      };
      await this.o.custom.createClusterCustomObject({ group: GROUP, version: VERSION, plural: 'volumesnapshotcontents', body });
      this.o.log(`snapshot ${ref(vs)}: created content ${contentName} for volume ${pv.metadata!.name}`);
    }
    await this.patchStatus('volumesnapshots', vs, { boundVolumeSnapshotContentName: contentName, readyToUse: false, error: null });
  }

  // ---- CSI driver + csi-snapshotter sidecar -------------------------------------------------

  private async syncContent(c: Obj, snapshotUids: Set<string>) {
    const name = c.metadata.name!;
    if (c.metadata.deletionTimestamp) {
      if (!c.metadata.finalizers?.includes(CONTENT_FINALIZER)) return;
      if (c.spec?.deletionPolicy === 'Delete') {
        const dir = this.dirOf(c.status?.snapshotHandle ?? c.spec?.source?.snapshotHandle ?? name);
        if (dir) fs.rmSync(dir, { recursive: true, force: true });
        this.o.log(`content ${name} deleted: removed ${dir}`);
      }
      await this.setFinalizers('volumesnapshotcontents', c, c.metadata.finalizers.filter((f) => f !== CONTENT_FINALIZER));
      return;
    }
    // Its snapshot is gone (deleted without our finalizer, or forcibly): Delete policy deletes it.
    const r = c.spec?.volumeSnapshotRef;
    if (r?.uid && !snapshotUids.has(r.uid) && c.spec?.deletionPolicy === 'Delete') {
      await this.o.custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: 'volumesnapshotcontents', name });
      return;
    }
    if (!c.metadata.finalizers?.includes(CONTENT_FINALIZER)) await this.addFinalizer('volumesnapshotcontents', c, CONTENT_FINALIZER);
    if (c.status?.readyToUse) return;

    if (c.spec?.source?.volumeHandle) {
      const src = path.join(this.o.volumesDir, c.spec.source.volumeHandle);
      const dst = this.dirOf(name)!;
      if (!fs.existsSync(src)) {
        await this.patchStatus('volumesnapshotcontents', c, { readyToUse: false, error: errorOf(`volume ${c.spec.source.volumeHandle} not found at ${src}`) });
        return;
      }
      const tmp = `${dst}.tmp`;
      fs.rmSync(tmp, { recursive: true, force: true });
      const creationTime = Date.now() * 1e6; // ns, like CSI's creation_time
      await run('cp', ['-a', '--', src, tmp]);
      fs.rmSync(dst, { recursive: true, force: true });
      fs.renameSync(tmp, dst);
      // like a CSI driver: the size a restored volume needs, i.e. the source volume's capacity
      const pv = await this.o.core.readPersistentVolume({ name: c.spec.source.volumeHandle }).catch(() => undefined);
      const restoreSize = bytesOf(pv?.spec?.capacity?.storage) ?? await dirBytes(dst);
      await this.patchStatus('volumesnapshotcontents', c, { snapshotHandle: name, creationTime, readyToUse: true, restoreSize, error: null });
      this.o.log(`content ${name}: snapshot of ${c.spec.source.volumeHandle} cut at ${dst} (${restoreSize} bytes)`);
    } else if (c.spec?.source?.snapshotHandle) {
      const dir = this.dirOf(c.spec.source.snapshotHandle);
      if (!dir || !fs.existsSync(dir)) {
        const msg = `snapshot ${c.spec.source.snapshotHandle} not found in ${this.o.snapshotsDir}`;
        if (c.status?.error?.message !== msg) await this.patchStatus('volumesnapshotcontents', c, { readyToUse: false, error: errorOf(msg) });
        return;
      }
      const st = fs.statSync(dir);
      await this.patchStatus('volumesnapshotcontents', c, {
        snapshotHandle: c.spec.source.snapshotHandle, creationTime: Math.floor(st.mtimeMs) * 1e6, readyToUse: true, restoreSize: await dirBytes(dir), error: null,
      });
    }
  }

  /** A snapshot handle's directory, never outside snapshotsDir. */
  private dirOf(handle: string): string | undefined {
    const dir = path.resolve(this.o.snapshotsDir, handle);
    return path.dirname(dir) === path.resolve(this.o.snapshotsDir) ? dir : undefined;
  }

  // ---- API helpers ----------------------------------------------------------------------------

  private async patchStatus(plural: string, o: Obj, status: Record<string, unknown>) {
    const body = { status };
    const opts = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
    if (o.metadata.namespace) {
      await this.o.custom.patchNamespacedCustomObjectStatus({ group: GROUP, version: VERSION, namespace: o.metadata.namespace, plural, name: o.metadata.name!, body }, opts);
    } else {
      await this.o.custom.patchClusterCustomObjectStatus({ group: GROUP, version: VERSION, plural, name: o.metadata.name!, body }, opts);
    }
  }

  private async patchObject(plural: string, o: Obj, body: Record<string, unknown>) {
    const opts = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
    if (o.metadata.namespace) {
      await this.o.custom.patchNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: o.metadata.namespace, plural, name: o.metadata.name!, body }, opts);
    } else {
      await this.o.custom.patchClusterCustomObject({ group: GROUP, version: VERSION, plural, name: o.metadata.name!, body }, opts);
    }
  }

  private async addFinalizer(plural: string, o: Obj, f: string) {
    if (o.metadata.finalizers?.includes(f)) return;
    await this.setFinalizers(plural, o, [...(o.metadata.finalizers ?? []), f]);
    o.metadata.finalizers = [...(o.metadata.finalizers ?? []), f];
  }

  /** Replaces the finalizers, guarded by resourceVersion (a conflict is retried on the next pass). */
  private async setFinalizers(plural: string, o: Obj, finalizers: string[]) {
    await this.patchObject(plural, o, { metadata: { finalizers, resourceVersion: o.metadata.resourceVersion } });
  }
}

function items(list: unknown): Obj[] { return ((list as { items?: Obj[] }).items ?? []); }
function ref(o: Obj) { return `${o.metadata.namespace}/${o.metadata.name}`; }
function errorOf(message: string) { return { message, time: new Date().toISOString().replace(/\.\d+Z$/, 'Z') }; }

function differs(have: Record<string, unknown> | undefined, want: Record<string, unknown>): boolean {
  for (const [k, v] of Object.entries(want)) {
    const h = have?.[k];
    if (v === null ? h !== undefined && h !== null : JSON.stringify(h) !== JSON.stringify(v)) return true;
  }
  return false;
}

/** Bytes as a Kubernetes quantity, BinarySI like upstream's resource.NewQuantity(size, BinarySI). */
function quantity(bytes: number): string {
  for (const [suffix, n] of [['Ti', 2 ** 40], ['Gi', 2 ** 30], ['Mi', 2 ** 20], ['Ki', 2 ** 10]] as const) {
    if (bytes >= n && bytes % n === 0) return `${bytes / n}${suffix}`;
  }
  return String(bytes);
}

function bytesOf(q: string | undefined): number | undefined {
  const m = q?.match(/^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$/);
  if (!m) return undefined;
  const mult: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15 };
  return Math.ceil(Number(m[1]) * (m[2] ? mult[m[2]] : 1));
}

async function dirBytes(dir: string): Promise<number> {
  const { stdout } = await run('du', ['-sb', '--', dir]);
  return Number(stdout.split(/\s/)[0]) || 0;
}
