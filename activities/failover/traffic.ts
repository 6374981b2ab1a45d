import { PatchStrategy, type KubernetesObject } from '@kubernetes/client-node';
import type { FailoverSpec } from '../../shared/plan';
import { failoverReportKey, type FailoverReport } from '../../shared/failover';
import type { StoreRef } from '../../shared/store-ref';
import { classifyKubeError, connectCluster } from '../kube/cluster';
import { openStore } from '../store/open-store';

type TrafficSwitch = NonNullable<FailoverSpec['trafficSwitch']>;

/**
 * Calls an operator's webhook with a JSON body; a 2xx answer within 30 s means done. Used to fence
 * an unreachable site and to switch traffic. The URL's credentials (if any) never reach a log.
 */
export async function callWebhook(url: string, body: Record<string, unknown>, purpose: string): Promise<{ status: number }> {
  const shown = redactUrl(url);
  let res: Response;
  try {
    res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(30_000) });
  } catch (err) {
    throw new Error(`${purpose} webhook ${shown} did not answer: ${(err as Error).message}`);
  }
  if (res.status < 200 || res.status >= 300) {
    throw new Error(`${purpose} webhook ${shown} answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  }
  return { status: res.status };
}

const redactUrl = (url: string): string => {
  const u = new URL(url);
  u.username = u.username ? '***' : '';
  u.password = u.password ? '***' : '';
  u.search = u.search ? '?…' : '';
  return u.toString();
};

/**
 * Moves the application's traffic to a site: sets the ExternalName Service to that site's address
 * and/or calls the webhook. Idempotent: setting the same address again changes nothing.
 */
export async function switchTraffic(spec: TrafficSwitch, to: string, info: { planName: string; from: string; failoverId: string }): Promise<string[]> {
  const done: string[] = [];
  if (spec.service) {
    const { context, namespace, name, externalNames } = spec.service;
    const externalName = externalNames[to];
    const c = connectCluster(context);
    try {
      await c.objects.patch(
        { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace, annotations: { 'temporal-dr.io/active-site': to } }, spec: { type: 'ExternalName', externalName } } as KubernetesObject,
        undefined,
        undefined,
        'temporal-dr',
        undefined,
        PatchStrategy.MergePatch,
      );
    } catch (err) {
      throw classifyKubeError(err, context, 'patch', `Service ${namespace}/${name} (the traffic switch)`);
    }
    done.push(`Service ${context}/${namespace}/${name} -> ${externalName}`);
  }
  if (spec.webhook) {
    const r = await callWebhook(spec.webhook.url, { plan: info.planName, from: info.from, to, failoverId: info.failoverId }, 'traffic switch');
    done.push(`webhook ${redactUrl(spec.webhook.url)} (${r.status})`);
  }
  return done;
}

/** Stores the failover report beside the recovery points of the new primary's store. */
export async function writeFailoverReport(store: StoreRef, report: FailoverReport): Promise<string> {
  const key = failoverReportKey(report.planName, report.failoverId);
  await openStore(store).put(key, JSON.stringify(report, null, 2), { contentType: 'application/json' });
  return key;
}
