/**
 * Public example applications restored across clusters, the way real manifests are written:
 * - ZooKeeper as in the Kubernetes tutorial "Running ZooKeeper, a distributed system coordinator":
 *   a 3-replica StatefulSet whose replicas must run on different nodes (required pod anti-affinity)
 *   and whose claim template names its class with the legacy beta annotation, on CSI volumes;
 * - WordPress as in the tutorial "Deploying WordPress and MySQL with Persistent Volumes": a
 *   Deployment with a standalone PVC;
 * - a claim nobody has used yet (Pending): captured with a warning, not a failed backup;
 * - a Deployment scaled to zero: no running pod mounts its claim, so a helper pod mounts it for the copy.
 * Restored to "target" into another namespace with both classes mapped, it comes back Ready with
 * each ZooKeeper replica on its own node and every volume's files byte for byte.
 */
import * as k8s from '@kubernetes/client-node';
import { writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { backup, restore } from '../../workflows';
import type { BackupReport } from '../../workflows/backup';
import type { RestoreReport } from '../../workflows/restore';
import { planToStoreRef, validatePlan, type Plan } from '../../shared/plan';
import { openStore } from '../../activities/store/open-store';
import { generateMasterKey } from '../../activities/datapath/crypto';
import { BETA_STORAGE_CLASS_ANNOTATION } from '../../shared/storage-class';
import { attachTestEnv, uniqueId } from '../harness/temporal';
import { freshStore, readPlanCatalog } from '../harness/store';
import { applyObjects, appsApi, coreApi, freshNamespace, waitForWorkloadsReady, type TestNamespace } from '../harness/clusters';
import { startAgentProcess, startWorkerProcess, type TestProcess } from '../harness/processes';
import { hashTree, NODES, pvcDir, restoreRequest } from './app-fixture';

const KEY_ENV = 'TDR_EXAMPLES_KEY';

function zookeeper(): k8s.KubernetesObject[] {
  const labels = { app: 'zk' };
  return [
    { apiVersion: 'v1', kind: 'Service', metadata: { name: 'zk-hs', labels }, spec: { clusterIP: 'None', selector: labels, ports: [{ name: 'server', port: 2888 }, { name: 'leader-election', port: 3888 }] } },
    { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'zk-pdb' }, spec: { selector: { matchLabels: labels }, maxUnavailable: 1 } },
    {
      apiVersion: 'apps/v1',
      kind: 'StatefulSet',
      metadata: { name: 'zk' },
      spec: {
        selector: { matchLabels: labels },
        serviceName: 'zk-hs',
        replicas: 3,
        podManagementPolicy: 'OrderedReady',
        template: {
          metadata: { labels },
          spec: {
            affinity: { podAntiAffinity: { requiredDuringSchedulingIgnoredDuringExecution: [{ labelSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['zk'] }] }, topologyKey: 'kubernetes.io/hostname' }] } },
            containers: [{ name: 'kubernetes-zookeeper', image: 'registry.k8s.io/kubernetes-zookeeper:1.0-3.4.10', ports: [{ containerPort: 2181, name: 'client' }], volumeMounts: [{ name: 'datadir', mountPath: '/var/lib/zookeeper' }] }],
            securityContext: { runAsUser: 1000, fsGroup: 1000 },
          },
        },
        volumeClaimTemplates: [
          { metadata: { name: 'datadir', annotations: { [BETA_STORAGE_CLASS_ANNOTATION]: 'csi-disk' } }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } },
        ],
      },
    },
  ] as unknown as k8s.KubernetesObject[];
}

function wordpress(): k8s.KubernetesObject[] {
  const labels = { app: 'wordpress', tier: 'frontend' };
  return [
    { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'wp-pv-claim', labels: { app: 'wordpress' } }, spec: { accessModes: ['ReadWriteOnce'], storageClassName: 'local-path', resources: { requests: { storage: '1Gi' } } } },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'wordpress', labels: { app: 'wordpress' } },
      spec: {
        selector: { matchLabels: labels },
        strategy: { type: 'Recreate' },
        template: {
          metadata: { labels },
          spec: {
            containers: [{ name: 'wordpress', image: 'wordpress:6.2.1-apache', ports: [{ containerPort: 80, name: 'wordpress' }], volumeMounts: [{ name: 'wordpress-persistent-storage', mountPath: '/var/www/html' }] }],
            volumes: [{ name: 'wordpress-persistent-storage', persistentVolumeClaim: { claimName: 'wp-pv-claim' } }],
          },
        },
      },
    },
    // Reserved for later: nothing mounts it, so a WaitForFirstConsumer class never binds it.
    { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'reserved', labels: { app: 'wordpress' } }, spec: { accessModes: ['ReadWriteOnce'], storageClassName: 'local-path', resources: { requests: { storage: '1Gi' } } } },
  ] as unknown as k8s.KubernetesObject[];
}

