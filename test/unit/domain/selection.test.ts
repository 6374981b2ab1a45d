import { alwaysExcludedReason, matchesSelection, matchLabelSelector, passesKindAndNameFilters, selectionContextFrom } from '../../../shared/selection';
import type { Selector } from '../../../shared/plan';
import { headlessService, nodePortService, object, webDeployment, widget } from './manifests';

const controlledBy = (kind: string) => [{ apiVersion: 'apps/v1', kind, name: 'owner', uid: 'u1', controller: true }];

describe('alwaysExcludedReason', () => {
  const context = selectionContextFrom([
    nodePortService(),
    object('v1', 'Service', 'external-db', 'shop', { spec: { ports: [{ port: 5432 }] } }),
  ]);

  it.each([
    [object('v1', 'Event', 'web.17a', 'shop'), 'events are history, not state'],
    [object('events.k8s.io/v1', 'Event', 'web.17a', 'shop'), 'events are history, not state'],
    [object('apps/v1', 'ControllerRevision', 'postgres-6d5f7c9b8', 'shop'), 'controllers write their own revisions'],
    [object('coordination.k8s.io/v1', 'Lease', 'leader', 'shop'), 'leases are held by running processes of the source cluster'],
    [object('v1', 'Secret', 'web-token-x7k2p', 'shop', { type: 'kubernetes.io/service-account-token' }), 'token secrets are minted per cluster'],
    [object('v1', 'ConfigMap', 'kube-root-ca.crt', 'shop'), "every namespace gets the target cluster's CA bundle"],
    [object('v1', 'Endpoints', 'web', 'shop'), 'the endpoints controller rebuilds them from the Service'],
    [
      object('discovery.k8s.io/v1', 'EndpointSlice', 'web-abcde', 'shop'),
      'the endpoint slice controllers rebuild them',
    ],
  ])('excludes %j', (obj, reason) => {
    if (obj.kind === 'EndpointSlice') obj.metadata.labels = { 'kubernetes.io/service-name': 'web', 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' };
    expect(alwaysExcludedReason(obj, context)).toBe(reason);
  });

  it('excludes what controllers recreate, keeps what nothing recreates', () => {
    const pod = object('v1', 'Pod', 'web-7d9c-abcde', 'shop');
    pod.metadata.ownerReferences = controlledBy('ReplicaSet');
    expect(alwaysExcludedReason(pod)).toBe('pods of a controller are recreated by it');
    expect(alwaysExcludedReason(object('v1', 'Pod', 'debug', 'shop'))).toBeUndefined();

    const rs = object('apps/v1', 'ReplicaSet', 'web-7d9c', 'shop');
    rs.metadata.ownerReferences = controlledBy('Deployment');
    expect(alwaysExcludedReason(rs)).toBe('the Deployment recreates its ReplicaSets');
    expect(alwaysExcludedReason(object('apps/v1', 'ReplicaSet', 'standalone', 'shop'))).toBeUndefined();

    const job = object('batch/v1', 'Job', 'report-28745', 'shop');
    job.metadata.ownerReferences = [{ apiVersion: 'batch/v1', kind: 'CronJob', name: 'report', uid: 'u2', controller: true }];
    expect(alwaysExcludedReason(job)).toBe('the CronJob creates its Jobs on schedule');
    expect(alwaysExcludedReason(object('batch/v1', 'Job', 'migrate', 'shop'))).toBeUndefined();
  });

  it('keeps hand-written endpoints of a selector-less Service, and the default ServiceAccount', () => {
    expect(alwaysExcludedReason(object('v1', 'Endpoints', 'external-db', 'shop'), context)).toBeUndefined();
    const slice = object('discovery.k8s.io/v1', 'EndpointSlice', 'external-db-1', 'shop');
    slice.metadata.labels = { 'kubernetes.io/service-name': 'external-db' };
    expect(alwaysExcludedReason(slice, context)).toBeUndefined();
    expect(alwaysExcludedReason(object('v1', 'ServiceAccount', 'default', 'shop'))).toBeUndefined();
    expect(alwaysExcludedReason(object('v1', 'ConfigMap', 'web-config', 'shop'))).toBeUndefined();
    expect(alwaysExcludedReason(headlessService())).toBeUndefined();
  });
});

describe('matchLabelSelector', () => {
  const labels = { app: 'web', tier: 'frontend' };
  it.each([
    [{}, true],
    [{ matchLabels: { app: 'web' } }, true],
    [{ matchLabels: { app: 'db' } }, false],
    [{ matchExpressions: [{ key: 'tier', operator: 'In' as const, values: ['frontend', 'edge'] }] }, true],
    [{ matchExpressions: [{ key: 'tier', operator: 'NotIn' as const, values: ['frontend'] }] }, false],
    [{ matchExpressions: [{ key: 'env', operator: 'NotIn' as const, values: ['prod'] }] }, true],
    [{ matchExpressions: [{ key: 'app', operator: 'Exists' as const }] }, true],
    [{ matchExpressions: [{ key: 'env', operator: 'Exists' as const }] }, false],
    [{ matchExpressions: [{ key: 'env', operator: 'DoesNotExist' as const }] }, true],
    [{ matchLabels: { app: 'web' }, matchExpressions: [{ key: 'app', operator: 'DoesNotExist' as const }] }, false],
  ])('%j -> %s', (selector, expected) => expect(matchLabelSelector(labels, selector)).toBe(expected));

  it('treats missing labels as empty', () => {
    expect(matchLabelSelector(undefined, { matchExpressions: [{ key: 'a', operator: 'DoesNotExist' }] })).toBe(true);
    expect(matchLabelSelector(undefined, { matchLabels: { a: 'b' } })).toBe(false);
  });
});

describe('matchesSelection', () => {
  const selector: Selector = {
    namespaces: ['shop', 'shop-*'],
    labelSelector: { matchExpressions: [{ key: 'scratch', operator: 'DoesNotExist' }] },
    excludeKinds: ['networking.k8s.io/NetworkPolicy', 'widgets.example.com'],
    excludeNames: ['Secret/shop/tls-*', 'apps/Deployment/*/canary'],
  };

  it('picks namespaced objects in selected namespaces that pass the filters', () => {
    expect(matchesSelection(webDeployment(), selector)).toBe(true);
    expect(matchesSelection(object('v1', 'ConfigMap', 'c', 'shop-eu'), selector)).toBe(true);
    expect(matchesSelection(object('v1', 'ConfigMap', 'c', 'billing'), selector)).toBe(false);
    const scratch = object('v1', 'ConfigMap', 'c', 'shop');
    scratch.metadata.labels = { scratch: 'yes' };
    expect(matchesSelection(scratch, selector)).toBe(false);
  });

  it('applies exclusions by kind (any form) and by Kind/namespace/name globs', () => {
    expect(matchesSelection(object('networking.k8s.io/v1', 'NetworkPolicy', 'deny', 'shop'), selector)).toBe(false);
    expect(matchesSelection(widget(), selector)).toBe(false);
    expect(matchesSelection(object('v1', 'Secret', 'tls-web', 'shop'), selector)).toBe(false);
    expect(matchesSelection(object('v1', 'Secret', 'tls-web', 'shop-eu'), selector)).toBe(true);
    expect(matchesSelection(object('apps/v1', 'Deployment', 'canary', 'shop-eu'), selector)).toBe(false);
  });

  it('picks the selected Namespace objects but no other cluster-scoped object', () => {
    expect(matchesSelection(object('v1', 'Namespace', 'shop'), selector)).toBe(true);
    expect(matchesSelection(object('v1', 'Namespace', 'billing'), selector)).toBe(false);
    expect(matchesSelection(object('storage.k8s.io/v1', 'StorageClass', 'local-path'), selector)).toBe(false);
  });

  it('includeKinds narrows, and referenced cluster objects pass the kind and name filters', () => {
    const onlyApps: Selector = { namespaces: ['shop'], includeKinds: ['Deployment', 'secrets', 'StorageClass'] };
    expect(matchesSelection(webDeployment(), onlyApps)).toBe(true);
    expect(matchesSelection(object('v1', 'Secret', 's', 'shop'), onlyApps)).toBe(true);
    expect(matchesSelection(object('v1', 'ConfigMap', 'c', 'shop'), onlyApps)).toBe(false);
    expect(passesKindAndNameFilters(object('storage.k8s.io/v1', 'StorageClass', 'local-path'), onlyApps)).toBe(true);
    expect(passesKindAndNameFilters(object('v1', 'PersistentVolume', 'pv-1'), onlyApps)).toBe(false);
  });
});
