/** Generators the property tests share: names, labels, schedules, plans, objects and transform rules. */
import fc from 'fast-check';
import type { KubeObject } from '../../../shared/kube-object';
import type { PlanInput } from '../../../shared/plan';

/** Keys that are properties of every plain object; lookups by them must not find Object.prototype. */
export const PROTOTYPE_NAMES = ['constructor', 'toString', 'valueOf', 'hasOwnProperty', '__proto__', 'isPrototypeOf'] as const;

export const dnsLabel = fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,14}[a-z0-9])?$/);
export const dnsLabelOrPrototypeName = fc.oneof(dnsLabel, fc.constantFrom(...PROTOTYPE_NAMES.filter((n) => /^[a-z]+$/.test(n))));
export const namespaceGlob = fc.stringMatching(/^[a-z0-9*?]([-a-z0-9*?]{0,10}[a-z0-9*?])?$/);
export const labelValue = fc.oneof(fc.constant(''), fc.stringMatching(/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,20}[A-Za-z0-9])?$/));
export const labelKey = fc
  .tuple(fc.option(fc.stringMatching(/^[a-z0-9]([-a-z0-9]{0,6}[a-z0-9])?(\.[a-z0-9]{1,6}){0,2}$/), { nil: undefined }), fc.stringMatching(/^[A-Za-z0-9]([-A-Za-z0-9_.]{0,12}[A-Za-z0-9])?$/))
  .map(([prefix, name]) => (prefix ? `${prefix}/${name}` : name));
export const labels = fc.dictionary(labelKey, labelValue, { maxKeys: 3 });

/** Durations as operators write them, from 1s to about 20 days (below the longest timer). */
export const duration = fc
  .record({ d: fc.integer({ min: 0, max: 19 }), h: fc.integer({ min: 0, max: 23 }), m: fc.integer({ min: 0, max: 59 }), s: fc.integer({ min: 0, max: 59 }) })
  .map(({ d, h, m, s }) => `${d ? `${d}d` : ''}${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s || !(d || h || m) ? `${s || 1}s` : ''}`);

const cronField = (min: number, max: number) =>
  fc.oneof(
    fc.constant('*'),
    fc.integer({ min, max }).map(String),
    fc
      .tuple(fc.integer({ min, max }), fc.integer({ min, max }))
      .map(([a, b]) => `${Math.min(a, b)}-${Math.max(a, b)}`),
    fc.integer({ min: 1, max: max - min + 1 }).map((step) => `*/${step}`),
  );
export const cronExpression = fc
  .tuple(cronField(0, 59), cronField(0, 23), cronField(1, 31), cronField(1, 12), cronField(0, 7))
  .map((fields) => fields.join(' '));

const command = fc.array(fc.string({ minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 3 });

const hook = fc.record({
  name: dnsLabel,
  podSelector: fc.record({ namespace: dnsLabel, matchLabels: fc.dictionary(labelKey, labelValue, { minKeys: 1, maxKeys: 2 }) }),
  pre: fc.record({ command, timeout: duration }),
});

export const transformRule = fc.oneof(
  fc.record({ namespaceMapping: fc.dictionary(dnsLabel, dnsLabel, { minKeys: 1, maxKeys: 2 }) }),
  fc.record({ storageClassMapping: fc.dictionary(dnsLabel, dnsLabel, { minKeys: 1, maxKeys: 2 }) }),
  fc.record({ replicas: fc.integer({ min: 0, max: 5 }), match: fc.record({ kinds: fc.constant<string[]>(['Deployment', 'StatefulSet']) }) }),
  fc.record({ labels: fc.record({ add: labels, remove: fc.array(labelKey, { maxLength: 2 }) }) }),
  fc.record({ annotations: fc.record({ add: fc.dictionary(labelKey, fc.string({ maxLength: 10 }), { maxKeys: 2 }) }) }),
  fc.record({ imageRegistry: fc.record({ from: fc.constantFrom('registry.example.com/', 'docker.io/'), to: fc.constantFrom('mirror.local/', '') }) }),
  fc.record({ ingressHosts: fc.record({ suffix: fc.record({ from: fc.constant('.example.com'), to: fc.constant('.dr.example.com') }) }) }),
  fc.record({ jsonPatch: fc.array(safePatchOperation(), { minLength: 1, maxLength: 3 }) }),
  fc.record({ mergePatch: fc.record({ spec: fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }) }) }),
);

