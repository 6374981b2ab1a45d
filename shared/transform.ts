import { InvalidInputError } from './errors';
import { mapStorageClassInPlace } from './storage-class';
import { matchesAnyGlob } from './glob';
import { applyJsonPatch, applyMergePatch, JsonPatchError, type JsonPatchOperation } from './json-patch';
import { matchesAnyKindPattern } from './kind-pattern';
import { cloneJson, containersOf, formatRef, isObject, podSpecOf, type KubeObject } from './kube-object';
import { matchLabelSelector } from './label-selector';
import { actionOf, type ObjectMatch, type TransformRule } from './transform-rules';

export { parseTransformRules, type TransformRule } from './transform-rules';

type Json = Record<string, unknown>;

const SOURCE_METADATA_FIELDS = [
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'managedFields',
  'selfLink',
  // They name source UIDs; controllers re-adopt their children on the target.
  'ownerReferences',
];

const PVC_BINDING_ANNOTATIONS = [
  'pv.kubernetes.io/bind-completed',
  'pv.kubernetes.io/bound-by-controller',
  'volume.beta.kubernetes.io/storage-provisioner',
  'volume.kubernetes.io/storage-provisioner',
  'volume.kubernetes.io/selected-node',
];

const JOB_CONTROLLER_LABELS = ['controller-uid', 'batch.kubernetes.io/controller-uid'];

export interface StripOptions {
  /** Keep Service nodePorts (the target must have them free). */
  keepNodePorts?: boolean;
}

function deleteKeys(record: unknown, keys: readonly string[]): void {
  if (!isObject(record)) return;
  for (const key of keys) delete record[key];
}

/** Drops `labels`/`annotations`-style maps that became empty, so output equals what one would write. */
function dropIfEmpty(parent: Json, key: string): void {
  const value = parent[key];
  if (isObject(value) && Object.keys(value).length === 0) delete parent[key];
}

/**
 * Removes what the source cluster assigned (identity, status, bindings, allocated IPs and ports)
 * so the manifest can be created on another cluster. Returns null for objects that must not be
 * restored at all (service-account token Secrets: the target mints its own).
 */
export function stripClusterState(input: KubeObject, options: StripOptions = {}): KubeObject | null {
  if (input.kind === 'Secret' && input.apiVersion === 'v1' && input.type === 'kubernetes.io/service-account-token') return null;
  const obj = cloneJson(input);
  const metadata = obj.metadata as Json;
  deleteKeys(metadata, SOURCE_METADATA_FIELDS);
  if (metadata.generateName !== undefined && metadata.name) delete metadata.generateName;
  deleteKeys(metadata.annotations, ['kubectl.kubernetes.io/last-applied-configuration']);
  delete obj.status;
  const spec = isObject(obj.spec) ? obj.spec : undefined;

  switch (obj.kind) {
    case 'Service':
      if (spec) stripService(spec, options);
      break;
    case 'Pod':
      if (spec) {
        delete spec.nodeName;
        // Admission fills priority from priorityClassName and rejects a value that disagrees with it.
        delete spec.priority;
      }
      break;
    case 'PersistentVolume':
      if (spec) deleteKeys(spec.claimRef, ['uid', 'resourceVersion']);
      deleteKeys(metadata.annotations, ['pv.kubernetes.io/bound-by-controller']);
      break;
    case 'PersistentVolumeClaim':
      deleteKeys(metadata.annotations, PVC_BINDING_ANNOTATIONS);
      if (spec) delete spec.volumeName;
      break;
    case 'Job':
      if (spec) stripJobControllerLabels(spec);
      break;
    case 'ServiceAccount':
      // `<sa>-token-xxxxx` Secrets are minted per cluster and are not restored.
      if (Array.isArray(obj.secrets)) {
        const prefix = `${metadata.name as string}-token-`;
        obj.secrets = obj.secrets.filter((s) => !(isObject(s) && typeof s.name === 'string' && s.name.startsWith(prefix)));
        if ((obj.secrets as unknown[]).length === 0) delete obj.secrets;
      }
      break;
  }
  dropIfEmpty(metadata, 'annotations');
  dropIfEmpty(metadata, 'labels');
  return obj;
}

function stripService(spec: Json, options: StripOptions): void {
  if (spec.clusterIP !== 'None') {
    delete spec.clusterIP;
    delete spec.clusterIPs;
  }
  delete spec.healthCheckNodePort;
  if (!options.keepNodePorts && Array.isArray(spec.ports)) for (const port of spec.ports) deleteKeys(port, ['nodePort']);
}

