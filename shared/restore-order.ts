import { groupOf, refKey, refOf, type KubeObject, type ObjectRef } from './kube-object';
import { BUILT_IN_GROUPS, objectReferences } from './references';

export { podSpecReferences, objectReferences, type PodSpecReferences } from './references';

interface PhaseRule {
  phase: string;
  /** `group/Kind`, `` for the core group. */
  kinds: string[];
  reason: string;
}

/** The fixed part of the order; each entry's reason says which later objects need it. */
const PHASE_RULES: PhaseRule[] = [
  { phase: 'crds', kinds: ['apiextensions.k8s.io/CustomResourceDefinition'], reason: 'CRDs first: their custom resources cannot be created before they are established' },
  { phase: 'namespaces', kinds: ['/Namespace'], reason: 'namespaces hold everything namespaced' },
  {
    phase: 'cluster-classes',
    kinds: ['storage.k8s.io/StorageClass', 'scheduling.k8s.io/PriorityClass'],
    reason: 'storage and priority classes are named by PVCs and pods, which admission checks',
  },
  { phase: 'service-accounts', kinds: ['/ServiceAccount'], reason: 'service accounts before the bindings and pods that name them' },
  { phase: 'roles', kinds: ['rbac.authorization.k8s.io/ClusterRole', 'rbac.authorization.k8s.io/Role'], reason: 'roles before the bindings that grant them' },
  {
    phase: 'role-bindings',
    kinds: ['rbac.authorization.k8s.io/ClusterRoleBinding', 'rbac.authorization.k8s.io/RoleBinding'],
    reason: 'bindings before workloads, so pods start with their permissions',
  },
  { phase: 'config', kinds: ['/Secret', '/ConfigMap'], reason: 'secrets and config maps before the pods that mount or read them' },
  { phase: 'policies', kinds: ['/LimitRange', '/ResourceQuota'], reason: 'limits and quotas before pods, which admission checks against them' },
  { phase: 'persistent-volumes', kinds: ['/PersistentVolume'], reason: 'volumes before the claims that bind them' },
  { phase: 'persistent-volume-claims', kinds: ['/PersistentVolumeClaim'], reason: 'claims and their data before the workloads that mount them' },
  // Before workloads: pods get *_SERVICE_HOST/PORT variables only for Services that exist when they start.
  { phase: 'services', kinds: ['/Service', '/Endpoints', 'discovery.k8s.io/EndpointSlice'], reason: 'services before the workloads, whose pods read their addresses at start' },
  {
    phase: 'workloads',
    kinds: ['apps/Deployment', 'apps/StatefulSet', 'apps/DaemonSet', 'apps/ReplicaSet', 'batch/Job', 'batch/CronJob', '/Pod'],
    reason: 'workloads once their config, identity and volumes exist',
  },
  { phase: 'ingresses', kinds: ['networking.k8s.io/Ingress'], reason: 'ingresses after the services they route to' },
  { phase: 'network-policies', kinds: ['networking.k8s.io/NetworkPolicy'], reason: 'network policies once the pods they select exist' },
  {
    phase: 'autoscaling',
    kinds: ['autoscaling/HorizontalPodAutoscaler', 'policy/PodDisruptionBudget'],
    reason: 'autoscalers and disruption budgets after the workloads they govern',
  },
];

const OTHER_PHASE = { phase: 'other', reason: 'kind with no known dependencies: after every known kind' };
const CUSTOM_PHASE = { phase: 'custom-resources', reason: 'custom resources last: operators may act on them at once and expect the rest in place' };

export const RESTORE_PHASES = [...PHASE_RULES.map((r) => r.phase), OTHER_PHASE.phase, CUSTOM_PHASE.phase];

export interface OrderedObject {
  ref: ObjectRef;
  reason: string;
}

/** Objects that can be applied concurrently; a wave starts when the one before it is done. */
export interface RestoreWave {
  phase: string;
  objects: OrderedObject[];
  /** CRD wave: wait until every CRD is Established and its kind is served before the next wave. */
  waitUntilEstablished?: true;
  /** PVC wave: restore each claim's volume data before the next wave (workloads) starts. */
  restoresVolumeData?: true;
}

const kindKey = (obj: { apiVersion: string; kind: string }) => `${groupOf(obj.apiVersion)}/${obj.kind}`;

