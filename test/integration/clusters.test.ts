// The local clusters themselves: the sample application rolls out on "source" and "target",
// PostgreSQL really runs on the pod's volume and is reachable through the exec API, exec carries
// stdin/stdout/stderr/exit codes, and scaling the database to zero really stops the server.
import * as k8s from '@kubernetes/client-node';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {
  CLUSTERS, ClusterName, TestNamespace, appsApi, applySampleApp, coreApi, execInPod, freshNamespace,
  kubeConfigFor, podDir, stackWorkdir, startClusters, waitFor, waitForWorkloadsReady,
} from '../harness/clusters';

const psql = (sql: string) => ['psql', '-X', '-v', 'ON_ERROR_STOP=1', '-At', '-c', sql];

function pidAlive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

async function scaleStatefulSet(cluster: ClusterName, namespace: string, name: string, replicas: number) {
  await appsApi(cluster).patchNamespacedStatefulSet(
    { namespace, name, body: { spec: { replicas } } },
    k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
  );
}

describe.each(CLUSTERS)('local cluster %s', (cluster) => {
  let ns: TestNamespace;

  beforeAll(async () => {
    ns = await freshNamespace(cluster, 'clusters-test');
    await applySampleApp(cluster, ns.name);
  });
  afterAll(async () => { await ns?.cleanup(); });

  test('the sample application rolls out: every workload Ready, volumes bound to zoned nodes', async () => {
    const pods = await waitForWorkloadsReady(cluster, ns.name, 90_000);
    expect(pods).toContain('db-0');
    expect(pods.filter((p) => p.startsWith('web-'))).toHaveLength(2);

    const core = coreApi(cluster);
    const pvc = await core.readNamespacedPersistentVolumeClaim({ namespace: ns.name, name: 'data-db-0' });
    expect(pvc.status?.phase).toBe('Bound');
    const pv = await core.readPersistentVolume({ name: pvc.spec!.volumeName! });
    expect(pv.spec?.storageClassName).toBe('local-path');
    expect(pv.spec?.hostPath?.path).toBe(path.join(stackWorkdir(), 'volumes', cluster, pv.metadata!.name!));
    const db = await core.readNamespacedPod({ namespace: ns.name, name: 'db-0' });
    const pinned = pv.spec?.nodeAffinity?.required?.nodeSelectorTerms?.[0]?.matchExpressions?.[0]?.values;
    expect(pinned).toEqual([db.spec!.nodeName]);
    const node = await core.readNode({ name: db.spec!.nodeName! });
    expect(node.metadata?.labels?.['topology.kubernetes.io/zone']).toMatch(/^local-[12][abc]$/);
    // every kind of the fixture exists
    const objs = k8s.KubernetesObjectApi.makeApiClient(kubeConfigFor(cluster));
    for (const [apiVersion, kind, name] of [
      ['networking.k8s.io/v1', 'Ingress', 'web'], ['policy/v1', 'PodDisruptionBudget', 'web'],
      ['autoscaling/v2', 'HorizontalPodAutoscaler', 'web'], ['networking.k8s.io/v1', 'NetworkPolicy', 'db-from-web-only'],
      ['demo.temporal-dr.local/v1', 'ShopSettings', 'shop'], ['rbac.authorization.k8s.io/v1', 'RoleBinding', 'shop-config-reader'],
    ]) {
      await expect(objs.read({ apiVersion, kind, metadata: { name, namespace: ns.name } })).resolves.toBeTruthy();
    }
  });

  test('rows written into PostgreSQL through exec read back, from the data dir on the PV', async () => {
    const w = await execInPod(cluster, ns.name, 'db-0', 'postgres', psql(
      "CREATE TABLE orders (id int PRIMARY KEY, item text); INSERT INTO orders VALUES (1, 'apple'), (2, 'pear');"));
    expect(w).toMatchObject({ exitCode: 0, stderr: '' });

    const r = await execInPod(cluster, ns.name, 'db-0', 'postgres', psql('SELECT id, item FROM orders ORDER BY id;'));
    expect(r.exitCode).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(['1|apple', '2|pear']);

    const who = await execInPod(cluster, ns.name, 'db-0', 'postgres', psql('SELECT current_user, current_database(), current_setting(\'data_directory\');'));
    const [user, db, dataDir] = who.stdout.trim().split('|');
    expect([user, db]).toEqual(['shop', 'shop']); // from the Secret and the ConfigMap
    const pvc = await coreApi(cluster).readNamespacedPersistentVolumeClaim({ namespace: ns.name, name: 'data-db-0' });
    expect(dataDir).toBe(path.join(stackWorkdir(), 'volumes', cluster, pvc.spec!.volumeName!, 'pgdata'));
    expect(fs.existsSync(path.join(dataDir, 'PG_VERSION'))).toBe(true);
  });

  test('exec: stdout, stderr, exit codes, stdin, pod environment', async () => {
    const web = (await coreApi(cluster).listNamespacedPod({ namespace: ns.name, labelSelector: 'app.kubernetes.io/name=web' })).items[0];
    const pod = web.metadata!.name!;

    const r = await execInPod(cluster, ns.name, pod, 'web', ['sh', '-c', 'echo to-out; echo to-err >&2; exit 3']);
    expect(r.stdout).toBe('to-out\n');
    expect(r.stderr).toBe('to-err\n');
    expect(r.exitCode).toBe(3);

    const ok = await execInPod(cluster, ns.name, pod, 'web', ['true']);
    expect(ok.exitCode).toBe(0);

    const payload = 'line one\nline two\n'.repeat(1000);
    const cat = await execInPod(cluster, ns.name, pod, 'web', ['sh', '-c', 'cat; echo done >&2'], payload);
    expect(cat.exitCode).toBe(0);
    expect(cat.stdout).toBe(payload);
    expect(cat.stderr).toBe('done\n');

    const env = await execInPod(cluster, ns.name, pod, 'web', ['sh', '-c', 'echo "$TDR_POD_NAMESPACE/$TDR_POD_NAME $LOG_LEVEL"; pwd']);
    const [first, cwd] = env.stdout.trim().split('\n');
    expect(first).toBe(`${ns.name}/${pod} info`); // LOG_LEVEL comes from the ConfigMap (envFrom)
    expect(cwd).toBe(podDir(cluster, ns.name, pod));

    const dbEnv = await execInPod(cluster, ns.name, 'db-0', 'postgres', ['sh', '-c', 'readlink "$TDR_VOLUMES_DIR/data"; echo "$PGPORT"']);
    const [link, port] = dbEnv.stdout.trim().split('\n');
    expect(link).toMatch(new RegExp(`/volumes/${cluster}/pvc-`));
    expect(fs.readFileSync(path.join(podDir(cluster, ns.name, 'db-0'), 'run', 'port'), 'utf8')).toBe(port);
  });

  test('scaling the StatefulSet to 0 stops the postgres process; scaling back keeps the data', async () => {
    const dir = podDir(cluster, ns.name, 'db-0');
    const pid = Number(fs.readFileSync(path.join(dir, 'run', 'pid'), 'utf8'));
    const port = Number(fs.readFileSync(path.join(dir, 'run', 'port'), 'utf8'));
    expect(pidAlive(pid)).toBe(true);
    expect(await canConnect(port)).toBe(true);

    await scaleStatefulSet(cluster, ns.name, 'db', 0);
    await waitFor('db-0 deleted', 60_000, async () => {
      try { await coreApi(cluster).readNamespacedPod({ namespace: ns.name, name: 'db-0' }); return false; } catch { return true; }
    });
    // The pod object disappears only after the server has stopped.
    expect(pidAlive(pid)).toBe(false);
    expect(await canConnect(port)).toBe(false);

    await scaleStatefulSet(cluster, ns.name, 'db', 1);
    await waitForWorkloadsReady(cluster, ns.name, 90_000);
    const r = await execInPod(cluster, ns.name, 'db-0', 'postgres', psql('SELECT count(*) FROM orders;'));
    expect(r).toMatchObject({ exitCode: 0, stdout: '2\n' });
  });
});

