/**
 * B6, our side: the product's discovery exactly as the backup's captureResources activity runs it
 * (connectCluster + discoverApplication with the plan's selector), in its own process so that it
 * is measured like the kubectl baseline (wall, CPU-s, peak RSS of the whole process).
 *
 *   TDR_KUBECONFIG=... node dist/bench/discover-ours.js '{"context":"source","namespace":"bench-disc"}'
 * Prints one line of JSON.
 */
import { connectCluster } from '../activities/kube/cluster';
import { discoverApplication } from '../activities/discovery/discover-application';
import { runChild } from './child';

async function main(): Promise<unknown> {
  const req = JSON.parse(process.argv[2] ?? '{}') as { context: string; namespace: string };
  const t0 = process.hrtime.bigint();
  const cluster = connectCluster(req.context);
  const app = await discoverApplication(cluster, { namespaces: [req.namespace] });
  const inProcessS = Number(process.hrtime.bigint() - t0) / 1e9;
  const kinds = new Set(app.objects.map((o) => `${o.apiVersion}/${o.kind}`));
  const mem = process.memoryUsage();
  return {
    inProcessS,
    objects: app.objects.length,
    kinds: kinds.size,
    followed: app.followed.length,
    dangling: app.dangling.length,
    resourceTypes: app.resourceTypes,
    heapUsedMiB: mem.heapUsed / 2 ** 20,
    rssMiB: mem.rss / 2 ** 20,
  };
}

runChild(main);
