import type { KubeObject } from './kube-object';
import { storageClassOf } from './storage-class';
import { groupOf } from './kube-object';

/** A ResourceQuota as preflight sees it: hard limits and, for one that exists, what is used. */
export interface QuotaState {
  namespace: string;
  name: string;
  hard: Record<string, string>;
  used: Record<string, string>;
}

const UNITS: Record<string, number> = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, m: 1e-3 };

/** Parses a Kubernetes quantity (`10Gi`, `500M`, `3`) into a number. */
export function parseQuantity(q: string | undefined): number {
  if (!q) return 0;
  const m = /^([0-9.]+)([A-Za-z]*)$/.exec(q.trim());
  if (!m) return Number.NaN;
  return Number(m[1]) * (m[2] ? UNITS[m[2]] ?? Number.NaN : 1);
}

const COUNTED: Record<string, string> = {
  '/PersistentVolumeClaim': 'persistentvolumeclaims',
  '/Service': 'services',
  '/ConfigMap': 'configmaps',
  '/Secret': 'secrets',
  '/ReplicationController': 'replicationcontrollers',
};

/**
 * What the new objects of a restore need from each namespace's quotas, checked against what the
 * quotas still allow. Returns one line per quota key that would be exceeded.
 */
export function quotaProblems(newObjects: { obj: KubeObject; resource: string }[], quotas: QuotaState[]): string[] {
  const problems: string[] = [];
  for (const q of quotas) {
    const need = new Map<string, number>();
    const add = (key: string, n: number) => need.set(key, (need.get(key) ?? 0) + n);
    for (const { obj, resource } of newObjects) {
      if (obj.metadata.namespace !== q.namespace) continue;
      const gk = `${groupOf(obj.apiVersion)}/${obj.kind}`;
      if (COUNTED[gk]) add(COUNTED[gk], 1);
      const group = groupOf(obj.apiVersion);
      add(`count/${resource}${group ? '.' + group : ''}`, 1);
      if (obj.kind === 'PersistentVolumeClaim') {
        const spec = obj.spec as { storageClassName?: string; resources?: { requests?: { storage?: string } } } | undefined;
        const bytes = parseQuantity(spec?.resources?.requests?.storage);
        add('requests.storage', bytes);
        const sc = storageClassOf(obj as never);
        if (sc) {
          add(`${sc}.storageclass.storage.k8s.io/requests.storage`, bytes);
          add(`${sc}.storageclass.storage.k8s.io/persistentvolumeclaims`, 1);
        }
      }
    }
    for (const [key, n] of need) {
      if (!(key in q.hard) || n === 0) continue;
      const left = parseQuantity(q.hard[key]) - parseQuantity(q.used[key]);
      if (n > left) {
        problems.push(`ResourceQuota ${q.namespace}/${q.name}: ${key} allows ${q.hard[key]} (used ${q.used[key] ?? '0'}) but the restore needs ${key.includes('storage') && !key.endsWith('claims') ? formatBytes(n) : n} more; raise the quota or restore fewer objects`);
      }
    }
  }
  return problems;
}

const formatBytes = (n: number) => (n >= 2 ** 30 ? `${(n / 2 ** 30).toFixed(1)}Gi` : n >= 2 ** 20 ? `${(n / 2 ** 20).toFixed(1)}Mi` : `${n}`);
