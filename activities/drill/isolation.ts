import * as k8s from '@kubernetes/client-node';
import { Client } from '@temporalio/client';
import { DRILL_LABEL, DRILL_NETWORK_POLICY, drillReportKey, drillReportsPrefix, drillScheduleId, type DrillReport } from '../../shared/drill';
import { temporalSettings } from '../../config/environment';
import { connectClient } from '../../config/temporal-connection';
import { payloadDataConverter } from '../../config/payload-codec';
import { listAll } from '../store/object-store';
import { PreflightFailedError } from '../../shared/errors';
import type { KeyRef, StoreRef } from '../../shared/store-ref';
import type { DataCheckRecord } from '../../shared/catalog';
import { newestPoint } from '../catalog/points';
import { openRepositoryKeys } from '../store/open-repository';
import { classifyKubeError, connectCluster, statusOf } from '../kube/cluster';
import { openStore } from '../store/open-store';
import { pause } from '../util/heartbeat';

/** The newest complete point of a plan in a store, its capture time, the namespaces it holds and the data check values it recorded. */
/** `key` is absent only in runs started before catalogs were signed; with it, only a point whose catalog authenticates is chosen. */
export async function newestPointForDrill(
  store: StoreRef,
  planName: string,
  key?: KeyRef,
): Promise<{ pointId: string; capturedAt: string; namespaces: string[]; dataChecks: DataCheckRecord[] } | undefined> {
  const s = openStore(store);
  const keys = key ? await openRepositoryKeys(store, key, { absent: 'undefined' }) : undefined;
  if (key && !keys) return undefined;
  const newest = await newestPoint(s, planName, keys);
  if (!newest) return undefined;
  const { catalog } = newest;
  const namespaces = [...new Set(catalog.resources.items.flatMap((r) => (r.namespace ? [r.namespace] : r.kind === 'Namespace' ? [r.name] : [])))].sort();
  return { pointId: newest.pointId, capturedAt: catalog.startedAt, namespaces, dataChecks: catalog.dataChecks ?? [] };
}

/**
 * Creates the drill's namespaces, labelled with the drill id, each with a NetworkPolicy that lets
 * pods reach only pods of their own namespace (no egress to production or the internet), before
 * anything is restored into them. A namespace that exists and is not this drill's stops the drill:
 * it never writes into a namespace it did not create.
 */
export async function prepareDrillNamespaces(context: string, namespaces: string[], drillId: string): Promise<void> {
  const c = connectCluster(context);
  const net = c.kc.makeApiClient(k8s.NetworkingV1Api);
  try {
    for (const name of namespaces) {
      const existing = await c.core.readNamespace({ name }).catch((err: unknown) => {
        if (statusOf(err) === 404) return undefined;
        throw err;
      });
      if (existing && existing.metadata?.labels?.[DRILL_LABEL] !== drillId) {
        throw new PreflightFailedError(
          `cluster ${context}: namespace ${name} exists and is not this drill's; a drill only restores into namespaces it creates. ` +
            'Remove it (if a previous drill left it) or choose another spec.drill.namespaceSuffix',
        );
      }
      if (!existing) await c.core.createNamespace({ body: { metadata: { name, labels: { [DRILL_LABEL]: drillId } } } });
      await net
        .createNamespacedNetworkPolicy({
          namespace: name,
          body: {
            metadata: { name: DRILL_NETWORK_POLICY, labels: { [DRILL_LABEL]: drillId } },
            spec: { podSelector: {}, policyTypes: ['Egress'], egress: [{ to: [{ podSelector: {} }] }] },
          },
        })
        .catch((err: unknown) => {
          if (statusOf(err) !== 409) throw err;
        });
    }
  } catch (err) {
    throw classifyKubeError(err, context, 'prepare', `the drill namespaces ${namespaces.join(', ')}`);
  }
}

/**
 * Removes everything of a drill: its namespaces (and with them every namespaced object) and the
 * volumes that were bound to its claims, then checks that nothing labelled with the drill id, no
 * drill namespace and no such volume is left. Returns what is left (empty when clean).
 */
export async function teardownDrill(context: string, namespaces: string[], drillId: string, timeoutMs = 5 * 60_000): Promise<{ removed: string[]; leftovers: string[] }> {
  const c = connectCluster(context);
  const removed: string[] = [];
  try {
    const labelled = (await c.core.listNamespace({ labelSelector: `${DRILL_LABEL}=${drillId}` })).items.map((n) => n.metadata!.name!);
    for (const name of [...new Set([...namespaces, ...labelled])]) {
      await c.core.deleteNamespace({ name }).then(
        () => removed.push(`Namespace ${name}`),
        (err: unknown) => {
          if (statusOf(err) !== 404) throw err;
        },
      );
    }
    const start = Date.now();
    let leftovers: string[] = [];
    for (;;) {
      leftovers = await drillLeftovers(c.core, namespaces, drillId);
      if (!leftovers.length || Date.now() - start > timeoutMs) return { removed, leftovers };
      await pause(1000, { leftovers: leftovers.length });
    }
  } catch (err) {
    throw classifyKubeError(err, context, 'tear down', `drill ${drillId}`);
  }
}

async function drillLeftovers(core: k8s.CoreV1Api, namespaces: string[], drillId: string): Promise<string[]> {
  const left: string[] = [];
  for (const n of (await core.listNamespace()).items) {
    const name = n.metadata!.name!;
    if (namespaces.includes(name) || n.metadata?.labels?.[DRILL_LABEL] === drillId) left.push(`Namespace ${name} (${n.status?.phase ?? 'present'})`);
  }
  for (const pv of (await core.listPersistentVolume()).items) {
    const claimNs = pv.spec?.claimRef?.namespace;
    if ((claimNs && namespaces.includes(claimNs)) || pv.metadata?.labels?.[DRILL_LABEL] === drillId) left.push(`PersistentVolume ${pv.metadata!.name} (claim ${claimNs}/${pv.spec?.claimRef?.name})`);
  }
  return left;
}

export async function writeDrillReport(store: StoreRef, report: DrillReport): Promise<string> {
  const key = drillReportKey(report.planName, report.drillId);
  await openStore(store).put(key, JSON.stringify(report, null, 2), { contentType: 'application/json' });
  return key;
}

/**
 * After a failed scheduled drill: pauses the plan's drill schedule when the newest `after`
 * scheduled drills in the store all failed. Says whether it paused.
 */
export async function pauseDrillsAfterFailures(store: StoreRef, planName: string, after: number): Promise<{ paused: boolean; failedInARow: number }> {
  const s = openStore(store);
  const keys = (await listAll(s, drillReportsPrefix(planName))).map((o) => o.key).sort().reverse();
  let failedInARow = 0;
  for (const key of keys) {
    const r = JSON.parse((await s.get(key))!.toString('utf8')) as DrillReport;
    if (!r.scheduled) continue;
    if (r.outcome !== 'failed') break;
    if (++failedInARow >= after) break;
  }
  if (failedInARow < after) return { paused: false, failedInARow };
  const settings = temporalSettings();
  const connection = await connectClient(settings);
  try {
    await new Client({ connection, namespace: settings.namespace, dataConverter: payloadDataConverter() }).schedule.getHandle(drillScheduleId(planName)).pause(`paused by the drill itself: the last ${failedInARow} scheduled drills failed`);
  } finally {
    await connection.close();
  }
  return { paused: true, failedInARow };
}
