import { containersOf, groupOf, guessResource, isObject, podSpecOf, refKey, type KubeObject, type ObjectRef } from './kube-object';
import { storageClassOf } from './storage-class';

/** What a workload's pod template needs to exist before its pods can start. */
export interface PodSpecReferences {
  /** The ServiceAccount the pods run as (`default` when the spec names none). */
  serviceAccount: string;
  configMaps: string[];
  secrets: string[];
  persistentVolumeClaims: string[];
  priorityClass?: string;
  /** Every container image, init and ephemeral containers included, in spec order. */
  images: string[];
}

const names = (values: Iterable<unknown>): string[] =>
  [...new Set([...values].filter((v): v is string => typeof v === 'string' && v.length > 0))].sort();

const asList = (v: unknown): Record<string, unknown>[] => (Array.isArray(v) ? v.filter(isObject) : []);
const field = (v: unknown, ...path: string[]): unknown => path.reduce<unknown>((node, key) => (isObject(node) ? node[key] : undefined), v);

/**
 * The objects a workload's pod template references, by name in the workload's namespace.
 * Returns undefined for kinds without a pod template. StatefulSet claim templates yield the PVC
 * names the controller creates (`<template>-<statefulset>-<ordinal>`).
 */
export function podSpecReferences(obj: KubeObject): PodSpecReferences | undefined {
  const podSpec = podSpecOf(obj);
  if (!podSpec) return undefined;
  const configMaps: unknown[] = [];
  const secrets: unknown[] = [];
  const claims: unknown[] = [];

  for (const volume of asList(podSpec.volumes)) {
    configMaps.push(field(volume, 'configMap', 'name'));
    secrets.push(field(volume, 'secret', 'secretName'), field(volume, 'csi', 'nodePublishSecretRef', 'name'));
    claims.push(field(volume, 'persistentVolumeClaim', 'claimName'));
    for (const source of asList(field(volume, 'projected', 'sources'))) {
      configMaps.push(field(source, 'configMap', 'name'));
      secrets.push(field(source, 'secret', 'name'));
    }
  }
  for (const container of containersOf(podSpec)) {
    for (const from of asList(container.envFrom)) {
      configMaps.push(field(from, 'configMapRef', 'name'));
      secrets.push(field(from, 'secretRef', 'name'));
    }
    for (const env of asList(container.env)) {
      configMaps.push(field(env, 'valueFrom', 'configMapKeyRef', 'name'));
      secrets.push(field(env, 'valueFrom', 'secretKeyRef', 'name'));
    }
  }
  for (const pullSecret of asList(podSpec.imagePullSecrets)) secrets.push(pullSecret.name);

  if (obj.kind === 'StatefulSet' && isObject(obj.spec)) {
    const replicas = typeof obj.spec.replicas === 'number' ? obj.spec.replicas : 1;
    for (const template of asList(obj.spec.volumeClaimTemplates)) {
      const templateName = field(template, 'metadata', 'name');
      for (let ordinal = 0; ordinal < replicas; ordinal++) claims.push(`${String(templateName)}-${obj.metadata.name}-${ordinal}`);
    }
  }

  const serviceAccount = podSpec.serviceAccountName ?? podSpec.serviceAccount;
  const refs: PodSpecReferences = {
    serviceAccount: typeof serviceAccount === 'string' && serviceAccount ? serviceAccount : 'default',
    configMaps: names(configMaps),
    secrets: names(secrets),
    persistentVolumeClaims: names(claims),
    images: [...new Set(containersOf(podSpec).map((c) => c.image).filter((i): i is string => typeof i === 'string'))],
  };
  if (typeof podSpec.priorityClassName === 'string' && podSpec.priorityClassName) refs.priorityClass = podSpec.priorityClassName;
  return refs;
}

const RBAC = 'rbac.authorization.k8s.io/v1';

/**
 * Every object this one depends on that discovery can see from its manifest: pod template
 * references, RBAC roles and subjects, PVC <-> PV <-> StorageClass, Ingress backends and TLS
 * Secrets, HPA targets. Used to pull referenced objects into a backup and to order a restore.
 */
