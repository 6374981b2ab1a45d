import { planRestoreOrder, podSpecReferences } from '../../../shared/restore-order';
import { objectReferences } from '../../../shared/references';
import {
  crossNamespaceRoleBinding,
  dataPv,
  dataPvc,
  headlessService,
  nodePortService,
  object,
  postgresStatefulSet,
  webDeployment,
  widget,
  widgetCrd,
} from './manifests';

describe('podSpecReferences', () => {
  it('StatefulSet: SA, secrets, config maps, claim-template PVCs, priority class, images', () => {
    expect(podSpecReferences(postgresStatefulSet())).toEqual({
      serviceAccount: 'postgres',
      configMaps: ['postgres-init', 'postgres-tuning'],
      secrets: ['postgres-auth'],
      persistentVolumeClaims: ['data-postgres-0'],
      priorityClass: 'critical-db',
      images: ['registry.example.com/library/busybox:1.36', 'registry.example.com/library/postgres:16.4'],
    });
  });

  it('Deployment: projected volumes, envFrom, env valueFrom, imagePullSecrets, PVC volumes', () => {
    expect(podSpecReferences(webDeployment())).toEqual({
      serviceAccount: 'default',
      configMaps: ['ca-bundle', 'web-config'],
      secrets: ['registry-creds', 'web-secrets', 'web-tls'],
      persistentVolumeClaims: ['uploads'],
      images: ['registry.example.com/shop/web:2.3.1', 'docker.io/envoyproxy/envoy:v1.31.0'],
    });
  });

  it('is undefined for kinds without a pod template', () => {
    expect(podSpecReferences(nodePortService())).toBeUndefined();
  });
});

