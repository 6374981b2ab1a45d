import path from 'node:path';
import { InvalidInputError } from '../../shared/errors';

/**
 * The directory on this node that holds a volume's data. A node agent runs with the host's
 * filesystem mounted at TDR_HOST_ROOT (default `/`, as a DaemonSet with a hostPath mount of `/`);
 * the PV's hostPath/local path is resolved under it and may not escape it.
 */
export function volumeDirOnNode(hostPath: string, hostRoot = process.env.TDR_HOST_ROOT ?? '/'): string {
  if (!path.isAbsolute(hostPath)) {
    throw new InvalidInputError(`volume path "${hostPath}" is not absolute; only hostPath/local PersistentVolumes can be copied by node agents`);
  }
  const abs = path.resolve(hostRoot, '.' + path.normalize(hostPath));
  const root = path.resolve(hostRoot);
  const prefix = root.endsWith(path.sep) ? root : root + path.sep;
  if (abs !== root && !abs.startsWith(prefix)) {
    throw new InvalidInputError(`volume path "${hostPath}" escapes the agent's host root ${root}`);
  }
  return abs;
}