function stripJobControllerLabels(spec: Json): void {
  const selector = spec.selector;
  if (isObject(selector)) {
    deleteKeys(selector.matchLabels, JOB_CONTROLLER_LABELS);
    if (isObject(selector.matchLabels)) dropIfEmpty(selector, 'matchLabels');
    if (Object.keys(selector).length === 0) delete spec.selector;
  }
  const template = spec.template;
  if (isObject(template) && isObject(template.metadata)) {
    deleteKeys(template.metadata.labels, JOB_CONTROLLER_LABELS);
    dropIfEmpty(template.metadata, 'labels');
  }
}

/** Whether a rule's match holds for an object (as it was in the backup). */
export function matchesObject(match: ObjectMatch | undefined, obj: KubeObject): boolean {
  if (!match) return true;
  if (match.kinds && !matchesAnyKindPattern(match.kinds, obj)) return false;
  if (match.names && !matchesAnyGlob(match.names, obj.metadata.name)) return false;
  if (match.namespaces && !matchesAnyGlob(match.namespaces, obj.metadata.namespace ?? '')) return false;
  if (match.labelSelector && !matchLabelSelector(obj.metadata.labels, match.labelSelector)) return false;
  return true;
}

export interface TransformResult {
  /** The manifest to apply on the target, or null when it must not be restored. */
  obj: KubeObject | null;
  /** One line per rule that changed the object, for the dry-run report. */
  applied: string[];
}

export interface TransformOptions extends StripOptions {
  /** Skip stripClusterState (the input is already stripped). */
  alreadyStripped?: boolean;
}

const ruleLabel = (rule: TransformRule, index: number): string =>
  `transforms[${index}]${rule.name ? ` ${rule.name}` : ''} (${actionOf(rule)})`;

/**
 * Turns a backed-up manifest into the one to apply on the target: strips cluster state, then runs
 * each rule whose match holds for the original object. A JSON Patch that cannot apply (other than
 * a failed `test`, which means "not this object") is an InvalidInputError naming rule and object.
 */
export function transformForTarget(original: KubeObject, rules: readonly TransformRule[], options: TransformOptions = {}): TransformResult {
  const stripped = options.alreadyStripped ? cloneJson(original) : stripClusterState(original, options);
  if (stripped === null) return { obj: null, applied: [] };
  let obj = stripped;
  const applied: string[] = [];
  rules.forEach((rule, index) => {
    if (!matchesObject(rule.match, original)) return;
    const before = JSON.stringify(obj);
    const where = formatRef({ kind: obj.kind, namespace: obj.metadata.namespace, name: obj.metadata.name });
    obj = applyRule(obj, rule, index);
    if (!isKubeObjectShape(obj)) {
      throw new InvalidInputError(`transform rule ${index} cannot apply to ${where}`, [
        `transforms[${index}]: leaves ${where} without apiVersion, kind or metadata.name; a rule may change an object but must keep those`,
      ]);
    }
    if (JSON.stringify(obj) !== before) applied.push(ruleLabel(rule, index));
  });
  return { obj, applied };
}

/** What every later rule and the apply step rely on: still a Kubernetes object with a name. */
const isKubeObjectShape = (o: unknown): o is KubeObject =>
  isObject(o) && typeof o.apiVersion === 'string' && typeof o.kind === 'string' && isObject(o.metadata) && typeof o.metadata.name === 'string' && o.metadata.name !== '';

function applyRule(obj: KubeObject, rule: TransformRule, index: number): KubeObject {
  if (rule.namespaceMapping) return mapNamespaces(obj, rule.namespaceMapping);
  if (rule.storageClassMapping) return mapStorageClasses(obj, rule.storageClassMapping);
  if (rule.imageRegistry) return rewriteImages(obj, rule.imageRegistry.from, rule.imageRegistry.to);
  if (rule.replicas !== undefined) return setReplicas(obj, rule.replicas);
  if (rule.labels) return editStringMap(obj, 'labels', rule.labels);
  if (rule.annotations) return editStringMap(obj, 'annotations', rule.annotations);
  if (rule.ingressHosts) return rewriteIngressHosts(obj, rule.ingressHosts);
  if (rule.jsonPatch) {
    try {
      return applyJsonPatch(obj, rule.jsonPatch as JsonPatchOperation[]);
    } catch (err) {
      if (err instanceof JsonPatchError && err.testFailed) return obj;
      const where = formatRef({ kind: obj.kind, namespace: obj.metadata.namespace, name: obj.metadata.name });
      throw new InvalidInputError(`transform rule ${index} cannot apply to ${where}`, [
        `transforms[${index}].jsonPatch[${(err as JsonPatchError).index}]: ${(err as Error).message} in ${where}; narrow match, or guard it with a test op`,
      ]);
    }
  }
  if (rule.mergePatch) return applyMergePatch(obj, rule.mergePatch) as KubeObject;
  return obj;
}

