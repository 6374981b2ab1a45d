/**
 * The Kubernetes-native API end to end on the "source" cluster: the chart's CRDs, admission policy
 * and user roles installed; the controller, the orchestrator worker and a node agent as real
 * processes. An app owner (an impersonated user bound to temporal-dr-app-owner in one namespace
 * only) protects an application with a DRPlan on a one-minute cron and restores it with a Restore;
 * a Restore aimed at another namespace is refused; a namespace labelled later comes under a
 * DRPolicy; and a controller SIGKILLed right before or after starting a request's workflow starts
 * it exactly once.
 */
import * as k8s from '@kubernetes/client-node';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import YAML from 'yaml';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { DR_API_GROUP, DR_API_VERSION } from '../../shared/custom-resources';
import { generateMasterKey } from '../../activities/datapath/crypto';
import { listAll } from '../../activities/store/object-store';
import type { S3ObjectStore } from '../../activities/store/s3-object-store';
import type { StoreRef } from '../../shared/store-ref';
import { attachTestEnv, uniqueId } from '../harness/temporal';
import { freshStore } from '../harness/store';
import { appsApi, coreApi, freshNamespace, httpCode, kubeConfigFor, kubeconfigPath, objectApi, waitFor, waitForWorkloadsReady, type TestNamespace } from '../harness/clusters';
import { startAgentProcess, startControllerProcess, startWorkerProcess, type TestProcess } from '../harness/processes';
import { hashTree, NODES, pvcDir, uploadsManifests, writeFiles } from './app-fixture';
import { applyObjects } from '../harness/clusters';
import { backupScheduleIdOf, requestWorkflowId, REQUESTED_BY_ANNOTATION } from '../../worker/controller/model';

const REPO = path.join(__dirname, '../..');
const CHART = path.join(REPO, 'deploy/helm/temporal-dr');
const KEY_ENV = 'TDR_CTL_E2E_KEY';
const API = `${DR_API_GROUP}/${DR_API_VERSION}`;
const ALICE = `tdr-ctl-alice-${Math.random().toString(16).slice(2, 8)}`;

function binFrom(script: string, variable: string, env?: string): string {
  if (env && process.env[env]) return process.env[env]!;
  const out = execFileSync('bash', [path.join(REPO, 'scripts/stack', script)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 20 * 60_000 });
  return new RegExp(`^${variable}=(.+)$`, 'm').exec(out)![1]!;
}
const helmBin = () => binFrom('build-helm.sh', 'HELM_BIN', 'HELM_BIN');
const kubectlBin = () => binFrom('build-kube.sh', 'KUBECTL', 'KUBECTL');

