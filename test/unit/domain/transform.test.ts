import { InvalidInputError } from '../../../shared/errors';
import { applyJsonPatch, applyMergePatch, JsonPatchError } from '../../../shared/json-patch';
import { parseTransformRules, stripClusterState, transformForTarget } from '../../../shared/transform';
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
} from './manifests';

describe('stripClusterState', () => {
  it('Service: drops allocated IPs, node ports and status', () => {
    expect(stripClusterState(nodePortService())).toEqual({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: 'shop' },
      spec: {
        type: 'LoadBalancer',
        selector: { app: 'web' },
        externalTrafficPolicy: 'Local',
        ports: [
          { name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' },
          { name: 'https', port: 443, targetPort: 8443, protocol: 'TCP' },
        ],
      },
    });
  });

  it('Service: keeps node ports when asked, and clusterIP None of a headless service', () => {
    const kept = stripClusterState(nodePortService(), { keepNodePorts: true })!;
    expect((kept.spec as { ports: { nodePort?: number }[] }).ports.map((p) => p.nodePort)).toEqual([30080, 30443]);
    expect((kept.spec as Record<string, unknown>).healthCheckNodePort).toBeUndefined();
    expect(stripClusterState(headlessService())!.spec).toEqual({
      clusterIP: 'None',
      clusterIPs: ['None'],
      selector: { app: 'postgres' },
      ports: [{ port: 5432, targetPort: 5432 }],
    });
  });

  it('PVC: drops binding annotations and volumeName so the target provisions anew', () => {
    expect(stripClusterState(dataPvc())).toEqual({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      metadata: { name: 'data-postgres-0', namespace: 'shop', labels: { app: 'postgres' }, finalizers: ['kubernetes.io/pvc-protection'] },
      spec: { accessModes: ['ReadWriteOnce'], storageClassName: 'local-path', resources: { requests: { storage: '10Gi' } }, volumeMode: 'Filesystem' },
    });
  });

  it('PV: drops the claimRef uid and resourceVersion', () => {
    const pv = stripClusterState(dataPv())!;
    expect((pv.spec as Record<string, unknown>).claimRef).toEqual({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      namespace: 'shop',
      name: 'data-postgres-0',
    });
    expect(pv.metadata).toEqual({
      name: 'pvc-0d6c3a1e-5d1b-4c8e-a0b2-7f1e2d3c4b5a',
      annotations: { 'pv.kubernetes.io/provisioned-by': 'rancher.io/local-path' },
      finalizers: ['kubernetes.io/pv-protection'],
    });
  });

  it('StatefulSet: drops identity, last-applied and status, keeps the spec', () => {
    const sts = stripClusterState(postgresStatefulSet())!;
    expect(sts.metadata).toEqual({ name: 'postgres', namespace: 'shop', labels: { app: 'postgres' } });
    expect(sts.status).toBeUndefined();
    expect(sts.spec).toEqual(postgresStatefulSet().spec);
  });

  it('Pod: drops nodeName, priority and owner references', () => {
    const pod = object('v1', 'Pod', 'debug', 'shop', {
      spec: { nodeName: 'node-1', priority: 1000, priorityClassName: 'high', containers: [{ name: 'sh', image: 'busybox' }] },
    });
    pod.metadata.ownerReferences = [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'x', uid: 'u1' }];
    expect(stripClusterState(pod)).toEqual({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'debug', namespace: 'shop' },
      spec: { priorityClassName: 'high', containers: [{ name: 'sh', image: 'busybox' }] },
    });
  });

  it('Job: drops the controller-uid labels from selector and template', () => {
    const job = object('batch/v1', 'Job', 'migrate', 'shop', {
      spec: {
        selector: { matchLabels: { 'batch.kubernetes.io/controller-uid': 'u1', 'controller-uid': 'u1' } },
        template: {
          metadata: {
            labels: { 'batch.kubernetes.io/controller-uid': 'u1', 'controller-uid': 'u1', 'batch.kubernetes.io/job-name': 'migrate', 'job-name': 'migrate' },
          },
          spec: { restartPolicy: 'Never', containers: [{ name: 'm', image: 'shop/migrate:1' }] },
        },
      },
    });
    expect(stripClusterState(job)!.spec).toEqual({
      template: {
        metadata: { labels: { 'batch.kubernetes.io/job-name': 'migrate', 'job-name': 'migrate' } },
        spec: { restartPolicy: 'Never', containers: [{ name: 'm', image: 'shop/migrate:1' }] },
      },
    });
  });

  it('drops service-account token Secrets and the token references of a ServiceAccount', () => {
    expect(stripClusterState(object('v1', 'Secret', 'web-token-x7k2p', 'shop', { type: 'kubernetes.io/service-account-token' }))).toBeNull();
    expect(
      stripClusterState(object('v1', 'ServiceAccount', 'web', 'shop', { secrets: [{ name: 'web-token-x7k2p' }, { name: 'web-extra' }] })),
    ).toEqual({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'web', namespace: 'shop' }, secrets: [{ name: 'web-extra' }] });
  });

  it('does not modify its input', () => {
    const svc = nodePortService();
    stripClusterState(svc);
    expect(svc).toEqual(nodePortService());
  });
});