describe('objectReferences', () => {
  it('follows RBAC, PVC -> PV/StorageClass, Ingress, HPA and CR -> CRD', () => {
    expect(objectReferences(crossNamespaceRoleBinding())).toEqual([
      { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', namespace: 'shop', name: 'metrics-reader' },
      { apiVersion: 'v1', kind: 'ServiceAccount', namespace: 'shop', name: 'web' },
      { apiVersion: 'v1', kind: 'ServiceAccount', namespace: 'monitoring', name: 'prometheus' },
    ]);
    expect(objectReferences(dataPvc())).toEqual([
      { apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', name: 'local-path' },
      { apiVersion: 'v1', kind: 'PersistentVolume', name: 'pvc-0d6c3a1e-5d1b-4c8e-a0b2-7f1e2d3c4b5a' },
    ]);
    expect(objectReferences(widget())).toEqual([{ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', name: 'widgets.example.com' }]);
    const hpa = object('autoscaling/v2', 'HorizontalPodAutoscaler', 'web', 'shop', {
      spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'web' }, minReplicas: 2, maxReplicas: 5 },
    });
    expect(objectReferences(hpa)).toEqual([{ apiVersion: 'apps/v1', kind: 'Deployment', namespace: 'shop', name: 'web' }]);
  });
});

describe('planRestoreOrder', () => {
  const shop = () => [
    widget(),
    nodePortService(),
    headlessService(),
    webDeployment(),
    postgresStatefulSet(),
    dataPvc(),
    dataPv(),
    object('v1', 'PersistentVolumeClaim', 'uploads', 'shop', { spec: { storageClassName: 'local-path' } }),
    object('v1', 'Secret', 'postgres-auth', 'shop', { type: 'Opaque' }),
    object('v1', 'ConfigMap', 'postgres-init', 'shop'),
    object('v1', 'ServiceAccount', 'postgres', 'shop'),
    crossNamespaceRoleBinding(),
    object('rbac.authorization.k8s.io/v1', 'Role', 'metrics-reader', 'shop'),
    object('v1', 'Namespace', 'shop'),
    object('storage.k8s.io/v1', 'StorageClass', 'local-path'),
    object('scheduling.k8s.io/v1', 'PriorityClass', 'critical-db'),
    object('networking.k8s.io/v1', 'Ingress', 'web', 'shop'),
    object('policy/v1', 'PodDisruptionBudget', 'postgres', 'shop'),
    object('admissionregistration.k8s.io/v1', 'ValidatingWebhookConfiguration', 'shop-webhook'),
    widgetCrd(),
  ];

  it('orders by phase, with a reason per object and flags for CRDs and volume data', () => {
    const waves = planRestoreOrder(shop());
    expect(waves.map((w) => [w.phase, w.objects.map((o) => `${o.ref.kind} ${o.ref.name}`)])).toEqual([
      ['crds', ['CustomResourceDefinition widgets.example.com']],
      ['namespaces', ['Namespace shop']],
      ['cluster-classes', ['PriorityClass critical-db', 'StorageClass local-path']],
      ['service-accounts', ['ServiceAccount postgres']],
      ['roles', ['Role metrics-reader']],
      ['role-bindings', ['RoleBinding metrics-reader']],
      ['config', ['ConfigMap postgres-init', 'Secret postgres-auth']],
      ['persistent-volumes', ['PersistentVolume pvc-0d6c3a1e-5d1b-4c8e-a0b2-7f1e2d3c4b5a']],
      ['persistent-volume-claims', ['PersistentVolumeClaim data-postgres-0', 'PersistentVolumeClaim uploads']],
      ['services', ['Service postgres', 'Service web']],
      ['workloads', ['Deployment web', 'StatefulSet postgres']],
      ['ingresses', ['Ingress web']],
      ['autoscaling', ['PodDisruptionBudget postgres']],
      ['other', ['ValidatingWebhookConfiguration shop-webhook']],
      ['custom-resources', ['Widget blue']],
    ]);
    expect(waves[0].waitUntilEstablished).toBe(true);
    expect(waves[8].restoresVolumeData).toBe(true);
    expect(waves.filter((w) => w.waitUntilEstablished || w.restoresVolumeData).map((w) => w.phase)).toEqual(['crds', 'persistent-volume-claims']);
    expect(waves[0].objects[0].reason).toBe('CRDs first: their custom resources cannot be created before they are established');
    expect(waves[14].objects[0]).toEqual({
      ref: { apiVersion: 'example.com/v1', kind: 'Widget', namespace: 'shop', name: 'blue' },
      reason: 'custom resources last: operators may act on them at once and expect the rest in place',
    });
  });

  it('ignores references to objects outside the set (they exist on the target, or preflight reports them)', () => {
    const waves = planRestoreOrder([postgresStatefulSet(), object('v1', 'Secret', 'postgres-auth', 'shop')]);
    expect(waves.map((w) => [w.phase, w.objects.map((o) => o.reason)])).toEqual([
      ['config', ['secrets and config maps before the pods that mount or read them']],
      ['workloads', ['workloads once their config, identity and volumes exist']],
    ]);
  });

  it('splits a phase into waves when its objects reference each other, and applies a cycle together', () => {
    const hpa = object('autoscaling/v2', 'HorizontalPodAutoscaler', 'web', 'shop', {
      spec: { scaleTargetRef: { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', name: 'meta' } },
    });
    const target = object('autoscaling/v2', 'HorizontalPodAutoscaler', 'meta', 'shop', { spec: {} });
    const waves = planRestoreOrder([hpa, target]);
    expect(waves).toEqual([
      {
        phase: 'autoscaling',
        objects: [
          {
            ref: { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', namespace: 'shop', name: 'meta' },
            reason: 'autoscalers and disruption budgets after the workloads they govern',
          },
        ],
      },
      {
        phase: 'autoscaling',
        objects: [
          {
            ref: { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', namespace: 'shop', name: 'web' },
            reason: 'autoscalers and disruption budgets after the workloads they govern; after HorizontalPodAutoscaler shop/meta it references',
          },
        ],
      },
    ]);

    const a = object('autoscaling/v2', 'HorizontalPodAutoscaler', 'a', 'shop', { spec: { scaleTargetRef: { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', name: 'b' } } });
    const b = object('autoscaling/v2', 'HorizontalPodAutoscaler', 'b', 'shop', { spec: { scaleTargetRef: { apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', name: 'a' } } });
    const cycle = planRestoreOrder([a, b]);
    expect(cycle).toHaveLength(1);
    expect(cycle[0].objects.map((o) => o.reason.endsWith('in a reference cycle, applied together'))).toEqual([true, true]);
  });

  it('is empty for no objects', () => {
    expect(planRestoreOrder([])).toEqual([]);
  });
});