/** kubectl against "source" as the stack's admin, or as `as` (impersonated). */
function kubectl(input: string, args: string[], as?: string): string {
  return execFileSync(kubectlBin(), ['--kubeconfig', kubeconfigPath(), '--context', 'source', ...(as ? ['--as', as] : []), ...args], {
    encoding: 'utf8',
    input,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}
const applyYaml = (objects: object[], as?: string) =>
  kubectl(objects.map((o) => YAML.stringify(o)).join('---\n'), ['apply', '--server-side', '--force-conflicts', '--field-manager=tdr-ctl-e2e', '-f', '-'], as);

const custom = () => kubeConfigFor('source').makeApiClient(k8s.CustomObjectsApi);
type Obj = { metadata: { name: string; namespace?: string; uid: string; generation: number; annotations?: Record<string, string> }; spec: Record<string, unknown>; status?: Record<string, any> };
const PLURAL: Record<string, string> = { DRPlan: 'drplans', DRPolicy: 'drpolicies', Backup: 'backups', Restore: 'restores' };
async function getCr(kind: string, name: string, namespace?: string): Promise<Obj | undefined> {
  const base = { group: DR_API_GROUP, version: DR_API_VERSION, plural: PLURAL[kind], name };
  try {
    return (namespace ? await custom().getNamespacedCustomObject({ ...base, namespace }) : await custom().getClusterCustomObject(base)) as Obj;
  } catch (e) {
    if (httpCode(e) === 404) return undefined;
    throw e;
  }
}
async function waitForCr(kind: string, name: string, namespace: string | undefined, what: string, timeoutMs: number, ok: (o: Obj) => boolean): Promise<Obj> {
  let last: Obj | undefined;
  await waitFor(`${kind} ${namespace ?? ''}/${name}: ${what}`, timeoutMs, async () => {
    last = await getCr(kind, name, namespace);
    return !!last && ok(last);
  }, () => `last seen: ${JSON.stringify(last?.status)}`);
  return last!;
}

describe('the controller: custom resources become workflows and Schedules', () => {
  let env: TestWorkflowEnvironment;
  let app: TestNamespace;
  let other: TestNamespace;
  let templates: TestNamespace;
  let late: TestNamespace | undefined;
  let ref: StoreRef;
  let store: S3ObjectStore;
  let files: Record<string, string>;
  let taskQueue: string;
  let procs: TestProcess[] = [];
  let controller: TestProcess;
  const policyName = uniqueId('ctl-gold').toLowerCase();
  const tier = `gold-${Math.random().toString(16).slice(2, 8)}`;
  const installed: k8s.KubernetesObject[] = [];
  const procEnv = () => ({ [KEY_ENV]: process.env[KEY_ENV]! });
  const startController = (extra: NodeJS.ProcessEnv = {}) => startControllerProcess('source', taskQueue, { ...procEnv(), TDR_CONTROLLER_RESYNC: '3s', ...extra });

  const planSpec = (ns: string, extra: Record<string, unknown> = {}) => ({
    source: { context: 'source' },
    selector: { namespaces: [ns] },
    store: { url: `s3://${ref.bucket}/${ref.prefix}`, endpoint: ref.endpoint, forcePathStyle: true, encryption: { keyFrom: { env: KEY_ENV } } },
    ...extra,
  });
  const planName = 'app';

  beforeAll(async () => {
    process.env[KEY_ENV] = generateMasterKey();
    env = await attachTestEnv();
    taskQueue = uniqueId('ctl');
    [app, other, templates] = await Promise.all([freshNamespace('source', 'ctl-app'), freshNamespace('source', 'ctl-other'), freshNamespace('source', 'ctl-templates')]);
    ({ ref, store } = await freshStore('ctl'));

    // The chart's CRDs, admission policy and user roles, rendered by helm and applied as a user would.
    const rendered = YAML.parseAllDocuments(
      execFileSync(helmBin(), ['template', 'dr', CHART, '--namespace', 'temporal-dr', '--include-crds', '--set', 'clusterName=source'], { encoding: 'utf8' }),
    ).map((d) => d.toJSON() as k8s.KubernetesObject).filter(Boolean);
    const crds = rendered.filter((o) => o.kind === 'CustomResourceDefinition');
    // Another test file of the run may have just deleted them: wait until none is terminating.
    const ext = kubeConfigFor('source').makeApiClient(k8s.ApiextensionsV1Api);
    await waitFor('no temporal-dr CRD terminating', 120_000, async () => {
      for (const c of crds) {
        const found = await ext.readCustomResourceDefinition({ name: c.metadata!.name! }).catch((e) => (httpCode(e) === 404 ? undefined : Promise.reject(e)));
        if (found?.metadata?.deletionTimestamp) return false;
      }
      return true;
    });
    applyYaml(crds);
    kubectl('', ['wait', '--for=condition=Established', '--timeout=60s', ...crds.map((c) => `crd/${c.metadata!.name}`)]);
    const policy = rendered.filter((o) => /^MutatingAdmissionPolicy(Binding)?$/.test(o.kind!));
    const roles = rendered.filter((o) => o.kind === 'ClusterRole' && o.metadata!.name!.startsWith('temporal-dr-'));
    expect(policy).toHaveLength(2);
    expect(roles).toHaveLength(3);
    applyYaml([...policy, ...roles]);
    installed.push(...policy, ...roles);
    const binding = {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'alice-dr', namespace: app.name },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'temporal-dr-app-owner' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'User', name: ALICE }],
    };
    applyYaml([binding]);
    // The policy is in force once a dry-run create as alice comes back stamped with her name.
    await waitFor('the admission policy and alice\'s binding to take effect', 60_000, async () => {
      const out = kubectl(YAML.stringify({ apiVersion: API, kind: 'Backup', metadata: { name: 'probe', namespace: app.name, annotations: { [REQUESTED_BY_ANNOTATION]: 'forged' } }, spec: { planRef: { name: 'x' } } }), ['create', '--dry-run=server', '-o', 'json', '-f', '-'], ALICE);
      return JSON.parse(out).metadata.annotations?.[REQUESTED_BY_ANNOTATION] === ALICE;
    });

    // The application: a claim with files and the Deployment that mounts it, and a ConfigMap.
    await applyObjects('source', [...uploadsManifests('local-path'), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'settings' }, data: { mode: 'production' } } as k8s.KubernetesObject], app.name);
    await waitForWorkloadsReady('source', app.name, 120_000);
    files = writeFiles(await pvcDir('source', app.name, 'uploads'), 2 * 1024 * 1024);

    procs = [startWorkerProcess(taskQueue, procEnv()), startAgentProcess('source', NODES, procEnv())];
    controller = startController();
  });

  afterAll(async () => {
    // Everything with a finalizer goes while the controller still runs (it removes the schedules first).
    const api = custom();
    const del = (plural: string, name: string, namespace?: string) =>
      (namespace
        ? api.deleteNamespacedCustomObject({ group: DR_API_GROUP, version: DR_API_VERSION, plural, name, namespace })
        : api.deleteClusterCustomObject({ group: DR_API_GROUP, version: DR_API_VERSION, plural, name })
      ).catch(() => undefined);
    await del('drpolicies', policyName);
    for (const ns of [app, templates, late].filter(Boolean) as TestNamespace[]) {
      const plans = (await api.listNamespacedCustomObject({ group: DR_API_GROUP, version: DR_API_VERSION, plural: 'drplans', namespace: ns.name }).catch(() => ({ items: [] }))) as { items: Obj[] };
      for (const p of plans.items) await del('drplans', p.metadata.name, ns.name);
      await waitFor(`DRPlans of ${ns.name} gone`, 60_000, async () => {
        const left = (await api.listNamespacedCustomObject({ group: DR_API_GROUP, version: DR_API_VERSION, plural: 'drplans', namespace: ns.name })) as { items: Obj[] };
        return left.items.length === 0;
      }).catch((e) => console.warn(String(e)));
    }
    await Promise.all([controller, ...procs].filter(Boolean).map((p) => p.kill()));
    const objects = objectApi('source');
    for (const o of installed.reverse()) await objects.delete(o).catch(() => undefined);
    await Promise.all([app, other, templates, late].filter(Boolean).map((n) => n!.cleanup().catch(() => undefined)));
    await env?.teardown();
  });

  it('a DRPlan applied by an app owner gets a backup Schedule; a scheduled backup runs and status.lastPoint is set', async () => {
    applyYaml([{ apiVersion: API, kind: 'DRPlan', metadata: { name: planName, namespace: app.name }, spec: planSpec(app.name, { backup: { schedule: '* * * * *' }, deletionPolicy: 'Delete' }) }], ALICE);
    const scheduled = await waitForCr('DRPlan', planName, app.name, 'schedule made', 60_000, (o) => (o.status?.schedules?.length ?? 0) > 0);
    expect(scheduled.status!.conditions).toEqual([expect.objectContaining({ type: 'Protected', status: 'True', reason: 'Scheduled' })]);
    expect(scheduled.status!.observedGeneration).toBe(scheduled.metadata.generation);
    const scheduleId = backupScheduleIdOf(scheduled.metadata as never);
    expect(scheduled.status!.schedules).toEqual([scheduleId]);
    const description = await env.client.schedule.getHandle(scheduleId).describe();
    expect(description.spec.calendars?.length).toBe(1);
    // Every minute: the first scheduled backup ends within about two.
    const withPoint = await waitForCr('DRPlan', planName, app.name, 'lastPoint set by a scheduled backup', 200_000, (o) => !!o.status?.lastPoint?.id);
    expect(withPoint.status!.lastPoint.id).toMatch(/^\d{8}T\d{6}Z-/i);
    const keys = (await listAll(store, `points/${planName}/`)).map((o) => o.key);
    expect(keys).toContain(`points/${planName}/${withPoint.status!.lastPoint.id}/catalog.json`);
  }, 300_000);

  it('a Restore by the app owner brings the application back into its namespace, files byte for byte', async () => {
    // The application is lost: its Deployment, claim and ConfigMap deleted.
    await appsApi('source').deleteNamespacedDeployment({ namespace: app.name, name: 'uploads' });
    await coreApi('source').deleteNamespacedConfigMap({ namespace: app.name, name: 'settings' });
    await waitFor('the app\'s pods gone', 60_000, async () => (await coreApi('source').listNamespacedPod({ namespace: app.name })).items.length === 0);
    await coreApi('source').deleteNamespacedPersistentVolumeClaim({ namespace: app.name, name: 'uploads' });
    await waitFor('the claim gone', 60_000, async () => coreApi('source').readNamespacedPersistentVolumeClaim({ namespace: app.name, name: 'uploads' }).then(() => false, (e) => httpCode(e) === 404));

    applyYaml([{ apiVersion: API, kind: 'Restore', metadata: { name: 'bring-back', namespace: app.name }, spec: { planRef: { name: planName }, point: 'latest', existingPolicy: 'skip' } }], ALICE);
    const done = await waitForCr('Restore', 'bring-back', app.name, 'Succeeded or Failed', 240_000, (o) => ['Succeeded', 'Failed', 'Refused'].includes(o.status?.phase));
    expect(done.status).toMatchObject({ phase: 'Succeeded', workflowId: requestWorkflowId('Restore', done.metadata as never), result: expect.stringMatching(/^restored /) });
    expect(done.status!.temporalUiUrl).toContain(encodeURIComponent(done.status!.workflowId));
    expect(done.metadata.annotations?.[REQUESTED_BY_ANNOTATION]).toBe(ALICE);
    await waitForWorkloadsReady('source', app.name, 120_000);
    expect((await coreApi('source').readNamespacedConfigMap({ namespace: app.name, name: 'settings' })).data).toEqual({ mode: 'production' });
    expect(hashTree(await pvcDir('source', app.name, 'uploads'))).toEqual(files);
  }, 360_000);

  it('a Restore aimed at another namespace ends Refused, naming the reason and the fix; no workflow starts', async () => {
    applyYaml([{ apiVersion: API, kind: 'Restore', metadata: { name: 'elsewhere', namespace: app.name }, spec: { planRef: { name: planName }, targetNamespace: other.name } }], ALICE);
    const refused = await waitForCr('Restore', 'elsewhere', app.name, 'Refused', 60_000, (o) => !!o.status?.phase);
    expect(refused.status!.phase).toBe('Refused');
    expect(refused.status!.conditions).toEqual([
      expect.objectContaining({ type: 'Accepted', status: 'False', reason: 'Forbidden', message: expect.stringMatching(new RegExp(`${ALICE} may not restore into namespace ${other.name}.*restore-across-namespaces`)) }),
    ]);
    const id = requestWorkflowId('Restore', refused.metadata as never);
    await expect(env.client.workflow.getHandle(id).describe()).rejects.toThrow(/not found/i);
    // The requester cannot be forged: an update that names someone else keeps the recorded one.
    expect(refused.metadata.annotations?.[REQUESTED_BY_ANNOTATION]).toBe(ALICE);
    kubectl('', ['annotate', '--overwrite', '-n', app.name, 'restores.dr.temporal-dr.io/elsewhere', `${REQUESTED_BY_ANNOTATION}=system:admin`], ALICE);
    const after = (await getCr('Restore', 'elsewhere', app.name))!;
    expect(after.metadata.annotations?.[REQUESTED_BY_ANNOTATION]).toBe(ALICE);
    expect(after.status!.phase).toBe('Refused');
  });

  it('a namespace labelled later comes under a DRPolicy: a plan materialised, listed in status, its backup Schedule made', async () => {
    // The template, in a namespace of its own, made by the platform (the admin here).
    applyYaml([
      { apiVersion: API, kind: 'DRPlan', metadata: { name: 'gold', namespace: templates.name }, spec: planSpec(templates.name, { backup: { schedule: '*/5 * * * *' } }) },
      { apiVersion: API, kind: 'DRPolicy', metadata: { name: policyName }, spec: { namespaceSelector: { matchLabels: { 'tdr-ctl-e2e/tier': tier } }, planTemplate: { namespace: templates.name, name: 'gold' } } },
    ]);
    const template = await waitForCr('DRPlan', 'gold', templates.name, 'seen as a template', 60_000, (o) => o.status?.conditions?.[0]?.reason === 'Template');
    expect(template.status!.schedules).toEqual([]);
    await waitForCr('DRPolicy', policyName, undefined, 'status written', 60_000, (o) => o.status?.protectedCount === 0);

    late = await freshNamespace('source', 'ctl-late');
    await coreApi('source').patchNamespace({ name: late.name, body: { metadata: { labels: { 'tdr-ctl-e2e/tier': tier } } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    const policy = await waitForCr('DRPolicy', policyName, undefined, `lists ${late.name}`, 60_000, (o) => (o.status?.protectedNamespaces ?? []).includes(late!.name));
    expect(policy.status).toMatchObject({ protectedNamespaces: [late.name], protectedCount: 1, conditions: [expect.objectContaining({ type: 'Ready', status: 'True' })] });
    const materialised = await waitForCr('DRPlan', `${policyName}-${late.name}`, late.name, 'scheduled', 60_000, (o) => (o.status?.schedules?.length ?? 0) > 0);
    expect(materialised.spec.selector).toEqual({ namespaces: [late.name] });
    expect(materialised.status!.conditions![0]).toMatchObject({ type: 'Protected', status: 'True' });
    await env.client.schedule.getHandle(materialised.status!.schedules[0]).describe();
  });

  it.each(['hang-before-start', 'hang-after-start'])('a controller SIGKILLed at %s starts the request\'s workflow exactly once', async (fault) => {
    // No scheduled backup beside the requests: editing the plan removes its Schedule.
    const before = (await getCr('DRPlan', planName, app.name))!;
    applyYaml([{ apiVersion: API, kind: 'DRPlan', metadata: { name: planName, namespace: app.name }, spec: planSpec(app.name, { deletionPolicy: 'Delete' }) }], ALICE);
    const edited = await waitForCr('DRPlan', planName, app.name, 'schedule removed', 60_000, (o) => o.status?.observedGeneration === o.metadata.generation && o.status?.schedules?.length === 0);
    expect(edited.metadata.generation).toBeGreaterThanOrEqual(before.metadata.generation);
    await expect(env.client.schedule.getHandle(backupScheduleIdOf(before.metadata as never)).describe()).rejects.toThrow();

    await controller.kill();
    controller = startController({ TDR_CONTROLLER_FAULT: fault });
    const name = `crash-${fault.split('-')[1]}`;
    applyYaml([{ apiVersion: API, kind: 'Backup', metadata: { name, namespace: app.name }, spec: { planRef: { name: planName } } }], ALICE);
    await waitFor(`the controller to reach ${fault}`, 60_000, async () => controller.log().includes(`fault ${fault}`), () => controller.log());
    await controller.kill('SIGKILL');
    const request = (await getCr('Backup', name, app.name))!;
    expect(request.status?.workflowId).toBeUndefined(); // killed before any status was written
    const workflowId = requestWorkflowId('Backup', request.metadata as never);

    controller = startController();
    const done = await waitForCr('Backup', name, app.name, 'Succeeded', 180_000, (o) => ['Succeeded', 'Failed'].includes(o.status?.phase));
    expect(done.status).toMatchObject({ phase: 'Succeeded', workflowId, result: expect.stringMatching(/^point /) });
    const runs = async () => {
      const ids: string[] = [];
      for await (const w of env.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) ids.push(w.runId);
      return ids;
    };
    await waitFor('the run in visibility', 30_000, async () => (await runs()).length > 0);
    expect(await runs()).toEqual([done.status!.runId]);
  }, 300_000);

  it('deleting the DRPlan removes its Schedules, and with deletionPolicy Delete its points', async () => {
    const plan = (await getCr('DRPlan', planName, app.name))!;
    expect((await listAll(store, `points/${planName}/`)).some((o) => o.key.endsWith('/catalog.json'))).toBe(true);
    await custom().deleteNamespacedCustomObject({ group: DR_API_GROUP, version: DR_API_VERSION, plural: 'drplans', name: planName, namespace: app.name });
    await waitFor('the DRPlan gone (finalizer released)', 60_000, async () => !(await getCr('DRPlan', planName, app.name)));
    expect(plan.metadata.uid).toBeTruthy();
    expect(await listAll(store, `points/${planName}/`)).toEqual([]);
  });
});