describe('transformForTarget', () => {
  const rules = parseTransformRules([
    { namespaceMapping: { shop: 'shop-dr' } },
    { storageClassMapping: { 'local-path': 'standard' } },
    { name: 'mirror', imageRegistry: { from: 'registry.example.com/', to: 'mirror.local/' } },
    { replicas: 0, match: { kinds: ['apps/Deployment'], names: ['web*'] } },
    { labels: { add: { 'dr.example.com/restored': 'true' }, remove: ['tier'] }, match: { labelSelector: { matchLabels: { app: 'web' } } } },
    { ingressHosts: { map: { 'shop.example.com': 'shop.dr.example.com' }, suffix: { from: '.example.com', to: '.dr.example.net' } } },
  ]);

  it('RoleBinding: maps its namespace and its subjects, leaves other namespaces alone', () => {
    const { obj, applied } = transformForTarget(crossNamespaceRoleBinding(), rules);
    expect(obj).toEqual({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'metrics-reader', namespace: 'shop-dr' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'metrics-reader' },
      subjects: [
        { kind: 'ServiceAccount', name: 'web', namespace: 'shop-dr' },
        { kind: 'ServiceAccount', name: 'prometheus', namespace: 'monitoring' },
        { kind: 'User', apiGroup: 'rbac.authorization.k8s.io', name: 'alice@example.com' },
      ],
    });
    expect(applied).toEqual(['transforms[0] (namespaceMapping)']);
  });

  it('PV: maps claimRef namespace and storage class', () => {
    const { obj, applied } = transformForTarget(dataPv(), rules);
    expect((obj!.spec as Record<string, unknown>).storageClassName).toBe('standard');
    expect((obj!.spec as { claimRef: unknown }).claimRef).toEqual({
      apiVersion: 'v1',
      kind: 'PersistentVolumeClaim',
      namespace: 'shop-dr',
      name: 'data-postgres-0',
    });
    expect(applied).toEqual(['transforms[0] (namespaceMapping)', 'transforms[1] (storageClassMapping)']);
  });

  it('StatefulSet: claim templates get the new class, every container the mirror', () => {
    const { obj, applied } = transformForTarget(postgresStatefulSet(), rules);
    const spec = obj!.spec as any;
    expect(obj!.metadata.namespace).toBe('shop-dr');
    expect(spec.volumeClaimTemplates[0].spec.storageClassName).toBe('standard');
    expect(spec.template.spec.initContainers[0].image).toBe('mirror.local/library/busybox:1.36');
    expect(spec.template.spec.containers[0].image).toBe('mirror.local/library/postgres:16.4');
    expect(spec.replicas).toBe(1);
    expect(applied).toEqual(['transforms[0] (namespaceMapping)', 'transforms[1] (storageClassMapping)', 'transforms[2] mirror (imageRegistry)']);
  });

  it('Deployment: replicas, labels and images; images outside the registry untouched', () => {
    const { obj, applied } = transformForTarget(webDeployment(), rules);
    const spec = obj!.spec as any;
    expect(spec.replicas).toBe(0);
    expect(spec.template.spec.containers.map((c: { image: string }) => c.image)).toEqual([
      'mirror.local/shop/web:2.3.1',
      'docker.io/envoyproxy/envoy:v1.31.0',
    ]);
    expect(obj!.metadata.labels).toEqual({ app: 'web', 'dr.example.com/restored': 'true' });
    expect(applied).toEqual([
      'transforms[0] (namespaceMapping)',
      'transforms[2] mirror (imageRegistry)',
      'transforms[3] (replicas)',
      'transforms[4] (labels)',
    ]);
  });

  it('CronJob: images inside the job template are rewritten', () => {
    const cron = object('batch/v1', 'CronJob', 'report', 'shop', {
      spec: { schedule: '0 * * * *', jobTemplate: { spec: { template: { spec: { containers: [{ name: 'r', image: 'registry.example.com/shop/report:1' }] } } } } },
    });
    const { obj } = transformForTarget(cron, rules);
    expect((obj!.spec as any).jobTemplate.spec.template.spec.containers[0].image).toBe('mirror.local/shop/report:1');
  });

  it('Ingress: exact host map first, then suffix, TLS hosts too', () => {
    const ingress = object('networking.k8s.io/v1', 'Ingress', 'web', 'shop', {
      spec: {
        tls: [{ hosts: ['shop.example.com', 'api.example.com'], secretName: 'web-tls' }],
        rules: [
          { host: 'shop.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } },
          { host: 'api.example.com' },
          { host: 'other.org' },
        ],
      },
    });
    const spec = transformForTarget(ingress, rules).obj!.spec as any;
    expect(spec.tls[0].hosts).toEqual(['shop.dr.example.com', 'api.dr.example.net']);
    expect(spec.rules.map((r: { host: string }) => r.host)).toEqual(['shop.dr.example.com', 'api.dr.example.net', 'other.org']);
  });

  it('custom resource: JSON Patch and merge patch matched by kind, name and namespace', () => {
    const patchRules = parseTransformRules([
      { name: 'smaller', match: { kinds: ['widgets.example.com'], names: ['bl*'], namespaces: ['shop'] }, jsonPatch: [{ op: 'replace', path: '/spec/size', value: 1 }] },
      { match: { kinds: ['Widget'] }, mergePatch: { spec: { color: null, tint: 'green' } } },
      { match: { kinds: ['Widget'], namespaces: ['other'] }, jsonPatch: [{ op: 'add', path: '/spec/x', value: 1 }] },
    ]);
    const { obj, applied } = transformForTarget(widget(), patchRules);
    expect(obj).toEqual({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'blue', namespace: 'shop', labels: { app: 'web' } }, spec: { size: 1, tint: 'green' } });
    expect(applied).toEqual(['transforms[0] smaller (jsonPatch)', 'transforms[1] (mergePatch)']);
  });

  it('a failed test op means the rule does not apply', () => {
    const guarded = parseTransformRules([
      { jsonPatch: [{ op: 'test', path: '/spec/color', value: 'red' }, { op: 'replace', path: '/spec/color', value: 'green' }] },
    ]);
    const { obj, applied } = transformForTarget(widget(), guarded);
    expect((obj!.spec as any).color).toBe('blue');
    expect(applied).toEqual([]);
  });

  it('a patch that cannot apply names the rule, the operation and the object', () => {
    const broken = parseTransformRules([{ labels: { add: { a: 'b' } } }, { jsonPatch: [{ op: 'remove', path: '/spec/missing' }] }]);
    let error: InvalidInputError | undefined;
    try {
      transformForTarget(widget(), broken);
    } catch (err) {
      error = err as InvalidInputError;
    }
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error!.issues).toEqual([
      'transforms[1].jsonPatch[0]: remove: path /spec/missing does not exist in Widget shop/blue; narrow match, or guard it with a test op',
    ]);
  });

  it('returns null for objects that must not be restored', () => {
    expect(transformForTarget(object('v1', 'Secret', 't', 'shop', { type: 'kubernetes.io/service-account-token' }), rules)).toEqual({ obj: null, applied: [] });
  });
});

