import type { KubeObject } from '../../../shared/kube-object';

/** Real-looking manifests as read back from an API server (with the state it adds). */

const sourceMeta = {
  uid: 'b1946ac9-2b5c-4b8e-9f6b-3c1f0d1e2a77',
  resourceVersion: '48213',
  generation: 3,
  creationTimestamp: '2026-11-01T10:00:00Z',
  managedFields: [{ manager: 'kubectl-client-side-apply', operation: 'Update', apiVersion: 'apps/v1' }],
};

export const postgresStatefulSet = (): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'StatefulSet',
  metadata: {
    name: 'postgres',
    namespace: 'shop',
    labels: { app: 'postgres' },
    annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{"apiVersion":"apps/v1"}' },
    ...sourceMeta,
  },
  spec: {
    serviceName: 'postgres',
    replicas: 1,
    selector: { matchLabels: { app: 'postgres' } },
    template: {
      metadata: { labels: { app: 'postgres' } },
      spec: {
        serviceAccountName: 'postgres',
        priorityClassName: 'critical-db',
        initContainers: [{ name: 'init-perms', image: 'registry.example.com/library/busybox:1.36', command: ['chown', '999', '/data'] }],
        containers: [
          {
            name: 'postgres',
            image: 'registry.example.com/library/postgres:16.4',
            env: [
              { name: 'POSTGRES_PASSWORD', valueFrom: { secretKeyRef: { name: 'postgres-auth', key: 'password' } } },
              { name: 'PGDATA', value: '/var/lib/postgresql/data/pgdata' },
            ],
            envFrom: [{ configMapRef: { name: 'postgres-tuning' } }],
            volumeMounts: [
              { name: 'data', mountPath: '/var/lib/postgresql/data' },
              { name: 'init', mountPath: '/docker-entrypoint-initdb.d' },
            ],
          },
        ],
        volumes: [{ name: 'init', configMap: { name: 'postgres-init' } }],
      },
    },
    volumeClaimTemplates: [
      {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: { name: 'data' },
        spec: { accessModes: ['ReadWriteOnce'], storageClassName: 'local-path', resources: { requests: { storage: '10Gi' } } },
      },
    ],
  },
  status: { replicas: 1, readyReplicas: 1, currentRevision: 'postgres-6d5f7c9b8' },
});

export const webDeployment = (): KubeObject => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name: 'web', namespace: 'shop', labels: { app: 'web', tier: 'frontend' }, ...sourceMeta },
  spec: {
    replicas: 3,
    selector: { matchLabels: { app: 'web' } },
    template: {
      metadata: { labels: { app: 'web' } },
      spec: {
        imagePullSecrets: [{ name: 'registry-creds' }],
        containers: [
          {
            name: 'web',
            image: 'registry.example.com/shop/web:2.3.1',
            env: [{ name: 'DB_HOST', valueFrom: { configMapKeyRef: { name: 'web-config', key: 'dbHost' } } }],
            envFrom: [{ secretRef: { name: 'web-secrets' } }],
            volumeMounts: [{ name: 'certs', mountPath: '/etc/certs' }, { name: 'uploads', mountPath: '/uploads' }],
          },
          { name: 'proxy', image: 'docker.io/envoyproxy/envoy:v1.31.0' },
        ],
        volumes: [
          {
            name: 'certs',
            projected: { sources: [{ secret: { name: 'web-tls' } }, { configMap: { name: 'ca-bundle' } }, { serviceAccountToken: { path: 'token' } }] },
          },
          { name: 'uploads', persistentVolumeClaim: { claimName: 'uploads' } },
        ],
      },
    },
  },
  status: { availableReplicas: 3 },
});

export const nodePortService = (): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'web', namespace: 'shop', ...sourceMeta },
  spec: {
    type: 'LoadBalancer',
    selector: { app: 'web' },
    clusterIP: '10.96.12.34',
    clusterIPs: ['10.96.12.34'],
    externalTrafficPolicy: 'Local',
    healthCheckNodePort: 31999,
    ports: [
      { name: 'http', port: 80, targetPort: 8080, protocol: 'TCP', nodePort: 30080 },
      { name: 'https', port: 443, targetPort: 8443, protocol: 'TCP', nodePort: 30443 },
    ],
  },
  status: { loadBalancer: { ingress: [{ ip: '192.0.2.10' }] } },
});

