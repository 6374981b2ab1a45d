/**
 * drctl and DRPlan resources (issue 12), against the stack's "source" cluster with the chart's
 * CRDs: `drctl plan apply -n` server-side applies a plan file as a DRPlan, `plan get/list` read it
 * back, an invalid file creates nothing, and `-n` makes a command's <plan> the name of a DRPlan
 * (here `backup` and `points list`, with a worker, ending in a real recovery point).
 * Runs the built CLI (dist/): `npm run build` first.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import YAML from 'yaml';
import { DR_API_GROUP, DR_API_VERSION } from '../../shared/custom-resources';
import { generateMasterKey } from '../../activities/datapath/crypto';
import { uniqueId } from '../harness/temporal';
import { freshStore } from '../harness/store';
import { coreApi, freshNamespace, httpCode, kubeConfigFor, objectApi, waitFor, type TestNamespace } from '../harness/clusters';
import { startWorkerProcess, type TestProcess } from '../harness/processes';
import { planOfResource, type DRPlanResource } from '../../worker/controller/plans';
import { loadPlanFile } from '../../client/commands/plan';

const REPO = path.join(__dirname, '../..');
const DRCTL = path.join(REPO, 'dist/client/drctl.js');
const CRDS = path.join(REPO, 'deploy/helm/temporal-dr/crds');
const KEY_ENV = 'TDR_PLAN_CR_KEY';

type Obj = { metadata: { name: string; namespace?: string; resourceVersion?: string; managedFields?: { manager: string }[] }; spec: Record<string, unknown> };

describe('drctl with DRPlan resources (plan apply/list/get, -n)', () => {
  let ns: TestNamespace;
  let env: NodeJS.ProcessEnv;
  const tmp: string[] = [];
  const procs: TestProcess[] = [];
  const custom = () => kubeConfigFor('source').makeApiClient(k8s.CustomObjectsApi);
  const getPlan = async (name: string, namespace: string): Promise<Obj | undefined> => {
    try {
      return (await custom().getNamespacedCustomObject({ group: DR_API_GROUP, version: DR_API_VERSION, plural: 'drplans', namespace, name })) as Obj;
    } catch (e) {
      if (httpCode(e) === 404) return undefined;
      throw e;
    }
  };
  const drctl = (...args: string[]) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(process.execPath, [DRCTL, ...args], { env, timeout: 300_000 }, (err, stdout, stderr) => {
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      });
    });
  const writeTmp = (name: string, text: string) => {
    const file = path.join(process.env.TDR_TEST_STACK_DIR ?? '/tmp', `${uniqueId(name)}.yaml`);
    writeFileSync(file, text);
    tmp.push(file);
    return file;
  };

  beforeAll(async () => {
    env = { ...process.env, [KEY_ENV]: generateMasterKey() };
    ns = await freshNamespace('source', 'plan-cr');
    // The chart's CRDs, server-side applied as `kubectl apply --server-side -f deploy/helm/temporal-dr/crds/` would.
    const ext = kubeConfigFor('source').makeApiClient(k8s.ApiextensionsV1Api);
    const crds = readdirSync(CRDS).map((f) => YAML.parse(readFileSync(path.join(CRDS, f), 'utf8')) as k8s.V1CustomResourceDefinition);
    // Another test file of the run may have just deleted them: wait until none is terminating.
    await waitFor('no temporal-dr CRD terminating', 120_000, async () => {
      for (const c of crds) {
        const found = await ext.readCustomResourceDefinition({ name: c.metadata!.name! }).catch((e) => (httpCode(e) === 404 ? undefined : Promise.reject(e)));
        if (found?.metadata?.deletionTimestamp) return false;
      }
      return true;
    });
    for (const c of crds) await objectApi('source').patch(c as k8s.KubernetesObject, undefined, undefined, 'tdr-plan-cr-test', true, k8s.PatchStrategy.ServerSideApply);
    await waitFor('temporal-dr CRDs established', 60_000, async () => {
      for (const c of crds) {
        const found = await ext.readCustomResourceDefinition({ name: c.metadata!.name! });
        if (!found.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True')) return false;
      }
      return true;
    });
  });

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.kill()));
    await ns?.cleanup().catch(() => undefined);
    for (const f of tmp) rmSync(f, { force: true });
  });

  /** examples/plan.yaml, every namespace field of which names the test namespace (a DRPlan reaches only its own). */
  const examplePlan = () => readFileSync(path.join(REPO, 'examples/plan.yaml'), 'utf8').replace(/namespace: shop\b/g, `namespace: ${ns.name}`).replace('namespaces: [shop]', `namespaces: [${ns.name}]`);

  it('applies the example plan as a DRPlan with the same name and spec, then reports configured or unchanged', async () => {
    const text = examplePlan();
    const file = writeTmp('example-plan', text);
    const first = await drctl('plan', 'apply', file, '-n', ns.name, '--context', 'source');
    expect(first).toMatchObject({ code: 0, stdout: `drplan.${DR_API_GROUP}/shop created in namespace ${ns.name} (context source)\n` });
    const obj = (await getPlan('shop', ns.name))!;
    // The file's spec, plus the defaults the CRD's schema fills in (hook and check timeouts)...
    expect(obj.spec).toMatchObject((YAML.parse(text) as { spec: Record<string, unknown> }).spec);
    // ...which are the plan's own defaults: the DRPlan is the same plan as the file.
    const check = planOfResource(obj as unknown as DRPlanResource);
    expect(check.ok && check.plan).toEqual(loadPlanFile(file));
    expect(obj.metadata.managedFields?.map((f) => f.manager)).toContain('drctl');

    const again = await drctl('plan', 'apply', file, '-n', ns.name, '--context', 'source');
    expect(again).toMatchObject({ code: 0, stdout: `drplan.${DR_API_GROUP}/shop unchanged in namespace ${ns.name} (context source)\n` });
    const changed = writeTmp('example-plan', text.replace('keepLast: 3', 'keepLast: 5'));
    const third = await drctl('plan', 'apply', changed, '-n', ns.name, '--context', 'source');
    expect(third).toMatchObject({ code: 0, stdout: `drplan.${DR_API_GROUP}/shop configured in namespace ${ns.name} (context source)\n` });
    expect(((await getPlan('shop', ns.name))!.spec.retention as { keepLast: number }).keepLast).toBe(5);
  });

  it('lists and gets DRPlans with their Protected condition, in text, json and name', async () => {
    const list = await drctl('plan', 'list', '-n', ns.name, '--context', 'source');
    expect(list.code).toBe(0);
    expect(list.stdout.split('\n')[0]).toMatch(/^NAME\s+PROTECTED\s+REASON\s+LAST POINT\s+SCHEDULES$/);
    // No controller runs here: the status is not reconciled yet.
    expect(list.stdout.split('\n')[1]).toMatch(/^shop\s+Unknown\s+NotReconciled\s+-\s+-$/);
    const names = await drctl('plan', 'list', '-n', ns.name, '--context', 'source', '-o', 'name');
    expect(names).toMatchObject({ code: 0, stdout: 'shop\n' });
    const get = await drctl('plan', 'get', 'shop', '-n', ns.name, '--context', 'source', '-o', 'json');
    expect(get.code).toBe(0);
    expect(JSON.parse(get.stdout)).toEqual({ name: 'shop', namespace: ns.name, protected: { status: 'Unknown', reason: 'NotReconciled' }, schedules: [], generation: 2 });
    const text = await drctl('plan', 'get', 'shop', '-n', ns.name, '--context', 'source');
    expect(text.stdout).toMatch(new RegExp(`^DRPlan ${ns.name}/shop\\n  protected:   Unknown \\(NotReconciled\\)`));
    const missing = await drctl('plan', 'get', 'nope', '-n', ns.name, '--context', 'source');
    expect(missing).toMatchObject({ code: 3, stderr: `drctl: cluster source: DRPlan nope not found in namespace ${ns.name}; \`drctl plan list -n ${ns.name}\` lists them\n` });
  });

  it('refuses an invalid file or one reaching another namespace, naming the field, and creates nothing', async () => {
    const invalid = writeTmp('bad-plan', examplePlan().replace('name: shop', 'name: bad-plan').replace('defaultMode: copy', 'defaultMode: teleport'));
    const r = await drctl('plan', 'apply', invalid, '-n', ns.name, '--context', 'source');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/the plan is invalid/);
    expect(r.stderr).toMatch(/spec\.volumes\.defaultMode/);
    const elsewhere = writeTmp('far-plan', examplePlan().replace('name: shop', 'name: far-plan').replace(`namespaces: [${ns.name}]`, 'namespaces: [kube-system]'));
    const far = await drctl('plan', 'apply', elsewhere, '-n', ns.name, '--context', 'source');
    expect(far.code).toBe(2);
    expect(far.stderr).toMatch(/spec\.selector\.namespaces\[0\]: "kube-system" is not this DRPlan's namespace/);
    expect(await getPlan('bad-plan', ns.name)).toBeUndefined();
    expect(await getPlan('far-plan', ns.name)).toBeUndefined();
    const noNs = await drctl('plan', 'apply', invalid);
    expect(noNs).toMatchObject({ code: 2, stderr: 'drctl: plan apply: give the namespace of the DRPlan resources with -n/--namespace <namespace>\n' });
  });

  it('names the verb and the namespace when the identity may not, on the kubeconfig\'s current context by default', async () => {
    // The stack's kubeconfig, its "source" user impersonating someone with no role, "source" current.
    const kc = YAML.parse(readFileSync(env.TDR_KUBECONFIG!, 'utf8')) as { 'current-context'?: string; contexts: { name: string; context: { user: string } }[]; users: { name: string; user: Record<string, unknown> }[] };
    const user = kc.contexts.find((c) => c.name === 'source')!.context.user;
    kc.users = kc.users.map((u) => (u.name === user ? { ...u, user: { ...u.user, as: `tdr-nobody-${Math.random().toString(16).slice(2, 8)}` } } : u));
    kc['current-context'] = 'source';
    const nobody = writeTmp('nobody-kubeconfig', YAML.stringify(kc));
    const r = await drctl('--kubeconfig', nobody, 'plan', 'apply', writeTmp('example-plan', examplePlan()), '-n', ns.name);
    expect(r).toMatchObject({ code: 2, stderr: expect.stringMatching(new RegExp(`^drctl: cluster source: forbidden to get DRPlan shop in namespace ${ns.name}; grant the "get" verb on drplans\\.dr\\.temporal-dr\\.io in namespace ${ns.name}`)) });
    const list = await drctl('--kubeconfig', nobody, 'plan', 'list', '-n', ns.name);
    expect(list).toMatchObject({ code: 2, stderr: expect.stringMatching(`forbidden to list DRPlans in namespace ${ns.name}`) });
  });

  it('backs up and lists points of a DRPlan named with -n, through a worker', async () => {
    const taskQueue = uniqueId('plan-cr');
    procs.push(startWorkerProcess(taskQueue, { [KEY_ENV]: env[KEY_ENV] }));
    env = { ...env, TEMPORAL_TASK_QUEUE: taskQueue };
    await coreApi('source').createNamespacedConfigMap({ namespace: ns.name, body: { metadata: { name: 'settings' }, data: { colour: 'blue' } } });
    const { ref } = await freshStore('plan-cr');
    const name = uniqueId('cr').toLowerCase();
    const file = writeTmp(
      name,
      YAML.stringify({
        apiVersion: 'temporal-dr/v1',
        kind: 'DRPlan',
        metadata: { name },
        spec: {
          source: { context: 'source' },
          selector: { namespaces: [ns.name] },
          store: { url: `s3://${ref.bucket}/${ref.prefix}`, endpoint: ref.endpoint, forcePathStyle: true, encryption: { keyFrom: { env: KEY_ENV } } },
        },
      }),
    );
    expect(await drctl('plan', 'apply', file, '-n', ns.name, '--context', 'source')).toMatchObject({ code: 0 });
    rmSync(file); // from here on, the cluster's DRPlan is the only copy

    const b = await drctl('backup', name, '-n', ns.name, '--context', 'source');
    expect(b.stderr).not.toMatch(/drctl:/);
    expect(b.code).toBe(0);
    expect(b.stdout).toMatch(new RegExp(`recovery point ${name}/\\d{8}T\\d{6}Z-\\w+ complete`));
    const list = await drctl('points', 'list', name, '-n', ns.name, '--context', 'source', '-o', 'json');
    expect(list.code).toBe(0);
    const points = JSON.parse(list.stdout) as { planName: string; status: string; verified?: boolean }[];
    expect(points).toHaveLength(1);
    expect(points[0]).toMatchObject({ planName: name, status: 'complete', verified: true });

    // A name that is no DRPlan there: not found, naming the namespace; a file with -n: a usage error.
    expect(await drctl('backup', 'nope', '-n', ns.name, '--context', 'source')).toMatchObject({ code: 3, stderr: expect.stringMatching(`DRPlan nope not found in namespace ${ns.name}`) });
    expect(await drctl('backup', 'plan.yaml', '-n', ns.name)).toMatchObject({ code: 2, stderr: expect.stringMatching(/with -n\/--namespace, <plan> is the name of a DRPlan/) });
  });
});