describe('parseTransformRules', () => {
  it('reports every bad rule with its index', () => {
    let error: InvalidInputError | undefined;
    try {
      parseTransformRules([
        { jsonPatch: [{ op: 'add', path: '/spec/a' }, { op: 'move', path: 'spec/b' }, { op: 'remove', path: '/a~2b', value: 1 }] },
        { namespaceMapping: { shop: 'Shop_DR' }, match: { kinds: ['Secret'] } },
        { match: { kinds: ['apps/Deployment'] } },
        { replicas: -1, bogus: true },
        { ingressHosts: {} },
      ]);
    } catch (err) {
      error = err as InvalidInputError;
    }
    expect(error).toBeInstanceOf(InvalidInputError);
    expect(error!.issues).toEqual([
      'transforms[0].jsonPatch[0].value: required for op add',
      'transforms[0].jsonPatch[1].path: expected a JSON pointer like /spec/replicas',
      'transforms[0].jsonPatch[1].from: required for op move',
      'transforms[0].jsonPatch[2].path: expected a JSON pointer like /spec/replicas',
      'transforms[0].jsonPatch[2].value: not used by op remove',
      'transforms[1].namespaceMapping.shop: expected a DNS-1123 label: lowercase letters, digits and -, at most 63 characters',
      'transforms[1].match: namespaceMapping applies to every object; remove match',
      'transforms[2]: set one of namespaceMapping, storageClassMapping, imageRegistry, replicas, labels, annotations, ingressHosts, jsonPatch, mergePatch',
      'transforms[3].replicas: must be at least 0',
      'transforms[3].bogus: unknown field (check the spelling; allowed here: annotations, imageRegistry, ingressHosts, jsonPatch, labels, match, mergePatch, name, namespaceMapping, replicas, storageClassMapping)',
      'transforms[4].ingressHosts: set map or suffix',
    ]);
  });
});

