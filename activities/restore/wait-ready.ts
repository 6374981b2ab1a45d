import * as k8s from '@kubernetes/client-node';
import { PreflightFailedError } from '../../shared/errors';
import { connectCluster } from '../kube/cluster';
import { beat, currentActivity, pause } from '../util/heartbeat';

/** Workloads in the namespaces that are not ready yet, with what they lack. */
async function notReady(apps: k8s.AppsV1Api, batch: k8s.BatchV1Api, namespaces: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const namespace of namespaces) {
    for (const d of (await apps.listNamespacedDeployment({ namespace })).items) {
      const want = d.spec?.replicas ?? 1;
      if ((d.status?.availableReplicas ?? 0) < want || (d.status?.updatedReplicas ?? 0) < want) out.push(`Deployment ${namespace}/${d.metadata!.name}: ${d.status?.availableReplicas ?? 0}/${want} available`);
    }
    for (const s of (await apps.listNamespacedStatefulSet({ namespace })).items) {
      const want = s.spec?.replicas ?? 1;
      if ((s.status?.readyReplicas ?? 0) < want) out.push(`StatefulSet ${namespace}/${s.metadata!.name}: ${s.status?.readyReplicas ?? 0}/${want} ready`);
    }
    for (const ds of (await apps.listNamespacedDaemonSet({ namespace })).items) {
      if ((ds.status?.numberReady ?? 0) < (ds.status?.desiredNumberScheduled ?? 0)) out.push(`DaemonSet ${namespace}/${ds.metadata!.name}: ${ds.status?.numberReady}/${ds.status?.desiredNumberScheduled} ready`);
    }
    for (const j of (await batch.listNamespacedJob({ namespace })).items) {
      if (!j.status?.succeeded && !j.metadata?.ownerReferences?.length) out.push(`Job ${namespace}/${j.metadata!.name}: not complete`);
    }
  }
  return out;
}

/**
 * Waits until every Deployment, StatefulSet and DaemonSet is ready and every Job complete, for at
 * most `timeoutMs` (the workflow gives the activity a start-to-close timeout just above it).
 * Heartbeats each poll with the number still pending and the time waited, and stops when
 * cancelled; a retry (after a worker crash) counts the time already waited. Polls soon at first
 * (a small app is ready within a second) and less often as the wait grows.
 */
export async function waitForWorkloadsReady(context: string, namespaces: string[], timeoutMs: number): Promise<{ waitedMs: number }> {
  const cluster = connectCluster(context);
  const apps = cluster.kc.makeApiClient(k8s.AppsV1Api);
  const batch = cluster.kc.makeApiClient(k8s.BatchV1Api);
  const waitedBefore = (currentActivity()?.info.heartbeatDetails as { waitedMs?: number } | undefined)?.waitedMs ?? 0;
  const start = Date.now() - waitedBefore;
  for (let interval = 250; ; interval = Math.min(2000, Math.round(interval * 1.5))) {
    beat({ waitedMs: Date.now() - start });
    const pending = await notReady(apps, batch, namespaces);
    if (!pending.length) return { waitedMs: Date.now() - start };
    if (Date.now() - start > timeoutMs) {
      throw new PreflightFailedError(`workloads not ready on ${context} after ${Math.round(timeoutMs / 1000)}s:\n  ${pending.slice(0, 20).join('\n  ')}`);
    }
    await pause(interval, { pending: pending.length, waitedMs: Date.now() - start });
  }
}
