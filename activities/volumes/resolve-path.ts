import fs from 'node:fs/promises';
import path from 'node:path';
import { InvalidInputError } from '../../shared/errors';
import { kubeletVolumeSubdir, POD_UID, PV_NAME, type VolumeLocation } from '../../shared/volume-location';

/** Raised while a pod's volume is not (yet) mounted where the agent looks: retryable. */
export class VolumeNotMountedError extends Error {
  override name = 'VolumeNotMountedError';
}

/**
 * The kubelet's root directory for `node` as this agent sees it: TDR_KUBELET_ROOT (default
 * /var/lib/kubelet, the host's kubelet root mounted at the same path with mount propagation
 * HostToContainer). `{node}` and `{cluster}` in it are replaced, so one agent process can serve
 * several simulated nodes of the local stack.
 */
export function kubeletRootFor(cluster: string, node: string, template = process.env.TDR_KUBELET_ROOT ?? '/var/lib/kubelet'): string {
  return path.resolve(template.replace(/\{cluster\}/g, cluster).replace(/\{node\}/g, node));
}

/**
 * The directory holding a volume's files on this node: the pod's kubelet volume directory, found
 * by the PV's name under every volume plugin, as the kubelet lays it out (Velero's node agent does
 * the same). A hostPath/local PV's own directory is used when the kubelet has no pod directory for
 * it (hostPath volumes never get one). Components are validated, so nothing outside the kubelet
 * root or the host root can be named. `loc` must be what authorizeVolume returned (checked against
 * the API server, its host path the PV's own): this function only finds the directory.
 */
export async function resolveVolumeDir(loc: VolumeLocation, cluster: string, opts: { kubeletRoot?: string; hostRoot?: string } = {}): Promise<string> {
  if (!POD_UID.test(loc.podUid)) throw new InvalidInputError(`volume ${loc.claim}: pod uid "${loc.podUid}" is not a UUID`);
  if (!PV_NAME.test(loc.pvName)) throw new InvalidInputError(`volume ${loc.claim}: PV name "${loc.pvName}" is not a valid object name`);
  const root = opts.kubeletRoot ?? kubeletRootFor(cluster, loc.node);
  const podVolumes = path.join(root, 'pods', loc.podUid, 'volumes');
  const plugins = await fs.readdir(podVolumes).catch(() => [] as string[]);
  for (const plugin of plugins.sort()) {
    const dir = path.join(podVolumes, plugin, kubeletVolumeSubdir(plugin, loc.pvName));
    const st = await fs.stat(dir).catch(() => undefined);
    if (st?.isDirectory()) return fs.realpath(dir);
  }
  if (loc.hostPath) {
    const dir = volumeDirOnNode(loc.hostPath, opts.hostRoot);
    if ((await fs.stat(dir).catch(() => undefined))?.isDirectory()) return dir;
  }
  throw new VolumeNotMountedError(
    `volume ${loc.claim} (PV ${loc.pvName}) is not mounted by pod ${loc.podUid} on node ${loc.node}: nothing under ${podVolumes}` +
      (loc.hostPath ? ` and no directory at ${loc.hostPath}` : '') +
      `; the node agent must see the kubelet root (TDR_KUBELET_ROOT, now ${root}) with mount propagation`,
  );
}

/**
 * The directory on this node of a hostPath/local PV. A node agent runs with the host's filesystem
 * (or the PV's parent) mounted at TDR_HOST_ROOT (default `/`); the path may not escape it.
 */
export function volumeDirOnNode(hostPath: string, hostRoot = process.env.TDR_HOST_ROOT ?? '/'): string {
  if (!path.isAbsolute(hostPath)) throw new InvalidInputError(`volume path "${hostPath}" is not absolute`);
  const abs = path.resolve(hostRoot, '.' + path.normalize(hostPath));
  const root = path.resolve(hostRoot);
  const prefix = root.endsWith(path.sep) ? root : root + path.sep;
  if (abs !== root && !abs.startsWith(prefix)) throw new InvalidInputError(`volume path "${hostPath}" escapes the agent's host root ${root}`);
  return abs;
}
