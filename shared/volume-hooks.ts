import type { ResolvedHook } from './hook-presets';
import { containerPathToVolume, type HookTarget } from './hooks';

/** What the copy of one PVC must do because of the hooks of the pods that mount it. */
export interface VolumeHookPlan {
  exclude: string[];
  recopy: string[];
  artifacts: { hook: string; pod: string; containerPath: string; path: string }[];
  needsFinalize: boolean;
}

/** Maps the hooks' container paths (excludes, re-copies, artifacts) to the PVCs mounted at them. */
export function planVolumeHooks(targets: { hook: ResolvedHook; targets: HookTarget[] }[], volumes: { namespace: string; pvc: string }[]): Map<string, VolumeHookPlan> {
  const plans = new Map<string, VolumeHookPlan>();
  const get = (ns: string, pvc: string) => {
    const key = `${ns}/${pvc}`;
    if (!plans.has(key)) plans.set(key, { exclude: [], recopy: [], artifacts: [], needsFinalize: false });
    return plans.get(key)!;
  };
  for (const { hook, targets: ts } of targets) {
    for (const t of ts) {
      for (const p of hook.excludePaths) {
        const m = containerPathToVolume(t, p);
        if (m) get(t.namespace, m.pvc).exclude.push(m.path);
      }
      for (const p of hook.recopyAfterPost) {
        const m = containerPathToVolume(t, p);
        if (m) {
          const vp = get(t.namespace, m.pvc);
          vp.recopy.push(m.path);
          vp.needsFinalize = true;
        }
      }
      for (const a of hook.artifacts) {
        const m = containerPathToVolume(t, a.path);
        if (m) {
          const vp = get(t.namespace, m.pvc);
          vp.artifacts.push({ hook: hook.name, pod: t.pod, containerPath: a.path, path: m.path });
          vp.needsFinalize = true;
        }
      }
    }
  }
  for (const key of [...plans.keys()]) if (!volumes.some((v) => `${v.namespace}/${v.pvc}` === key)) plans.delete(key);
  return plans;
}

