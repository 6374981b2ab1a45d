/**
 * What an operator sees when a backup cannot succeed: a clear, typed error naming the object and
 * the fix, a point marked failed, and never a catalog that claims a complete point.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as k8s from '@kubernetes/client-node';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { WorkflowFailedError } from '@temporalio/client';
import { parse, stringify } from 'yaml';
import { backup } from '../../workflows';
import { planToStoreRef, validatePlan, type Plan } from '../../shared/plan';
import { listPoints } from '../../activities/catalog/points';
import { openStore } from '../../activities/store/open-store';
import { generateMasterKey } from '../../activities/datapath/crypto';
import { attachTestEnv, uniqueId } from '../harness/temporal';
import { freshStore } from '../harness/store';
import { coreApi, freshNamespace, kubeconfigPath, type TestNamespace } from '../harness/clusters';
import { startAgentProcess, startWorkerProcess, type TestProcess } from '../harness/processes';
import { deployShop, NODES, shopPlan } from './app-fixture';
import { sample } from '../harness/metrics';
import { freePort } from '../stack/postgres';

const KEY_ENV = 'TDR_ERR_KEY';

describe('backup failures are clear and never leave a complete-looking point', () => {
  let env: TestWorkflowEnvironment;
  let ns: TestNamespace;
  let base: Plan;
  let taskQueue: string;
  const procs: TestProcess[] = [];
  let metricsAddress: string;

  const run = async (plan: Plan, queue = taskQueue) => {
    const err = await env.client.workflow.execute(backup, { taskQueue: queue, workflowId: uniqueId('backup-err'), args: [{ plan }] }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    const cause = (err as WorkflowFailedError).cause as Error & { cause?: Error & { type?: string }; type?: string };
    const leaf = cause.cause ?? cause;
    const points = await listPoints(openStore(planToStoreRef(plan)), plan.metadata.name);
    // Whatever failed, nothing claims to be a complete point.
    expect(points.filter((p) => p.status === 'complete')).toEqual([]);
    return { message: leaf.message, type: (leaf as { type?: string }).type ?? cause.type, points };
  };
  const withHook = (name: string, pre: Record<string, unknown>) =>
    validatePlan({
      ...base,
      metadata: { name: uniqueId(name).toLowerCase() },
      spec: { ...base.spec, hooks: [{ name, podSelector: { namespace: ns.name, matchLabels: { 'app.kubernetes.io/name': 'db' } }, pre }] },
    });

  beforeAll(async () => {
    process.env[KEY_ENV] = generateMasterKey();
    env = await attachTestEnv();
    ns = await freshNamespace('source', 'errors');
    await deployShop(ns.name, 1024 * 1024);
    const { ref } = await freshStore('errors');
    base = shopPlan(uniqueId('errors').toLowerCase(), ns.name, ref, KEY_ENV);
    taskQueue = uniqueId('errors');
    metricsAddress = `127.0.0.1:${await freePort()}`;
    procs.push(startWorkerProcess(taskQueue, { [KEY_ENV]: process.env[KEY_ENV]!, TDR_METRICS_ADDRESS: metricsAddress }), startAgentProcess('source', NODES, { [KEY_ENV]: process.env[KEY_ENV]! }));
  });

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.kill()));
    await ns?.cleanup().catch(() => undefined);
    await env?.teardown();
  });

  it('a pre hook that fails stops the backup with its exit code and output', async () => {
    const plan = withHook('exit3', { command: ['sh', '-c', 'echo broken >&2; exit 3'], timeout: '20s' });
    const r = await run(plan);
    expect(r.type).toBe('HookFailedError');
    expect(r.message).toMatch(/hook exit3 \(pre\) failed in pod db-0, container postgres \(exit 3\).*broken/);
    expect(r.points.map((p) => p.status)).toEqual(['failed']);
    // Counted where the alert rules look: the failed hook step, and the failed backup (DrBackupFailed).
    const metrics = await (await fetch(`http://${metricsAddress}/metrics`)).text();
    expect(sample(metrics, 'dr_hook_failures_total', { plan: plan.metadata.name, hook: 'exit3', phase: 'pre' })).toBe(1);
    expect(sample(metrics, 'dr_runs_total', { plan: plan.metadata.name, operation: 'backup', outcome: 'failed' })).toBe(1);
  });

  it('a pre hook that hangs is stopped at its timeout', async () => {
    const r = await run(withHook('hang', { command: ['sleep', '60'], timeout: '2s' }));
    expect(r.message).toMatch(/hook hang \(pre\) timed out in pod db-0/);
  });

  it('a wrong encryption key is refused before anything is written', async () => {
    const other = uniqueId('wrongkey');
    const wrongQueue = uniqueId('wrongkey');
    // First a good point with the right key creates the repository...
    await env.client.workflow.execute(backup, { taskQueue, workflowId: uniqueId('backup-ok'), args: [{ plan: base }] });
    // ...then a worker whose variable holds another key.
    procs.push(startWorkerProcess(wrongQueue, { [KEY_ENV]: generateMasterKey() }));
    const r = await run(validatePlan({ ...base, metadata: { name: other.toLowerCase() } }), wrongQueue);
    expect(r.message).toMatch(/encryption key does not match the repository/);
  });

  it('missing RBAC names the verb and the resource to grant', async () => {
    // A ServiceAccount that may only read ConfigMaps in the namespace, as its own kubeconfig context.
    await coreApi('source').createNamespacedServiceAccount({ namespace: ns.name, body: { metadata: { name: 'limited' } } });
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(kubeconfigPath());
    const token = await coreApi('source').createNamespacedServiceAccountToken({ namespace: ns.name, name: 'limited', body: { spec: { audiences: [], expirationSeconds: 3600 } } });
    const file = path.join(process.env.TDR_TEST_STACK_DIR!, 'limited-kubeconfig');
    const doc = parse(readFileSync(kubeconfigPath(), 'utf8'));
    doc.users.push({ name: 'limited', user: { token: token.status!.token } });
    doc.contexts.push({ name: 'limited', context: { cluster: doc.contexts.find((c: { name: string }) => c.name === 'source').context.cluster, user: 'limited' } });
    writeFileSync(file, stringify(doc));
    const limitedQueue = uniqueId('limited');
    procs.push(startWorkerProcess(limitedQueue, { [KEY_ENV]: process.env[KEY_ENV]!, TDR_KUBECONFIG: file }));
    const plan = validatePlan({ ...base, metadata: { name: uniqueId('limited').toLowerCase() }, spec: { ...base.spec, source: { context: 'limited', clusterName: 'source' } } });
    const r = await run(plan, limitedQueue);
    expect(r.type).toBe('PermissionDeniedError');
    expect(r.message).toMatch(/cluster limited: forbidden to (list|get|discover) \S+.*grant the "(list|get|discover)" verb/);
  });
});
