import { isObject, podSpecOf, type KubeObject } from './kube-object';
import { matchLabelSelector, type LabelSelector } from './label-selector';

/** Label shared by the helper pods that stand in for the pods of one workload. */
export const HELPER_GROUP_LABEL = 'temporal-dr.io/helper-group';

/**
 * Scheduling constraints for the helper pod that binds a claim before its workload exists, so the
 * volume is provisioned where the workload's pod can run: the pod template's node selector,
 * tolerations and node affinity as they are, and its pod (anti-)affinity and topology spread
 * rewritten to apply among the helpers of the same workload (the workload's own pods do not
 * exist yet). A StatefulSet whose replicas must be on different nodes gets its volumes on
 * different nodes.
 */
export interface HelperPlacement {
  labels: Record<string, string>;
  nodeSelector?: Record<string, string>;
  tolerations?: unknown[];
  affinity?: Record<string, unknown>;
  topologySpreadConstraints?: unknown[];
}

interface AffinityTerm {
  labelSelector?: LabelSelector;
  namespaces?: string[];
  namespaceSelector?: unknown;
  topologyKey: string;
  matchLabelKeys?: string[];
  mismatchLabelKeys?: string[];
}

/** The workload (already transformed for the target) whose pods will mount `namespace/pvc`. */
export function consumerOf(objects: KubeObject[], namespace: string, pvc: string): KubeObject | undefined {
  for (const o of objects) {
    if (o.metadata.namespace !== namespace) continue;
    if (o.kind === 'StatefulSet' && isObject(o.spec)) {
      const templates = Array.isArray(o.spec.volumeClaimTemplates) ? o.spec.volumeClaimTemplates : [];
      for (const t of templates) {
        const name = isObject(t) && isObject(t.metadata) ? t.metadata.name : undefined;
        if (typeof name === 'string' && new RegExp(`^${escapeRegExp(`${name}-${o.metadata.name}-`)}\\d+$`).test(pvc)) return o;
      }
    }
    const spec = podSpecOf(o);
    const volumes = spec && Array.isArray(spec.volumes) ? spec.volumes : [];
    if (volumes.some((v) => isObject(v) && isObject(v.persistentVolumeClaim) && v.persistentVolumeClaim.claimName === pvc)) return o;
  }
  return undefined;
}

export function helperPlacementFor(objects: KubeObject[], namespace: string, pvc: string): HelperPlacement | undefined {
  const workload = consumerOf(objects, namespace, pvc);
  if (!workload) return undefined;
  const spec = podSpecOf(workload)!;
  const template = isObject(workload.spec) && isObject(workload.spec.template) && isObject(workload.spec.template.metadata) ? workload.spec.template.metadata : {};
  const ownLabels = (isObject(template.labels) ? template.labels : workload.kind === 'Pod' ? workload.metadata.labels : {}) as Record<string, string>;
  const group = `${workload.kind.toLowerCase()}-${fnv1a(`${namespace}/${workload.kind}/${workload.metadata.name}`)}`;
  const ownTerm = (t: AffinityTerm): AffinityTerm | undefined => {
    const sameNamespace = !t.namespaceSelector && (!t.namespaces?.length || t.namespaces.includes(namespace));
    if (!sameNamespace || !t.labelSelector || !matchLabelSelector(ownLabels, t.labelSelector)) return undefined;
    return { labelSelector: { matchLabels: { [HELPER_GROUP_LABEL]: group } }, topologyKey: t.topologyKey };
  };
  const podTerms = (a: unknown): Record<string, unknown> | undefined => {
    if (!isObject(a)) return undefined;
    const required = (Array.isArray(a.requiredDuringSchedulingIgnoredDuringExecution) ? a.requiredDuringSchedulingIgnoredDuringExecution : [])
      .map((t) => ownTerm(t as AffinityTerm))
      .filter(Boolean);
    const preferred = (Array.isArray(a.preferredDuringSchedulingIgnoredDuringExecution) ? a.preferredDuringSchedulingIgnoredDuringExecution : []).flatMap((p) => {
      const term = isObject(p) ? ownTerm(p.podAffinityTerm as AffinityTerm) : undefined;
      return term ? [{ weight: (p as { weight: number }).weight, podAffinityTerm: term }] : [];
    });
    if (!required.length && !preferred.length) return undefined;
    return {
      ...(required.length ? { requiredDuringSchedulingIgnoredDuringExecution: required } : {}),
      ...(preferred.length ? { preferredDuringSchedulingIgnoredDuringExecution: preferred } : {}),
    };
  };
  const a = isObject(spec.affinity) ? spec.affinity : {};
  const affinity = {
    ...(isObject(a.nodeAffinity) ? { nodeAffinity: a.nodeAffinity } : {}),
    ...(podTerms(a.podAffinity) ? { podAffinity: podTerms(a.podAffinity) } : {}),
    ...(podTerms(a.podAntiAffinity) ? { podAntiAffinity: podTerms(a.podAntiAffinity) } : {}),
  };
  const spread = (Array.isArray(spec.topologySpreadConstraints) ? spec.topologySpreadConstraints : []).flatMap((c) => {
    if (!isObject(c) || !matchLabelSelector(ownLabels, c.labelSelector as LabelSelector)) return [];
    const { matchLabelKeys: _keys, labelSelector: _selector, ...rest } = c;
    return [{ ...rest, labelSelector: { matchLabels: { [HELPER_GROUP_LABEL]: group } } }];
  });
  return {
    labels: { [HELPER_GROUP_LABEL]: group },
    ...(isObject(spec.nodeSelector) ? { nodeSelector: spec.nodeSelector as Record<string, string> } : {}),
    ...(Array.isArray(spec.tolerations) && spec.tolerations.length ? { tolerations: spec.tolerations } : {}),
    ...(Object.keys(affinity).length ? { affinity } : {}),
    ...(spread.length ? { topologySpreadConstraints: spread } : {}),
  };
}

/** A short stable hash for label values (names can be longer than a label allows). */
function fnv1a(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return (h >>> 0).toString(16).padStart(8, '0');
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