function archive(): k8s.KubernetesObject[] {
  const labels = { app: 'archive' };
  return [
    { apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'archive' }, spec: { accessModes: ['ReadWriteOnce'], storageClassName: 'csi-disk', resources: { requests: { storage: '1Gi' } } } },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'archive' },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: { metadata: { labels }, spec: { containers: [{ name: 'archive', image: 'busybox:1.36', volumeMounts: [{ name: 'd', mountPath: '/archive' }] }], volumes: [{ name: 'd', persistentVolumeClaim: { claimName: 'archive' } }] } },
      },
    },
  ] as unknown as k8s.KubernetesObject[];
}

/** Distinct small files per volume, so a mix-up between replicas' volumes shows. */
function seed(dir: string, tag: string): Record<string, string> {
  mkdirSync(path.join(dir, 'version-2'), { recursive: true });
  writeFileSync(path.join(dir, 'myid'), `${tag}\n`);
  writeFileSync(path.join(dir, 'version-2', 'log.1'), Buffer.alloc(300_000, tag));
  return hashTree(dir);
}

describe('public example applications across clusters', () => {
  let env: TestWorkflowEnvironment;
  let ns: TestNamespace;
  let target: TestNamespace | undefined;
  let plan: Plan;
  const procs: TestProcess[] = [];
  const data: Record<string, Record<string, string>> = {};

  beforeAll(async () => {
    process.env[KEY_ENV] = generateMasterKey();
    env = await attachTestEnv();
    ns = await freshNamespace('source', 'examples');
    await applyObjects('source', [...zookeeper(), ...wordpress(), ...archive()], ns.name);
    await waitForWorkloadsReady('source', ns.name, 180_000);
    for (const claim of ['datadir-zk-0', 'datadir-zk-1', 'datadir-zk-2', 'wp-pv-claim', 'archive']) data[claim] = seed(await pvcDir('source', ns.name, claim), claim);
    await appsApi('source').patchNamespacedDeploymentScale(
      { namespace: ns.name, name: 'archive', body: { spec: { replicas: 0 } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
    await waitForWorkloadsReady('source', ns.name, 120_000);
    for (let i = 0; i < 120 && (await coreApi('source').listNamespacedPod({ namespace: ns.name, labelSelector: 'app=archive' })).items.length; i++) await new Promise((r) => setTimeout(r, 500));
    const { ref } = await freshStore('examples');
    plan = validatePlan({
      apiVersion: 'temporal-dr/v1',
      kind: 'DRPlan',
      metadata: { name: uniqueId('examples').toLowerCase() },
      spec: {
        source: { context: 'source' },
        selector: { namespaces: [ns.name] },
        store: { url: `s3://${ref.bucket}/${ref.prefix}`, endpoint: ref.endpoint, forcePathStyle: true, encryption: { keyFrom: { env: KEY_ENV } } },
      },
    });
  });

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.kill()));
    await target?.cleanup().catch(() => undefined);
    await ns?.cleanup().catch(() => undefined);
    await env?.teardown();
  });

  it('backs up through the kubelet volume directories, capturing the unbound claim with a warning', async () => {
    const taskQueue = uniqueId('examples');
    const penv = { [KEY_ENV]: process.env[KEY_ENV]! };
    procs.push(startWorkerProcess(taskQueue, penv), startAgentProcess('source', NODES, penv), startAgentProcess('target', NODES, penv));
    const report: BackupReport = await env.client.workflow.execute(backup, { taskQueue, workflowId: uniqueId('backup-examples'), args: [{ plan, agentHeartbeatTimeoutMs: 10_000 }] });
    expect(report.volumes.map((v) => v.pvc.split('/')[1]).sort()).toEqual(['archive', 'datadir-zk-0', 'datadir-zk-1', 'datadir-zk-2', 'wp-pv-claim']);
    // The helper pod that mounted the scaled-down claim is gone.
    expect((await coreApi('source').listNamespacedPod({ namespace: ns.name, labelSelector: 'temporal-dr.io/helper-of' })).items).toEqual([]);
    // The three replicas' volumes were on three nodes, each read by that node's agent.
    expect(new Set(report.volumes.filter((v) => v.pvc.includes('zk')).map((v) => v.node)).size).toBe(3);
    expect(report.warnings).toEqual([expect.stringMatching(new RegExp(`PVC ${ns.name}/reserved was not bound \\(Pending\\).*no data`))]);

    const catalog = await readPlanCatalog(plan, report.pointId);
    expect(catalog.volumes.find((v) => v.pvc.name === 'reserved')).toMatchObject({ noData: expect.stringMatching(/not bound/), files: 0 });
    expect(catalog.volumes.find((v) => v.pvc.name === 'datadir-zk-1')).toMatchObject({ storageClass: 'csi-disk', mode: 'copy' });
    expect(catalog.resources.items.some((r) => r.kind === 'StorageClass' && r.name === 'csi-disk')).toBe(true);

    target = await freshNamespace('target', 'examples-restored');
    await coreApi('target').deleteNamespace({ name: target.name });
    await waitGone(target.name);
    const r: RestoreReport = await env.client.workflow.execute(restore, {
      taskQueue,
      workflowId: uniqueId('restore-examples'),
      args: [
        restoreRequest(plan, report.pointId, KEY_ENV, {
          namespaceMapping: { [ns.name]: target.name },
          storageClassMapping: { 'csi-disk': 'csi-disk-b', 'local-path': 'local-path-b' },
          agentHeartbeatTimeoutMs: 10_000,
        }),
      ],
    });
    expect(r.volumes).toHaveLength(5);

    // Ready, with each ZooKeeper replica on its own node (its volume was provisioned where it may run).
    const sts = await appsApi('target').readNamespacedStatefulSet({ namespace: target.name, name: 'zk' });
    expect(sts.status?.readyReplicas).toBe(3);
    const pods = (await coreApi('target').listNamespacedPod({ namespace: target.name, labelSelector: 'app=zk' })).items;
    expect(new Set(pods.map((p) => p.spec?.nodeName)).size).toBe(3);
    expect((await appsApi('target').readNamespacedDeployment({ namespace: target.name, name: 'wordpress' })).status?.readyReplicas).toBe(1);

    // Classes mapped wherever they were named, the beta annotation included.
    const claim = await coreApi('target').readNamespacedPersistentVolumeClaim({ namespace: target.name, name: 'datadir-zk-0' });
    expect(claim.metadata?.annotations?.[BETA_STORAGE_CLASS_ANNOTATION]).toBe('csi-disk-b');
    const pv = await coreApi('target').readPersistentVolume({ name: claim.spec!.volumeName! });
    expect(pv.spec?.csi?.driver).toBe('csi.temporal-dr.local');
    expect(pv.spec?.hostPath).toBeUndefined();
    expect(sts.spec?.volumeClaimTemplates?.[0].metadata?.annotations?.[BETA_STORAGE_CLASS_ANNOTATION]).toBe('csi-disk-b');
    expect((await coreApi('target').readNamespacedPersistentVolumeClaim({ namespace: target.name, name: 'wp-pv-claim' })).spec?.storageClassName).toBe('local-path-b');
    // The unbound claim is back as it was: Pending, no data written.
    expect((await coreApi('target').readNamespacedPersistentVolumeClaim({ namespace: target.name, name: 'reserved' })).status?.phase).toBe('Pending');

    // Every volume byte for byte, each replica's data on its own replica's claim.
    for (const [claimName, hashes] of Object.entries(data)) expect([claimName, hashTree(await pvcDir('target', target.name, claimName))]).toEqual([claimName, hashes]);
  });

  async function waitGone(name: string): Promise<void> {
    for (let i = 0; i < 120; i++) {
      if (await coreApi('target').readNamespace({ name }).then(() => false, () => true)) return;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
});
