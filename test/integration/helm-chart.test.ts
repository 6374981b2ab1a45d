// The Helm chart (deploy/helm/temporal-dr): `helm lint` passes, `helm template` renders, the local
// "source" API server accepts every rendered object (server-side apply, dry run), and the user
// ClusterRoles do what they say when requests run as made-up users (impersonation).
import * as k8s from '@kubernetes/client-node';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { DR_API_GROUP, DR_API_VERSION } from '../../shared/custom-resources';
import { TestNamespace, freshNamespace, httpCode, kubeConfigFor, kubeconfigPath, objectApi, waitFor } from '../harness/clusters';

const REPO = path.join(__dirname, '../..');
const CHART = path.join(REPO, 'deploy/helm/temporal-dr');
const ALL_OPTIONS = path.join(REPO, 'test/fixtures/helm/all-options.values.yaml');
const FIELD_MANAGER = 'tdr-helm-chart-test';
const USERS = { appOwner: 'tdr-test-app-owner', viewer: 'tdr-test-viewer', platformAdmin: 'tdr-test-platform-admin' };

/** helm built by scripts/stack/build-helm.sh (scripts/test.sh exports HELM_BIN; cached after the first build). */
function helmBin(): string {
  if (process.env.HELM_BIN) return process.env.HELM_BIN;
  const out = execFileSync('bash', [path.join(REPO, 'scripts/stack/build-helm.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 20 * 60_000 });
  return /^HELM_BIN=(.+)$/m.exec(out)![1]!;
}

const helm = (...args: string[]) => execFileSync(helmBin(), args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** The stack's kubectl (scripts/stack/build-kube.sh). */
function kubectlBin(): string {
  if (process.env.KUBECTL) return process.env.KUBECTL;
  const out = execFileSync('bash', [path.join(REPO, 'scripts/stack/build-kube.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return /^KUBECTL=(.+)$/m.exec(out)![1]!;
}

/**
 * kubectl against "source", the way users apply the chart. Not KubernetesObjectApi for the CRDs:
 * it serializes objects through client-node's typed models, which drop `enum`, `default` and the
 * x-kubernetes-* keys of a plain CRD object.
 */
const kubectl = (input: string, ...args: string[]) =>
  execFileSync(kubectlBin(), ['--kubeconfig', kubeconfigPath(), '--context', 'source', ...args], { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
const toYaml = (objects: k8s.KubernetesObject[]) => objects.map((o) => YAML.stringify(o)).join('---\n');

function render(namespace: string, ...valueArgs: string[]): k8s.KubernetesObject[] {
  const out = helm('template', 'dr', CHART, '--namespace', namespace, '--include-crds', ...valueArgs);
  return YAML.parseAllDocuments(out).map((d) => d.toJSON() as k8s.KubernetesObject).filter(Boolean);
}

/** A client whose every request runs as `user` (the Impersonate-User header; the stack's admin may impersonate). */
function clientAs<T extends k8s.ApiType>(user: string, api: new (config: k8s.Configuration) => T): T {
  const admin = kubeConfigFor('source');
  const kc = new k8s.KubeConfig();
  const current = admin.getCurrentUser()!;
  kc.loadFromOptions({
    clusters: admin.clusters,
    contexts: admin.contexts,
    currentContext: admin.currentContext,
    users: admin.users.map((u) => (u.name === current.name ? { ...u, impersonateUser: user } : u)),
  });
  return kc.makeApiClient(api);
}
const customObjectsAs = (user: string) => clientAs(user, k8s.CustomObjectsApi);

const isCrd = (o: k8s.KubernetesObject) => o.kind === 'CustomResourceDefinition';
const serverSideApply = (o: k8s.KubernetesObject) => objectApi('source').patch(o, undefined, undefined, FIELD_MANAGER, true, k8s.PatchStrategy.ServerSideApply);

/** The HTTP status of a request, 2xx as 200. */
async function statusOf(request: () => Promise<unknown>): Promise<number> {
  try {
    await request();
    return 200;
  } catch (e) {
    if (httpCode(e) === undefined) throw e;
    return httpCode(e)!;
  }
}

function examplePlan(name: string): Record<string, unknown> {
  const plan = YAML.parse(fs.readFileSync(path.join(REPO, 'examples/plan.yaml'), 'utf8'));
  return { apiVersion: `${DR_API_GROUP}/${DR_API_VERSION}`, kind: 'DRPlan', metadata: { name }, spec: plan.spec };
}

const plans = { group: DR_API_GROUP, version: DR_API_VERSION, plural: 'drplans' };

describe('Helm chart deploy/helm/temporal-dr', () => {
  it('passes helm lint with the defaults and with every option set', () => {
    expect(helm('lint', CHART, '--strict', '--set', 'clusterName=source')).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
    expect(helm('lint', CHART, '--strict', '--values', ALL_OPTIONS)).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  it('renders the worker, the node agents, the CRDs and the roles; refuses to render without clusterName', () => {
    const objects = render('temporal-dr', '--values', ALL_OPTIONS);
    const names = objects.map((o) => `${o.kind}/${o.metadata!.name}`).sort();
    expect(names).toEqual(
      [
        'ClusterRole/dr-temporal-dr-controller',
        'ClusterRole/dr-temporal-dr-node-agent',
        'ClusterRole/dr-temporal-dr-worker',
        'ClusterRole/temporal-dr-app-owner',
        'ClusterRole/temporal-dr-platform-admin',
        'ClusterRole/temporal-dr-viewer',
        'ClusterRoleBinding/dr-temporal-dr-controller',
        'ClusterRoleBinding/dr-temporal-dr-node-agent',
        'ClusterRoleBinding/dr-temporal-dr-worker',
        ...['backups', 'drills', 'drplans', 'drpolicies', 'failovers', 'restores'].map((p) => `CustomResourceDefinition/${p}.${DR_API_GROUP}`),
        'DaemonSet/dr-temporal-dr-node-agent',
        'Deployment/dr-temporal-dr-controller',
        'Deployment/dr-temporal-dr-worker',
        'MutatingAdmissionPolicy/temporal-dr-requester',
        'MutatingAdmissionPolicyBinding/temporal-dr-requester',
        'ServiceAccount/dr-temporal-dr-controller',
        'ServiceAccount/dr-temporal-dr-node-agent',
        'ServiceAccount/dr-temporal-dr-worker',
      ].sort(),
    );
    const agent = objects.find((o) => o.kind === 'DaemonSet') as k8s.V1DaemonSet;
    const container = agent.spec!.template.spec!.containers[0]!;
    expect(container.volumeMounts).toContainEqual({ name: 'kubelet', mountPath: '/var/lib/k0s/kubelet', mountPropagation: 'HostToContainer' });
    expect(container.env).toContainEqual({ name: 'TDR_NODES', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } });
    expect(container.env).toContainEqual({ name: 'TDR_KUBELET_ROOT', value: '/var/lib/k0s/kubelet' });
    expect(container.env).toContainEqual({ name: 'TDR_CLUSTER', value: 'source' });
    const deployment = (name: string) => (objects.find((o) => o.kind === 'Deployment' && o.metadata!.name === name) as k8s.V1Deployment).spec!.template.spec!.containers[0]!;
    const worker = deployment('dr-temporal-dr-worker');
    const controller = deployment('dr-temporal-dr-controller');
    expect(controller.command).toEqual(['node', 'dist/worker/controller.js']);
    expect(controller.env).toEqual(expect.arrayContaining([
      { name: 'TDR_CONTROLLER_CONTEXT', value: 'inClusterContext' },
      { name: 'TDR_CONTROLLER_CLUSTER_NAME', value: 'source' },
      { name: 'TDR_TEMPORAL_UI_URL', value: 'https://temporal.example.com' },
    ]));
    // Without MutatingAdmissionPolicy: the validating fallback instead.
    const fallback = render('temporal-dr', '--set', 'clusterName=source', '--set', 'controller.requesterPolicy=validating').map((o) => o.kind).filter((k) => /AdmissionPolicy/.test(k!));
    expect(fallback.sort()).toEqual(['ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding']);
    for (const name of ['TEMPORAL_API_KEY', 'TDR_PAYLOAD_KEYS', 'AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'TDR_ENCRYPTION_KEY']) {
      expect(worker.env!.find((e) => e.name === name)?.valueFrom?.secretKeyRef).toBeDefined();
    }
    // The probes call the worker's own health endpoints (test/integration/worker-health.test.ts proves what they answer).
    expect(worker.livenessProbe?.httpGet).toEqual({ path: '/livez', port: 'health' });
    expect(worker.readinessProbe?.httpGet).toEqual({ path: '/readyz', port: 'health' });
    expect(worker.env).toEqual(expect.arrayContaining([{ name: 'TDR_HEALTH_ADDRESS', value: '0.0.0.0:9465' }]));
    expect(worker.ports).toEqual(expect.arrayContaining([{ name: 'health', containerPort: 9465, protocol: 'TCP' }]));
    // The chart's CRDs are the generated files, unchanged.
    for (const crd of objects.filter(isCrd)) {
      const file = YAML.parse(fs.readFileSync(path.join(CHART, 'crds', `${crd.metadata!.name}.yaml`), 'utf8'));
      expect(crd).toEqual(file);
    }
    expect(() => helm('template', 'dr', CHART)).toThrow(/set clusterName/);
  });

  describe('on the local "source" cluster', () => {
    let home: TestNamespace;
    let other: TestNamespace;
    let objects: k8s.KubernetesObject[];
    const created: k8s.KubernetesObject[] = [];

    beforeAll(async () => {
      home = await freshNamespace('source', 'helm-chart');
      other = await freshNamespace('source', 'helm-chart-other');
      // A plan whose key is keyFrom.secret in `other`: the agents get a Role for that one Secret.
      objects = render(home.name, '--values', ALL_OPTIONS, '--set', `agent.keySecrets[0].namespace=${other.name}`, '--set', 'agent.keySecrets[0].name=repo-key');
    });

    afterAll(async () => {
      const api = objectApi('source');
      for (const o of created.reverse()) await api.delete(o).catch((e) => { if (httpCode(e) !== 404) throw e; });
      await Promise.all([home?.cleanup(), other?.cleanup()]);
    });

    it('accepts every rendered object in a server-side dry run (CRDs first, then Established)', () => {
      const crds = objects.filter(isCrd);
      const rest = objects.filter((o) => !isCrd(o));
      const apply = (list: k8s.KubernetesObject[], ...flags: string[]) =>
        // --force-conflicts: other test files of the run apply the same CRDs under their own managers.
        kubectl(toYaml(list), 'apply', '--server-side', '--force-conflicts', `--field-manager=${FIELD_MANAGER}`, ...flags, '-f', '-').trim().split('\n');
      expect(apply(crds, '--dry-run=server')).toHaveLength(crds.length);
      // The rest holds no custom resource, but a user's install has the CRDs for real: so does this one.
      created.push(...crds);
      apply(crds);
      kubectl('', 'wait', '--for=condition=Established', '--timeout=60s', ...crds.map((c) => `crd/${c.metadata!.name}`));
      const accepted = apply(rest, '--dry-run=server');
      expect(accepted).toHaveLength(rest.length);
      expect(accepted.every((line) => /serverside-applied \(server dry run\)$/.test(line))).toBe(true);
      // Nothing but the CRDs was made.
      expect(() => kubectl('', 'get', 'deployment/dr-temporal-dr-worker', '-n', home.name)).toThrow(/NotFound/);
    });

    it('grants the worker and the node agent what they use and no more (their service accounts, impersonated)', async () => {
      const own = objects.filter((o) => /^(Cluster)?Role(Binding)?$/.test(o.kind!) && o.metadata!.name!.startsWith('dr-temporal-dr-'));
      for (const o of own) {
        created.push(o);
        await serverSideApply(o);
      }
      const serviceAccount = (name: string) => `system:serviceaccount:${home.name}:${name}`;
      const can = async (user: string, verb: string, resource: string, opts: { group?: string; subresource?: string; name?: string } = {}) => {
        const review = await clientAs(user, k8s.AuthorizationV1Api).createSelfSubjectAccessReview({
          body: { spec: { resourceAttributes: { verb, resource, group: opts.group ?? '', subresource: opts.subresource, name: opts.name, namespace: other.name } } },
        });
        return review.status!.allowed;
      };
      const agent = serviceAccount('dr-temporal-dr-node-agent');
      const worker = serviceAccount('dr-temporal-dr-worker');
      const controller = serviceAccount('dr-temporal-dr-controller');
      await waitFor('the service accounts\' bindings to take effect', 30_000, async () => (await can(agent, 'get', 'pods')) && (await can(worker, 'list', 'secrets')) && (await can(controller, 'watch', 'namespaces')));
      const decisions = {
        agent: {
          getPods: await can(agent, 'get', 'pods'),
          listPods: await can(agent, 'list', 'pods'),
          getClaims: await can(agent, 'get', 'persistentvolumeclaims'),
          getVolumes: await can(agent, 'get', 'persistentvolumes'),
          getSecrets: await can(agent, 'get', 'secrets'),
          getKeySecret: await can(agent, 'get', 'secrets', { name: 'repo-key' }),
          getOtherSecret: await can(agent, 'get', 'secrets', { name: 'db-password' }),
          listClaims: await can(agent, 'list', 'persistentvolumeclaims'),
          createPods: await can(agent, 'create', 'pods'),
          exec: await can(agent, 'create', 'pods', { subresource: 'exec' }),
        },
        worker: {
          listSecrets: await can(worker, 'list', 'secrets'),
          exec: await can(worker, 'create', 'pods', { subresource: 'exec' }),
          applyDeployments: (await can(worker, 'patch', 'deployments', { group: 'apps' })) && (await can(worker, 'create', 'deployments', { group: 'apps' })),
          deleteDeployments: await can(worker, 'delete', 'deployments', { group: 'apps' }),
          updateDeployments: await can(worker, 'update', 'deployments', { group: 'apps' }),
          deleteCollection: await can(worker, 'deletecollection', 'pods'),
          impersonate: await can(worker, 'impersonate', 'users'),
          escalateRoles: await can(worker, 'escalate', 'clusterroles', { group: 'rbac.authorization.k8s.io' }),
        },
        controller: {
          watchRestores: await can(controller, 'watch', 'restores', { group: DR_API_GROUP }),
          patchRestoreStatus: await can(controller, 'patch', 'restores', { group: DR_API_GROUP, subresource: 'status' }),
          updateRestores: await can(controller, 'update', 'restores', { group: DR_API_GROUP }),
          patchRestores: await can(controller, 'patch', 'restores', { group: DR_API_GROUP }),
          applyPlans: (await can(controller, 'create', 'drplans', { group: DR_API_GROUP })) && (await can(controller, 'patch', 'drplans', { group: DR_API_GROUP })),
          deletePlans: await can(controller, 'delete', 'drplans', { group: DR_API_GROUP }),
          watchNamespaces: await can(controller, 'watch', 'namespaces'),
          getSecrets: await can(controller, 'get', 'secrets'),
          listSecrets: await can(controller, 'list', 'secrets'),
          accessReviews: await can(controller, 'create', 'subjectaccessreviews', { group: 'authorization.k8s.io' }),
          readPods: await can(controller, 'get', 'pods'),
          impersonate: await can(controller, 'impersonate', 'users'),
        },
      };
      expect(decisions).toEqual({
        agent: { getPods: true, listPods: true, getClaims: true, getVolumes: true, getSecrets: false, getKeySecret: true, getOtherSecret: false, listClaims: false, createPods: false, exec: false },
        worker: { listSecrets: true, exec: true, applyDeployments: true, deleteDeployments: true, updateDeployments: false, deleteCollection: false, impersonate: false, escalateRoles: true },
        controller: {
          watchRestores: true,
          patchRestoreStatus: true,
          updateRestores: false,
          patchRestores: false,
          applyPlans: true,
          deletePlans: true,
          watchNamespaces: true,
          getSecrets: true,
          listSecrets: false,
          accessReviews: true,
          readPods: false,
          impersonate: false,
        },
      });
    });

    it('accepts the example plan as a DRPlan, and rejects a wrong type, a value out of its enum, an unknown field and two keys, naming the field', async () => {
      const admin = kubeConfigFor('source').makeApiClient(k8s.CustomObjectsApi);
      /** The API server's answer to a dry-run create: 200, or the error's code and message. */
      const create = (body: Record<string, unknown>) =>
        admin.createNamespacedCustomObject({ ...plans, namespace: home.name, body, dryRun: 'All', fieldValidation: 'Strict' }).then(
          () => ({ code: 200, message: '' }),
          (e) => ({ code: httpCode(e), message: String(JSON.parse(e.body).message) }),
        );
      expect(await create(examplePlan('shop'))).toEqual({ code: 200, message: '' });

      const wrongType = examplePlan('wrong-type');
      (wrongType.spec as Record<string, unknown>).rpo = 15;
      expect(await create(wrongType)).toEqual({ code: 422, message: expect.stringMatching(/spec\.rpo.*must be of type string/) });

      const badEnum = examplePlan('bad-enum');
      (badEnum.spec as { volumes: Record<string, unknown> }).volumes = { defaultMode: 'mirror' };
      expect(await create(badEnum)).toEqual({ code: 422, message: expect.stringMatching(/spec\.volumes\.defaultMode: Unsupported value: "mirror"/) });

      // kubectl's default field validation (Strict): an unknown field is refused, not dropped.
      const unknown = examplePlan('unknown-field');
      (unknown.spec as { selector: Record<string, unknown> }).selector.namespace = 'shop';
      expect(await create(unknown)).toEqual({ code: 400, message: expect.stringMatching(/unknown field "spec\.selector\.namespace"/) });

      // A zod refinement restated in CEL (scripts/crds/generate.ts), with zod's message.
      const twoKeys = examplePlan('two-keys');
      (twoKeys.spec as { store: { encryption: unknown } }).store.encryption = { keyFrom: { env: 'TDR_ENCRYPTION_KEY', secret: { namespace: 'shop', name: 'dr-key', key: 'key' } } };
      expect(await create(twoKeys)).toEqual({ code: 422, message: expect.stringMatching(/spec\.store\.encryption\.keyFrom: Invalid value: set exactly one of env, secret/) });

      // Plan names go into workflow ids: a DNS label, stricter than Kubernetes' own names.
      expect(await create(examplePlan('shop.v2'))).toEqual({ code: 422, message: expect.stringMatching(/metadata\.name/) });
    });

    it('lets each user role do what it says, and no more (impersonated users)', async () => {
      const roles = objects.filter((o) => o.kind === 'ClusterRole' && o.metadata!.name!.startsWith('temporal-dr-'));
      const bindings: k8s.KubernetesObject[] = [
        ...(['appOwner', 'viewer'] as const).map((who) => ({
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'RoleBinding',
          metadata: { name: USERS[who], namespace: home.name },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: who === 'appOwner' ? 'temporal-dr-app-owner' : 'temporal-dr-viewer' },
          subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: USERS[who] }],
        })),
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'ClusterRoleBinding',
          metadata: { name: USERS.platformAdmin },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'temporal-dr-platform-admin' },
          subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: USERS.platformAdmin }],
        } as k8s.KubernetesObject,
      ];
      for (const o of [...roles, ...bindings]) {
        created.push(o);
        await serverSideApply(o);
      }

      const appOwner = customObjectsAs(USERS.appOwner);
      const viewer = customObjectsAs(USERS.viewer);
      const admin = customObjectsAs(USERS.platformAdmin);
      const request = (kind: string, plural: string, name: string, spec: Record<string, unknown>) => ({
        group: DR_API_GROUP,
        version: DR_API_VERSION,
        plural,
        body: { apiVersion: `${DR_API_GROUP}/${DR_API_VERSION}`, kind, metadata: { name }, spec },
      });
      const restoresAcross = async (user: string) =>
        (await clientAs(user, k8s.AuthorizationV1Api).createSelfSubjectAccessReview({
          body: { spec: { resourceAttributes: { verb: 'restore-across-namespaces', resource: 'restores', group: DR_API_GROUP } } },
        })).status!.allowed;
      const policy = request('DRPolicy', 'drpolicies', 'gold', { namespaceSelector: { matchLabels: { 'dr.tier': 'gold' } }, planTemplate: { namespace: home.name, name: 'shop' } });

      created.push({ apiVersion: `${DR_API_GROUP}/${DR_API_VERSION}`, kind: 'DRPolicy', metadata: { name: 'gold' } });
      // RBAC caches bindings: the first allowed request waits for them.
      await waitFor('the app owner binding to take effect', 30_000, async () =>
        (await statusOf(() => appOwner.createNamespacedCustomObject({ ...plans, namespace: home.name, body: examplePlan('shop') }))) === 200);
      const outcomes = {
        appOwnerRestoreHere: await statusOf(() => appOwner.createNamespacedCustomObject({ ...request('Restore', 'restores', 'shop-latest', { planRef: { name: 'shop' } }), namespace: home.name })),
        appOwnerPlanElsewhere: await statusOf(() => appOwner.createNamespacedCustomObject({ ...plans, namespace: other.name, body: examplePlan('shop') })),
        appOwnerRestoreElsewhere: await statusOf(() => appOwner.createNamespacedCustomObject({ ...request('Restore', 'restores', 'shop-latest', { planRef: { name: 'shop' } }), namespace: other.name })),
        appOwnerPolicy: await statusOf(() => appOwner.createClusterCustomObject(policy)),
        appOwnerFailover: await statusOf(() => appOwner.createNamespacedCustomObject({ ...request('Failover', 'failovers', 'to-target', { planRef: { name: 'shop' }, to: 'target' }), namespace: home.name })),
        appOwnerDeletesPlan: await statusOf(() => appOwner.deleteNamespacedCustomObject({ ...plans, namespace: home.name, name: 'shop', dryRun: 'All' })),
        viewerListsPlans: await statusOf(() => viewer.listNamespacedCustomObject({ ...plans, namespace: home.name })),
        viewerCreatesPlan: await statusOf(() => viewer.createNamespacedCustomObject({ ...plans, namespace: home.name, body: examplePlan('viewer-plan') })),
        viewerListsElsewhere: await statusOf(() => viewer.listNamespacedCustomObject({ ...plans, namespace: other.name })),
        adminPolicy: await statusOf(() => admin.createClusterCustomObject(policy)),
        adminFailover: await statusOf(() => admin.createNamespacedCustomObject({ ...request('Failover', 'failovers', 'to-target', { planRef: { name: 'shop' }, to: 'target' }), namespace: home.name })),
        // What the controller asks before a Restore into another namespace: the verb, cluster-wide.
        adminRestoresAcross: await restoresAcross(USERS.platformAdmin),
        appOwnerRestoresAcross: await restoresAcross(USERS.appOwner),
      };
      expect(outcomes).toEqual({
        appOwnerRestoreHere: 200,
        appOwnerPlanElsewhere: 403,
        appOwnerRestoreElsewhere: 403,
        appOwnerPolicy: 403,
        appOwnerFailover: 403,
        appOwnerDeletesPlan: 200,
        viewerListsPlans: 200,
        viewerCreatesPlan: 403,
        viewerListsElsewhere: 403,
        adminPolicy: 200,
        adminFailover: 200,
        adminRestoresAcross: true,
        appOwnerRestoresAcross: false,
      });
    });
  });
});