describe('clusters.sh up on running clusters', () => {
  const componentPids = (): Record<string, number> =>
    Object.fromEntries<number>(
      CLUSTERS.flatMap((c) => {
        const dir = fs.readdirSync(path.join(stackWorkdir(), 'kwok', 'clusters')).find((d) => d.endsWith(`-${c}`))!;
        const pids = path.join(stackWorkdir(), 'kwok', 'clusters', dir, 'pids');
        return fs.readdirSync(pids).map((f): [string, number] => [`${c}/${f}`, Number(fs.readFileSync(path.join(pids, f), 'utf8'))]);
      }).concat(CLUSTERS.map((c): [string, number] => [`${c}/kubelet-sim`, Number(fs.readFileSync(path.join(stackWorkdir(), 'pids', `kubelet-sim-${c}.pid`), 'utf8'))])),
    );

  test('reuses them: no process restarted, so runs in flight keep going', async () => {
    const before = componentPids();
    expect(Object.keys(before)).toEqual(expect.arrayContaining(['source/kube-apiserver.pid', 'target/etcd.pid', 'target/kubelet-sim']));
    const out = await startClusters(stackWorkdir());
    expect(out.kubeconfig).toBe(path.join(stackWorkdir(), 'kubeconfig'));
    expect(componentPids()).toEqual(before);
    for (const pid of Object.values(before)) expect(pidAlive(pid)).toBe(true);
  });
});