function mapNamespaces(input: KubeObject, mapping: Record<string, string>): KubeObject {
  const obj = cloneJson(input);
  const map = (ns: unknown) => (typeof ns === 'string' && Object.hasOwn(mapping, ns) ? mapping[ns] : ns);
  if (obj.metadata.namespace) obj.metadata.namespace = map(obj.metadata.namespace) as string;
  if (obj.kind === 'Namespace' && obj.apiVersion === 'v1') obj.metadata.name = map(obj.metadata.name) as string;
  if ((obj.kind === 'RoleBinding' || obj.kind === 'ClusterRoleBinding') && Array.isArray(obj.subjects)) {
    for (const subject of obj.subjects) if (isObject(subject) && subject.namespace !== undefined) subject.namespace = map(subject.namespace);
  }
  if (obj.kind === 'PersistentVolume' && isObject(obj.spec) && isObject(obj.spec.claimRef)) {
    obj.spec.claimRef.namespace = map(obj.spec.claimRef.namespace);
  }
  return obj;
}

function mapStorageClasses(input: KubeObject, mapping: Record<string, string>): KubeObject {
  const obj = cloneJson(input);
  if (obj.kind === 'PersistentVolumeClaim' || obj.kind === 'PersistentVolume') mapStorageClassInPlace(obj as never, mapping);
  const spec = obj.spec;
  if (obj.kind === 'StatefulSet' && isObject(spec) && Array.isArray(spec.volumeClaimTemplates)) {
    for (const template of spec.volumeClaimTemplates) if (isObject(template)) mapStorageClassInPlace(template as never, mapping);
  }
  return obj;
}

function rewriteImages(input: KubeObject, from: string, to: string): KubeObject {
  const obj = cloneJson(input);
  const podSpec = podSpecOf(obj);
  if (!podSpec) return obj;
  for (const container of containersOf(podSpec)) {
    if (typeof container.image === 'string' && container.image.startsWith(from)) container.image = to + container.image.slice(from.length);
  }
  return obj;
}

const SCALABLE_KINDS = new Set(['Deployment', 'StatefulSet', 'ReplicaSet']);

function setReplicas(input: KubeObject, replicas: number): KubeObject {
  if (!SCALABLE_KINDS.has(input.kind) || !isObject(input.spec)) return input;
  const obj = cloneJson(input);
  (obj.spec as Json).replicas = replicas;
  return obj;
}

function editStringMap(input: KubeObject, field: 'labels' | 'annotations', edit: { add?: Record<string, string>; remove?: string[] }): KubeObject {
  const obj = cloneJson(input);
  const current: Record<string, string> = { ...(obj.metadata[field] ?? {}) };
  for (const key of edit.remove ?? []) delete current[key];
  Object.assign(current, edit.add ?? {});
  if (Object.keys(current).length > 0) obj.metadata[field] = current;
  else delete obj.metadata[field];
  return obj;
}

function rewriteIngressHosts(input: KubeObject, hosts: { map?: Record<string, string>; suffix?: { from: string; to: string } }): KubeObject {
  if (input.kind !== 'Ingress' || !isObject(input.spec)) return input;
  const obj = cloneJson(input);
  const spec = obj.spec as Json;
  const rewrite = (host: unknown): unknown => {
    if (typeof host !== 'string') return host;
    if (hosts.map && Object.hasOwn(hosts.map, host)) return hosts.map[host];
    if (hosts.suffix && host.endsWith(hosts.suffix.from)) return host.slice(0, host.length - hosts.suffix.from.length) + hosts.suffix.to;
    return host;
  };
  if (Array.isArray(spec.rules)) for (const rule of spec.rules) if (isObject(rule) && rule.host !== undefined) rule.host = rewrite(rule.host);
  if (Array.isArray(spec.tls)) for (const tls of spec.tls) if (isObject(tls) && Array.isArray(tls.hosts)) tls.hosts = tls.hosts.map(rewrite);
  return obj;
}