/** JSON Patch operations that stay under spec and the label maps, so the result is still an object with metadata. */
export function safePatchOperation() {
  const path = fc
    .tuple(fc.constantFrom('/spec', '/metadata/labels', '/metadata/annotations', '/spec/template/spec'), fc.array(fc.oneof(fc.string({ maxLength: 5 }), fc.nat(3).map(String), fc.constant('-')), { maxLength: 2 }))
    .map(([base, tokens]) => [base, ...tokens.map((t) => t.replace(/~/g, '~0').replace(/\//g, '~1'))].join('/'));
  return fc.oneof(
    fc.record({ op: fc.constantFrom('add' as const, 'replace' as const, 'test' as const), path, value: fc.jsonValue({ maxDepth: 2 }) }),
    fc.record({ op: fc.constant('remove' as const), path }),
    fc.record({ op: fc.constantFrom('move' as const, 'copy' as const), from: path, path }),
  );
}

const KINDS: [string, string][] = [
  ['apps/v1', 'Deployment'],
  ['apps/v1', 'StatefulSet'],
  ['v1', 'Service'],
  ['v1', 'PersistentVolumeClaim'],
  ['v1', 'ConfigMap'],
  ['networking.k8s.io/v1', 'Ingress'],
  ['batch/v1', 'Job'],
  ['v1', 'Secret'],
];

/** Kubernetes objects as a backup holds them: typed header, metadata with cluster state, arbitrary spec. */
export const kubeObject = (namespace: fc.Arbitrary<string> = dnsLabel): fc.Arbitrary<KubeObject> =>
  fc
    .record({
      type: fc.constantFrom(...KINDS),
      name: dnsLabel,
      namespace,
      labels,
      annotations: fc.dictionary(labelKey, fc.string({ maxLength: 10 }), { maxKeys: 2 }),
      uid: fc.uuid(),
      spec: fc.dictionary(fc.constantFrom('replicas', 'storageClassName', 'clusterIP', 'rules', 'template', 'ports', 'selector'), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 4 }),
      status: fc.jsonValue({ maxDepth: 2 }),
    })
    .map(({ type: [apiVersion, kind], name, namespace: ns, labels: l, annotations, uid, spec, status }) => ({
      apiVersion,
      kind,
      metadata: { name, namespace: ns, labels: l, annotations, uid, resourceVersion: '42', managedFields: [{ manager: 'kubectl' }] },
      spec,
      status,
    }));

/** Valid plans as an operator might write them: every optional section sometimes present. */
export const planInput: fc.Arbitrary<PlanInput> = fc
  .record({
    name: dnsLabel,
    source: fc.oneof(
      dnsLabel.map((context) => ({ context })),
      fc.tuple(fc.constantFrom('arn:aws:eks:eu-west-1:123456789012:cluster/prod', 'gke_shop_europe-west1_prod', 'Admin@Prod', 'kind-'), dnsLabel).map(([context, clusterName]) => ({ context, clusterName })),
    ),
    namespaces: fc.uniqueArray(namespaceGlob, { minLength: 1, maxLength: 3 }),
    matchLabels: fc.option(labels, { nil: undefined }),
    includeKinds: fc.option(fc.subarray(['Deployment', 'apps/StatefulSet', 'secrets', 'widgets.example.com']), { nil: undefined }),
    hooks: fc.uniqueArray(hook, { selector: (h) => h.name, maxLength: 2 }),
    byStorageClass: fc.dictionary(dnsLabel, fc.constantFrom('copy' as const, 'snapshot-then-copy' as const, 'skip' as const), { maxKeys: 2 }),
    retention: fc.option(fc.record({ keepLast: fc.integer({ min: 1, max: 10 }), keepDaily: fc.integer({ min: 0, max: 10 }) }), { nil: undefined }),
    transforms: fc.array(transformRule, { maxLength: 3 }),
    standbys: fc.option(fc.uniqueArray(dnsLabel.filter((n) => n !== 'primary'), { minLength: 1, maxLength: 2 }), { nil: undefined }),
    rpo: duration,
    drill: fc.option(fc.record({ schedule: cronExpression, namespaceSuffix: fc.constantFrom('-drill', '-dr1') }), { nil: undefined }),
  })
  .map((p) => ({
    apiVersion: 'temporal-dr/v1' as const,
    kind: 'DRPlan' as const,
    metadata: { name: p.name },
    spec: {
      source: p.source,
      selector: {
        namespaces: p.namespaces,
        ...(p.matchLabels ? { labelSelector: { matchLabels: p.matchLabels } } : {}),
        ...(p.includeKinds ? { includeKinds: p.includeKinds } : {}),
      },
      hooks: p.hooks,
      volumes: { byStorageClass: p.byStorageClass },
      store: { url: `s3://temporal-dr/${p.name}`, encryption: { keyFrom: { env: 'TDR_ENCRYPTION_KEY' } } },
      ...(p.retention ? { retention: p.retention } : {}),
      transforms: p.transforms,
      ...(p.standbys
        ? { rpo: p.rpo, standbys: p.standbys.map((name, i) => ({ name, context: `dr.site-${i}`, clusterName: `dr-${i}`, store: { url: `s3://standby-${i}/${p.name}` } })) }
        : {}),
      ...(p.drill ? { drill: p.drill } : {}),
    },
  }));
