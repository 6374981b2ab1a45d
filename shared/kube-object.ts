/** A Kubernetes object as plain JSON, the way manifests travel through backup and restore. */
export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: KubeMetadata;
  [field: string]: unknown;
}

export interface KubeMetadata {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  [field: string]: unknown;
}

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid?: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** Identifies one object; `namespace` is absent for cluster-scoped objects. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  namespace?: string;
  name: string;
}

/** The API group of an apiVersion: `apps/v1` -> `apps`, `v1` -> `` (core). */
export const groupOf = (apiVersion: string): string => (apiVersion.includes('/') ? apiVersion.split('/')[0] : '');

export const refOf = (obj: KubeObject): ObjectRef => {
  const ref: ObjectRef = { apiVersion: obj.apiVersion, kind: obj.kind, name: obj.metadata.name };
  if (obj.metadata.namespace) ref.namespace = obj.metadata.namespace;
  return ref;
};

/** `Deployment shop/web`, `apps/Deployment` style kinds stay readable in reports. */
export const formatRef = (ref: { kind: string; namespace?: string; name: string }): string =>
  `${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}`;

/** Stable identity for maps and sets: group, kind, namespace and name. */
export const refKey = (ref: { apiVersion: string; kind: string; namespace?: string; name: string }): string =>
  `${groupOf(ref.apiVersion)}/${ref.kind}/${ref.namespace ?? ''}/${ref.name}`;

export const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Deep copy of JSON data by a JSON round trip, which behaves the same in the workflow sandbox. */
export const cloneJson = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

const IRREGULAR_PLURALS: Record<string, string> = { endpoints: 'endpoints' };

/**
 * The resource (plural) name of a kind, the way the API server names it for nearly every kind.
 * Discovery knows the real plural; this is for matching when only the manifest is at hand.
 */
export function guessResource(kind: string): string {
  const lower = kind.toLowerCase();
  if (IRREGULAR_PLURALS[lower]) return IRREGULAR_PLURALS[lower];
  if (/(s|x|z|ch|sh)$/.test(lower)) return `${lower}es`;
  if (/[^aeiou]y$/.test(lower)) return `${lower.slice(0, -1)}ies`;
  return `${lower}s`;
}

/** Kinds of the built-in API that are cluster-scoped (custom resources say so in their CRD). */
export const CLUSTER_SCOPED_KINDS = new Set([
  'Namespace',
  'Node',
  'PersistentVolume',
  'StorageClass',
  'PriorityClass',
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'IngressClass',
  'RuntimeClass',
  'CSIDriver',
  'CSINode',
  'VolumeAttachment',
  'MutatingWebhookConfiguration',
  'ValidatingWebhookConfiguration',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
  'APIService',
  'CertificateSigningRequest',
  'VolumeSnapshotClass',
  'VolumeSnapshotContent',
]);

/** The workload kinds whose pod template the product reads (images, references, replicas). */
export const POD_TEMPLATE_KINDS = ['Pod', 'Deployment', 'StatefulSet', 'DaemonSet', 'ReplicaSet', 'Job', 'CronJob'] as const;

/** The pod spec inside a workload (Pod, template, or CronJob's job template); undefined for other kinds. */
export function podSpecOf(obj: KubeObject): Record<string, unknown> | undefined {
  const spec = obj.spec;
  if (!isObject(spec)) return undefined;
  switch (obj.kind) {
    case 'Pod':
      return spec;
    case 'Deployment':
    case 'StatefulSet':
    case 'DaemonSet':
    case 'ReplicaSet':
    case 'Job': {
      const template = spec.template;
      return isObject(template) && isObject(template.spec) ? template.spec : undefined;
    }
    case 'CronJob': {
      const jobTemplate = spec.jobTemplate;
      if (!isObject(jobTemplate) || !isObject(jobTemplate.spec)) return undefined;
      const template = jobTemplate.spec.template;
      return isObject(template) && isObject(template.spec) ? template.spec : undefined;
    }
    default:
      return undefined;
  }
}

/** Every container list of a pod spec: containers, initContainers and ephemeralContainers. */
export function containersOf(podSpec: Record<string, unknown>): Record<string, unknown>[] {
  return (['initContainers', 'containers', 'ephemeralContainers'] as const).flatMap((field) => {
    const list = podSpec[field];
    return Array.isArray(list) ? list.filter(isObject) : [];
  });
}

/** The largest object etcd stores by default (its --max-request-bytes, 1.5 MiB): the API server rejects a bigger one. */
export const MAX_OBJECT_BYTES = 1.5 * 1024 * 1024;

/** Why `obj` cannot be stored as it is, or undefined: checked before a restore changes anything. */
export function oversizeProblem(obj: KubeObject, maxBytes = MAX_OBJECT_BYTES): string | undefined {
  const bytes = new TextEncoder().encode(JSON.stringify(obj)).length;
  if (bytes <= maxBytes) return undefined;
  return `${formatRef({ kind: obj.kind, namespace: obj.metadata.namespace, name: obj.metadata.name })} is ${bytes} bytes after transforms, over the ${maxBytes} bytes etcd stores per object by default; shrink it with a transform (or exclude it), or raise the target etcd's --max-request-bytes`;
}
