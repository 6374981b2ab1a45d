import * as k8s from '@kubernetes/client-node';
import { PatchStrategy, type KubernetesObject } from '@kubernetes/client-node';
import { matchesAnyGlob } from '../../shared/glob';
import { FENCED_BY_LABEL, FENCED_REPLICAS_ANNOTATION, FENCED_SUSPEND_ANNOTATION } from '../../shared/failover';
import { PreflightFailedError } from '../../shared/errors';
import { classifyKubeError, connectCluster, statusOf, type Cluster } from '../kube/cluster';
import { beat, pause } from '../util/heartbeat';

/**
 * Fencing: a site that must not serve has every workload of the plan's namespaces scaled to zero
 * and every CronJob suspended, with the original replicas and suspend kept in annotations so the
 * site can be brought back exactly (activate). Namespaces carry `temporal-dr.io/fenced-by: <plan>`,
 * which is how failover recognises a former primary it may replace. Idempotent: fencing a fenced
 * site changes nothing and keeps the recorded replicas.
 */

interface Scalable {
  apiVersion: string;
  kind: string;
  list(c: Cluster, namespace: string): Promise<KubernetesObject[]>;
}

const SCALABLE: Scalable[] = [
  { apiVersion: 'apps/v1', kind: 'Deployment', list: async (c, namespace) => (await c.apps.listNamespacedDeployment({ namespace })).items },
  { apiVersion: 'apps/v1', kind: 'StatefulSet', list: async (c, namespace) => (await c.apps.listNamespacedStatefulSet({ namespace })).items },
  {
    apiVersion: 'apps/v1',
    kind: 'ReplicaSet',
    // ReplicaSets of a Deployment follow it; only bare ones are scaled on their own.
    list: async (c, namespace) => (await c.apps.listNamespacedReplicaSet({ namespace })).items.filter((r) => !r.metadata?.ownerReferences?.length),
  },
];

export interface FenceResult {
  cluster: string;
  namespaces: string[];
  /** Workloads scaled to zero by this call or an earlier one. */
  workloads: string[];
  cronJobsSuspended: string[];
  /** DaemonSets cannot be scaled: they are reported, and their pods keep running. */
  unfenceable: string[];
}

/** The namespaces of the cluster that the plan's namespace globs select. */
export async function matchingNamespaces(cluster: Cluster, globs: string[]): Promise<string[]> {
  const all = (await cluster.core.listNamespace()).items.map((n) => n.metadata!.name!);
  return all.filter((n) => matchesAnyGlob(globs, n)).sort();
}

const patch = (c: Cluster, obj: KubernetesObject) => c.objects.patch(obj, undefined, undefined, 'temporal-dr', undefined, PatchStrategy.MergePatch);

/** Scales the plan's workloads on a cluster to zero and waits until their pods are gone. */
export async function fenceApplication(context: string, namespaceGlobs: string[], planName: string): Promise<FenceResult> {
  const c = connectCluster(context);
  try {
    const namespaces = await matchingNamespaces(c, namespaceGlobs);
    const result: FenceResult = { cluster: context, namespaces, workloads: [], cronJobsSuspended: [], unfenceable: [] };
    for (const namespace of namespaces) {
      await patch(c, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels: { [FENCED_BY_LABEL]: planName } } });
      for (const s of SCALABLE) {
        for (const w of await s.list(c, namespace)) {
          const replicas = (w as { spec?: { replicas?: number } }).spec?.replicas ?? 1;
          const recorded = w.metadata?.annotations?.[FENCED_REPLICAS_ANNOTATION];
          if (replicas !== 0 || recorded === undefined) {
            await patch(c, {
              apiVersion: s.apiVersion,
              kind: s.kind,
              metadata: { name: w.metadata!.name, namespace, annotations: { [FENCED_REPLICAS_ANNOTATION]: recorded ?? String(replicas) } },
              spec: { replicas: 0 },
            } as KubernetesObject);
          }
          result.workloads.push(`${s.kind} ${namespace}/${w.metadata!.name}`);
          beat({ fenced: result.workloads.length });
        }
      }
      const batch = c.kc.makeApiClient(k8s.BatchV1Api);
      for (const cj of (await batch.listNamespacedCronJob({ namespace })).items) {
        const recorded = cj.metadata?.annotations?.[FENCED_SUSPEND_ANNOTATION];
        await patch(c, {
          apiVersion: 'batch/v1',
          kind: 'CronJob',
          metadata: { name: cj.metadata!.name, namespace, annotations: { [FENCED_SUSPEND_ANNOTATION]: recorded ?? String(cj.spec?.suspend ?? false) } },
          spec: { suspend: true },
        } as KubernetesObject);
        result.cronJobsSuspended.push(`${namespace}/${cj.metadata!.name}`);
      }
      for (const ds of (await c.apps.listNamespacedDaemonSet({ namespace })).items) result.unfenceable.push(`DaemonSet ${namespace}/${ds.metadata!.name}`);
    }
    beat({ fenced: result.workloads.length });
    await waitForWorkloadPodsGone(c, namespaces);
    return result;
  } catch (err) {
    throw classifyKubeError(err, context, 'fence', `the workloads of plan ${planName}`);
  }
}