describe('JSON Patch (RFC 6902) and merge patch (RFC 7386)', () => {
  it('applies add/remove/replace/move/copy/test, including array positions and escapes', () => {
    const doc = { a: { 'b/c': 1, 'd~e': [1, 2, 3] }, f: 'x' };
    expect(
      applyJsonPatch(doc, [
        { op: 'add', path: '/a/d~0e/1', value: 9 },
        { op: 'add', path: '/a/d~0e/-', value: 4 },
        { op: 'replace', path: '/a/b~1c', value: 2 },
        { op: 'copy', from: '/f', path: '/g' },
        { op: 'move', from: '/f', path: '/h' },
        { op: 'remove', path: '/a/d~0e/0' },
        { op: 'test', path: '/h', value: 'x' },
      ]),
    ).toEqual({ a: { 'b/c': 2, 'd~e': [9, 2, 3, 4] }, g: 'x', h: 'x' });
    expect(doc).toEqual({ a: { 'b/c': 1, 'd~e': [1, 2, 3] }, f: 'x' });
  });

  it('is atomic and says which operation failed', () => {
    expect(() => applyJsonPatch({ a: 1 }, [{ op: 'replace', path: '/a', value: 2 }, { op: 'replace', path: '/b', value: 1 }])).toThrow(
      new JsonPatchError('replace: path /b does not exist', 1),
    );
    expect(() => applyJsonPatch({ a: [1] }, [{ op: 'add', path: '/a/5', value: 2 }])).toThrow('add: path /a/5: index out of range');
    expect(() => applyJsonPatch({ a: { b: 1 } }, [{ op: 'move', from: '/a', path: '/a/b/c' }])).toThrow('cannot move /a into its own child');
  });

  it('merge patch: objects merge, null deletes, arrays replace (RFC 7386 examples)', () => {
    expect(applyMergePatch({ a: 'b', c: { d: 'e', f: 'g' } }, { a: 'z', c: { f: null } })).toEqual({ a: 'z', c: { d: 'e' } });
    expect(applyMergePatch({ a: [{ b: 'c' }] }, { a: [1] })).toEqual({ a: [1] });
    expect(applyMergePatch({ e: null }, { a: 1 })).toEqual({ e: null, a: 1 });
    expect(applyMergePatch(['a'], { a: { bb: { ccc: null } } })).toEqual({ a: { bb: {} } });
  });
});
