import { mkdirSync, mkdtempSync, realpathSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { kubeletRootFor, resolveVolumeDir, VolumeNotMountedError } from '../../../activities/volumes/resolve-path';
import { InvalidInputError } from '../../../shared/errors';

const UID = '3f1c2b7a-0c0e-4e55-9a43-2f7c9c0f1a11';

describe('resolveVolumeDir: a node agent finds a volume the way the kubelet exposes it', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'kubelet-'));
  const podVolumes = path.join(root, 'pods', UID, 'volumes');

  it('reads a CSI volume through <kubelet root>/pods/<uid>/volumes/kubernetes.io~csi/<pv>/mount', async () => {
    mkdirSync(path.join(podVolumes, 'kubernetes.io~csi', 'pvc-csi', 'mount'), { recursive: true });
    const dir = await resolveVolumeDir({ node: 'n1', podUid: UID, pvName: 'pvc-csi', claim: 'ns/data' }, 'c', { kubeletRoot: root });
    expect(dir).toBe(realpathSync(path.join(podVolumes, 'kubernetes.io~csi', 'pvc-csi', 'mount')));
  });

  it('reads other plugins (local volumes) at <plugin>/<pv>, following the mount to where it leads', async () => {
    const disk = mkdtempSync(path.join(os.tmpdir(), 'disk-'));
    mkdirSync(path.join(podVolumes, 'kubernetes.io~local-volume'), { recursive: true });
    symlinkSync(disk, path.join(podVolumes, 'kubernetes.io~local-volume', 'local-pv'));
    expect(await resolveVolumeDir({ node: 'n1', podUid: UID, pvName: 'local-pv', claim: 'ns/l' }, 'c', { kubeletRoot: root })).toBe(realpathSync(disk));
  });

  it('uses a hostPath PV\'s own directory (the kubelet has none for it), under the host root only', async () => {
    const host = mkdtempSync(path.join(os.tmpdir(), 'host-'));
    mkdirSync(path.join(host, 'vol', 'pv-1'), { recursive: true });
    expect(await resolveVolumeDir({ node: 'n1', podUid: UID, pvName: 'pv-1', claim: 'ns/h', hostPath: '/vol/pv-1' }, 'c', { kubeletRoot: root, hostRoot: host })).toBe(path.join(host, 'vol', 'pv-1'));
    await expect(resolveVolumeDir({ node: 'n1', podUid: UID, pvName: 'pv-1', claim: 'ns/h', hostPath: '/../../etc' }, 'c', { kubeletRoot: root, hostRoot: host })).rejects.toThrow(VolumeNotMountedError);
  });

  it('says what is missing when the volume is not mounted there, and refuses names that are not a uid or PV name', async () => {
    await expect(resolveVolumeDir({ node: 'n1', podUid: UID, pvName: 'absent', claim: 'ns/x' }, 'c', { kubeletRoot: root })).rejects.toThrow(
      /volume ns\/x \(PV absent\) is not mounted by pod .* on node n1.*TDR_KUBELET_ROOT/,
    );
    await expect(resolveVolumeDir({ node: 'n1', podUid: '../../etc', pvName: 'x', claim: 'ns/x' }, 'c', { kubeletRoot: root })).rejects.toThrow(InvalidInputError);
    await expect(resolveVolumeDir({ node: 'n1', podUid: UID, pvName: '../x', claim: 'ns/x' }, 'c', { kubeletRoot: root })).rejects.toThrow(InvalidInputError);
  });

  it('fills the node and cluster into TDR_KUBELET_ROOT', () => {
    expect(kubeletRootFor('source', 'node-1', '/stack/kubelet/{cluster}/{node}')).toBe('/stack/kubelet/source/node-1');
    expect(kubeletRootFor('source', 'node-1', '/var/lib/kubelet')).toBe('/var/lib/kubelet');
  });
});