/** Pods still running for a scaled workload (owned by a ReplicaSet or StatefulSet). */
async function workloadPods(c: Cluster, namespaces: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const namespace of namespaces) {
    for (const p of (await c.core.listNamespacedPod({ namespace })).items) {
      const owner = p.metadata?.ownerReferences?.find((o) => o.controller);
      if (owner && (owner.kind === 'ReplicaSet' || owner.kind === 'StatefulSet')) out.push(`${namespace}/${p.metadata!.name}`);
    }
  }
  return out;
}

async function waitForWorkloadPodsGone(c: Cluster, namespaces: string[], timeoutMs = 5 * 60_000): Promise<void> {
  const start = Date.now();
  for (;;) {
    const left = await workloadPods(c, namespaces);
    if (!left.length) return;
    if (Date.now() - start > timeoutMs) {
      throw new PreflightFailedError(`cluster ${c.context}: pods still run ${Math.round(timeoutMs / 1000)}s after their workloads were scaled to zero: ${left.slice(0, 10).join(', ')}`);
    }
    await pause(1000, { podsLeft: left.length });
  }
}

/**
 * Brings fenced workloads back: replicas and suspend as recorded, annotations and the namespace
 * label removed. Used on the new primary after its restore (a planned failover's final point was
 * taken fenced). Idempotent.
 */
export async function activateApplication(context: string, namespaceGlobs: string[]): Promise<{ workloads: string[] }> {
  const c = connectCluster(context);
  const workloads: string[] = [];
  try {
    const namespaces = await matchingNamespaces(c, namespaceGlobs);
    for (const namespace of namespaces) {
      for (const s of SCALABLE) {
        for (const w of await s.list(c, namespace)) {
          const recorded = w.metadata?.annotations?.[FENCED_REPLICAS_ANNOTATION];
          if (recorded === undefined) continue;
          await patch(c, {
            apiVersion: s.apiVersion,
            kind: s.kind,
            metadata: { name: w.metadata!.name, namespace, annotations: { [FENCED_REPLICAS_ANNOTATION]: null } },
            spec: { replicas: Number(recorded) },
          } as unknown as KubernetesObject);
          workloads.push(`${s.kind} ${namespace}/${w.metadata!.name}`);
          beat({ activated: workloads.length });
        }
      }
      const batch = c.kc.makeApiClient(k8s.BatchV1Api);
      for (const cj of (await batch.listNamespacedCronJob({ namespace })).items) {
        const recorded = cj.metadata?.annotations?.[FENCED_SUSPEND_ANNOTATION];
        if (recorded === undefined) continue;
        await patch(c, {
          apiVersion: 'batch/v1',
          kind: 'CronJob',
          metadata: { name: cj.metadata!.name, namespace, annotations: { [FENCED_SUSPEND_ANNOTATION]: null } },
          spec: { suspend: recorded === 'true' },
        } as unknown as KubernetesObject);
      }
      await patch(c, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace, labels: { [FENCED_BY_LABEL]: null } } } as unknown as KubernetesObject);
    }
    return { workloads };
  } catch (err) {
    throw classifyKubeError(err, context, 'activate', `the workloads in ${namespaceGlobs.join(', ')}`);
  }
}

/**
 * Removes the plan's namespaces from a fenced former primary before a failover (or failback)
 * restores onto it: their claims hold stale data that a restore must not merge with. Only
 * namespaces fenced by this plan are removed; any other namespace of the same name stops the run.
 * With `keep` (a warm standby) it only checks, and `removed` lists the namespaces kept.
 */
export async function clearFencedNamespaces(context: string, namespaceGlobs: string[], planName: string, opts: { keep?: boolean } = {}): Promise<{ removed: string[] }> {
  const c = connectCluster(context);
  try {
    const namespaces = await matchingNamespaces(c, namespaceGlobs);
    for (const name of namespaces) {
      const ns = await c.core.readNamespace({ name });
      if (ns.metadata?.labels?.[FENCED_BY_LABEL] !== planName) {
        throw new PreflightFailedError(
          `cluster ${context}: namespace ${name} exists and was not fenced by plan ${planName} (no ${FENCED_BY_LABEL}=${planName} label); ` +
            'a failover will not restore over an application it did not fence. Remove or rename the namespace, then run the failover again.',
        );
      }
    }
    if (opts.keep) return { removed: namespaces };
    for (const name of namespaces) {
      await c.core.deleteNamespace({ name }).catch((err: unknown) => {
        if (statusOf(err) !== 404) throw err;
      });
    }
    const start = Date.now();
    for (;;) {
      const left = await matchingNamespaces(c, namespaces);
      if (!left.length) return { removed: namespaces };
      if (Date.now() - start > 10 * 60_000) throw new PreflightFailedError(`cluster ${context}: namespaces ${left.join(', ')} still terminating after 10 minutes; check their finalizers`);
      await pause(1000, { terminating: left });
    }
  } catch (err) {
    throw classifyKubeError(err, context, 'clear', `the fenced namespaces of plan ${planName}`);
  }
}

/** True when the cluster's API server answers within a few seconds. Reads nothing of the application. */
export async function probeCluster(context: string): Promise<{ reachable: boolean; error?: string }> {
  const c = connectCluster(context);
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('no answer within 5s')), 5000).unref());
  try {
    await Promise.race([c.core.getAPIResources(), timeout]);
    return { reachable: true };
  } catch (err) {
    return { reachable: false, error: (err as Error).message.split('\n')[0].slice(0, 300) };
  }
}