export function objectReferences(obj: KubeObject): ObjectRef[] {
  const ns = obj.metadata.namespace;
  const out: ObjectRef[] = [];
  const add = (apiVersion: string, kind: string, name: unknown, namespace?: string) => {
    if (typeof name === 'string' && name) out.push(namespace ? { apiVersion, kind, namespace, name } : { apiVersion, kind, name });
  };
  const pod = podSpecReferences(obj);
  if (pod && ns) {
    // The `default` ServiceAccount exists in every namespace, so it orders nothing.
    if (pod.serviceAccount !== 'default') add('v1', 'ServiceAccount', pod.serviceAccount, ns);
    pod.configMaps.forEach((n) => add('v1', 'ConfigMap', n, ns));
    pod.secrets.forEach((n) => add('v1', 'Secret', n, ns));
    pod.persistentVolumeClaims.forEach((n) => add('v1', 'PersistentVolumeClaim', n, ns));
    add('scheduling.k8s.io/v1', 'PriorityClass', pod.priorityClass);
  }
  const spec = isObject(obj.spec) ? obj.spec : {};
  switch (obj.kind) {
    case 'RoleBinding':
    case 'ClusterRoleBinding': {
      const roleKind = field(obj, 'roleRef', 'kind');
      if (roleKind === 'ClusterRole') add(RBAC, 'ClusterRole', field(obj, 'roleRef', 'name'));
      if (roleKind === 'Role' && ns) add(RBAC, 'Role', field(obj, 'roleRef', 'name'), ns);
      for (const subject of asList(obj.subjects))
        if (subject.kind === 'ServiceAccount' && typeof subject.namespace === 'string') add('v1', 'ServiceAccount', subject.name, subject.namespace);
      break;
    }
    case 'PersistentVolumeClaim':
      add('storage.k8s.io/v1', 'StorageClass', storageClassOf(obj as never));
      add('v1', 'PersistentVolume', spec.volumeName);
      break;
    case 'PersistentVolume':
      add('storage.k8s.io/v1', 'StorageClass', storageClassOf(obj as never));
      break;
    case 'StatefulSet':
      for (const template of asList(spec.volumeClaimTemplates)) add('storage.k8s.io/v1', 'StorageClass', storageClassOf(template as never));
      break;
    case 'Ingress':
      if (!ns) break;
      add('v1', 'Service', field(spec, 'defaultBackend', 'service', 'name'), ns);
      for (const rule of asList(spec.rules))
        for (const path of asList(field(rule, 'http', 'paths'))) add('v1', 'Service', field(path, 'backend', 'service', 'name'), ns);
      for (const tls of asList(spec.tls)) add('v1', 'Secret', tls.secretName, ns);
      break;
    case 'HorizontalPodAutoscaler': {
      const target = spec.scaleTargetRef;
      if (isObject(target) && ns) add(String(target.apiVersion ?? 'apps/v1'), String(target.kind), target.name, ns);
      break;
    }
    case 'Secret':
      if (ns) add('v1', 'ServiceAccount', obj.metadata.annotations?.['kubernetes.io/service-account.name'], ns);
      break;
  }
  // A custom resource needs its definition.
  const group = groupOf(obj.apiVersion);
  if (group && !BUILT_IN_GROUPS.has(group)) add('apiextensions.k8s.io/v1', 'CustomResourceDefinition', `${guessResource(obj.kind)}.${group}`);
  return dedupe(out);
}

function dedupe(refs: ObjectRef[]): ObjectRef[] {
  const seen = new Set<string>();
  return refs.filter((r) => {
    const key = refKey(r);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** API groups served by kube-apiserver itself; any other group belongs to a CRD or an aggregated API. */
export const BUILT_IN_GROUPS = new Set([
  '',
  'apps',
  'batch',
  'autoscaling',
  'policy',
  'networking.k8s.io',
  'rbac.authorization.k8s.io',
  'storage.k8s.io',
  'scheduling.k8s.io',
  'apiextensions.k8s.io',
  'coordination.k8s.io',
  'discovery.k8s.io',
  'events.k8s.io',
  'admissionregistration.k8s.io',
  'certificates.k8s.io',
  'node.k8s.io',
  'flowcontrol.apiserver.k8s.io',
  'apiregistration.k8s.io',
  'resource.k8s.io',
  'storagemigration.k8s.io',
  'internal.apiserver.k8s.io',
  'authentication.k8s.io',
  'authorization.k8s.io',
]);