export const headlessService = (): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'postgres', namespace: 'shop', ...sourceMeta },
  spec: { clusterIP: 'None', clusterIPs: ['None'], selector: { app: 'postgres' }, ports: [{ port: 5432, targetPort: 5432 }] },
});

export const dataPvc = (): KubeObject => ({
  apiVersion: 'v1',
  kind: 'PersistentVolumeClaim',
  metadata: {
    name: 'data-postgres-0',
    namespace: 'shop',
    labels: { app: 'postgres' },
    annotations: {
      'pv.kubernetes.io/bind-completed': 'yes',
      'pv.kubernetes.io/bound-by-controller': 'yes',
      'volume.beta.kubernetes.io/storage-provisioner': 'rancher.io/local-path',
      'volume.kubernetes.io/storage-provisioner': 'rancher.io/local-path',
      'volume.kubernetes.io/selected-node': 'node-1',
    },
    finalizers: ['kubernetes.io/pvc-protection'],
    ...sourceMeta,
  },
  spec: {
    accessModes: ['ReadWriteOnce'],
    storageClassName: 'local-path',
    resources: { requests: { storage: '10Gi' } },
    volumeMode: 'Filesystem',
    volumeName: 'pvc-0d6c3a1e-5d1b-4c8e-a0b2-7f1e2d3c4b5a',
  },
  status: { phase: 'Bound', capacity: { storage: '10Gi' } },
});

export const dataPv = (): KubeObject => ({
  apiVersion: 'v1',
  kind: 'PersistentVolume',
  metadata: {
    name: 'pvc-0d6c3a1e-5d1b-4c8e-a0b2-7f1e2d3c4b5a',
    annotations: { 'pv.kubernetes.io/provisioned-by': 'rancher.io/local-path', 'pv.kubernetes.io/bound-by-controller': 'yes' },
    finalizers: ['kubernetes.io/pv-protection'],
    ...sourceMeta,
  },
  spec: {
    capacity: { storage: '10Gi' },
    accessModes: ['ReadWriteOnce'],
    persistentVolumeReclaimPolicy: 'Delete',
    storageClassName: 'local-path',
    hostPath: { path: '/opt/local-path-provisioner/pvc-0d6c3a1e_shop_data-postgres-0', type: 'DirectoryOrCreate' },
    claimRef: {
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      namespace: 'shop',
      name: 'data-postgres-0',
      uid: '0d6c3a1e-5d1b-4c8e-a0b2-7f1e2d3c4b5a',
      resourceVersion: '47001',
    },
  },
  status: { phase: 'Bound' },
});

export const crossNamespaceRoleBinding = (): KubeObject => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'RoleBinding',
  metadata: { name: 'metrics-reader', namespace: 'shop', ...sourceMeta },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'metrics-reader' },
  subjects: [
    { kind: 'ServiceAccount', name: 'web', namespace: 'shop' },
    { kind: 'ServiceAccount', name: 'prometheus', namespace: 'monitoring' },
    { kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'alice@example.com' },
  ],
});

export const widgetCrd = (): KubeObject => ({
  apiVersion: 'apiextensions.k8s.io/v1',
  kind: 'CustomResourceDefinition',
  metadata: { name: 'widgets.example.com', ...sourceMeta },
  spec: {
    group: 'example.com',
    names: { kind: 'Widget', plural: 'widgets', singular: 'widget', listKind: 'WidgetList' },
    scope: 'Namespaced',
    versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
  },
  status: { conditions: [{ type: 'Established', status: 'True' }] },
});

export const widget = (): KubeObject => ({
  apiVersion: 'example.com/v1',
  kind: 'Widget',
  metadata: { name: 'blue', namespace: 'shop', labels: { app: 'web' }, ...sourceMeta },
  spec: { color: 'blue', size: 3 },
  status: { observedGeneration: 3 },
});

export const object = (apiVersion: string, kind: string, name: string, namespace?: string, extra: Record<string, unknown> = {}): KubeObject => ({
  apiVersion,
  kind,
  metadata: namespace ? { name, namespace } : { name },
  ...extra,
});