function phaseOf(obj: KubeObject, crdKinds: Set<string>): { index: number; reason: string } {
  const key = kindKey(obj);
  const ruleIndex = PHASE_RULES.findIndex((r) => r.kinds.includes(key));
  if (ruleIndex >= 0) return { index: ruleIndex, reason: PHASE_RULES[ruleIndex].reason };
  if (crdKinds.has(key) || !BUILT_IN_GROUPS.has(groupOf(obj.apiVersion))) return { index: PHASE_RULES.length + 1, reason: CUSTOM_PHASE.reason };
  return { index: PHASE_RULES.length, reason: OTHER_PHASE.reason };
}

/** `group/Kind` of every CRD in the set, so their instances count as custom resources. */
function definedKinds(objects: readonly KubeObject[]): Set<string> {
  const kinds = new Set<string>();
  for (const obj of objects) {
    if (obj.kind !== 'CustomResourceDefinition') continue;
    const spec = obj.spec as { group?: string; names?: { kind?: string } } | undefined;
    if (spec?.group && spec.names?.kind) kinds.add(`${spec.group}/${spec.names.kind}`);
  }
  return kinds;
}

const compareRefs = (a: ObjectRef, b: ObjectRef): number =>
  a.kind.localeCompare(b.kind) || (a.namespace ?? '').localeCompare(b.namespace ?? '') || a.name.localeCompare(b.name);

const describe = (ref: ObjectRef) => `${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}`;

/**
 * Orders objects for restore: phases by kind, then, inside a phase, references discovered in the
 * manifests (a workload after the ConfigMaps, Secrets, PVCs and ServiceAccount it names, even
 * when they share a phase). References to objects outside the set are ignored: they either exist
 * on the target or preflight reports them. A reference cycle is applied as one wave.
 */
export function planRestoreOrder(objects: readonly KubeObject[]): RestoreWave[] {
  const crdKinds = definedKinds(objects);
  const byPhase = new Map<number, { obj: KubeObject; reason: string }[]>();
  for (const obj of objects) {
    const { index, reason } = phaseOf(obj, crdKinds);
    if (!byPhase.has(index)) byPhase.set(index, []);
    byPhase.get(index)!.push({ obj, reason });
  }
  const waves: RestoreWave[] = [];
  for (const index of [...byPhase.keys()].sort((a, b) => a - b)) {
    const phase = index < PHASE_RULES.length ? PHASE_RULES[index].phase : index === PHASE_RULES.length ? OTHER_PHASE.phase : CUSTOM_PHASE.phase;
    for (const objectsInWave of layerByReferences(byPhase.get(index)!)) {
      const wave: RestoreWave = { phase, objects: objectsInWave };
      if (phase === 'crds') wave.waitUntilEstablished = true;
      if (phase === 'persistent-volume-claims') wave.restoresVolumeData = true;
      waves.push(wave);
    }
  }
  return waves;
}

function layerByReferences(members: { obj: KubeObject; reason: string }[]): OrderedObject[][] {
  const keys = new Map(members.map((m) => [refKey(refOf(m.obj)), m]));
  const dependsOn = new Map<string, ObjectRef[]>();
  for (const [key, { obj }] of keys) {
    dependsOn.set(key, objectReferences(obj).filter((r) => keys.has(refKey(r)) && refKey(r) !== key));
  }
  const layers: OrderedObject[][] = [];
  const placed = new Set<string>();
  while (placed.size < keys.size) {
    let ready = [...keys.keys()].filter((k) => !placed.has(k) && dependsOn.get(k)!.every((d) => placed.has(refKey(d))));
    const cycle = ready.length === 0;
    if (cycle) ready = [...keys.keys()].filter((k) => !placed.has(k));
    const layer = ready.map((k) => {
      const { obj, reason } = keys.get(k)!;
      const deps = dependsOn.get(k)!;
      let why = reason;
      if (cycle) why += '; in a reference cycle, applied together';
      else if (deps.length) why += `; after ${deps.map(describe).join(', ')} it references`;
      return { ref: refOf(obj), reason: why };
    });
    ready.forEach((k) => placed.add(k));
    layers.push(layer.sort((a, b) => compareRefs(a.ref, b.ref)));
  }
  return layers;
}
