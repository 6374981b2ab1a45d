import * as k8s from '@kubernetes/client-node';
import { judgeHttpResponse } from '../../shared/drill';
import type { HttpCheck } from '../../shared/plan';
import { durationToMs } from '../../shared/duration';
import { connectCluster } from '../kube/cluster';
import { pause } from '../util/heartbeat';

/**
 * Sends the check's GET through the cluster's API server (`.../services/<name>:<port>/proxy/<path>`),
 * so it reaches the Service wherever the API server can route to pods, with no Ingress, node port
 * or network path from the worker. Asks again until the response passes or the check's timeout
 * ends (a Service's endpoints follow its pods becoming Ready), and returns the last verdict.
 */
export async function httpCheckThroughApiServer(context: string, check: HttpCheck): Promise<{ ok: boolean; output: string; durationMs: number }> {
  const core = connectCluster(context).core;
  const started = Date.now();
  const deadline = started + durationToMs(check.timeout);
  for (;;) {
    const response = await core
      .connectGetNamespacedServiceProxyWithPathWithHttpInfo({ namespace: check.service.namespace, name: `${check.service.name}:${check.service.port}`, path: check.path.replace(/^\//, '') })
      .then(
        (r) => ({ status: r.httpStatusCode, body: String(r.data ?? '') }),
        (err: unknown) => (err instanceof k8s.ApiException ? { status: err.code, body: String(err.body ?? '') } : { error: (err as Error).message }),
      );
    const verdict = judgeHttpResponse(check.expectStatus, check.bodyContains, response);
    if (verdict.ok || Date.now() >= deadline) return { ...verdict, durationMs: Date.now() - started };
    await pause(1000, { check: check.name, last: verdict.output.slice(0, 100) });
  }
}
