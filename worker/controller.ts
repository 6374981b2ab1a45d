#!/usr/bin/env node
/**
 * The controller process: watches the temporal-dr custom resources of one cluster and turns them
 * into Temporal workflows and Schedules, mirroring their runs into status (worker/controller/).
 * A process of its own, not part of the orchestrator worker: it needs other rights (watch the
 * resources, write their status, SubjectAccessReviews) and must run once per cluster, while
 * workers scale out. Run one replica: everything it does is idempotent, so two would be wasteful,
 * not harmful.
 *
 * Environment: the Temporal connection variables of the worker (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE,
 * TEMPORAL_TASK_QUEUE, TLS, TDR_PAYLOAD_KEYS), the store credentials and plan keys (to read the newest
 * point and, with deletionPolicy Delete, remove points), and
 *   TDR_CONTROLLER_CONTEXT       kubeconfig context of the cluster it serves, as plans name it
 *                                (default: the kubeconfig's current context; in a pod `inClusterContext`)
 *   TDR_CONTROLLER_CLUSTER_NAME  the cluster name its node agents use (default: the context)
 *   TDR_TEMPORAL_UI_URL          base URL of the Temporal UI, for status.temporalUiUrl
 *   TDR_CONTROLLER_RESYNC        how often plans are looked at again, e.g. 30s (default)
 */
import '../config/node-version';
import { openClient } from '../client/temporal-client';
import { loadKubeConfig } from '../activities/kube/cluster';
import { parseDuration } from '../shared/duration';
import { InvalidInputError } from '../shared/errors';
import { runMain } from '../config/run-main';
import { kubeAdapter } from './controller/kube';
import { temporalAdapter } from './controller/temporal';
import { storeAdapter } from './controller/store';
import { Controller } from './controller/reconciler';

runMain('controller', async () => {
  const env = process.env;
  const kc = loadKubeConfig(env);
  const context = env.TDR_CONTROLLER_CONTEXT || kc.getCurrentContext();
  if (!kc.getContextObject(context)) throw new InvalidInputError(`TDR_CONTROLLER_CONTEXT: no context "${context}" in the kubeconfig; known: ${kc.getContexts().map((c) => c.name).join(', ')}`);
  kc.setCurrentContext(context);
  const resync = env.TDR_CONTROLLER_RESYNC ? parseDuration(env.TDR_CONTROLLER_RESYNC) : 30_000;
  if (!resync) throw new InvalidInputError(`TDR_CONTROLLER_RESYNC: expected a duration like 30s, got "${env.TDR_CONTROLLER_RESYNC}"`);
  const dr = await openClient(env);
  const kube = kubeAdapter(kc);
  const controller = new Controller({
    kube,
    temporal: temporalAdapter(dr.client),
    store: storeAdapter(),
    site: { context, clusterName: env.TDR_CONTROLLER_CLUSTER_NAME || context, taskQueue: dr.settings.taskQueue },
    ui: { base: env.TDR_TEMPORAL_UI_URL, namespace: dr.settings.namespace },
    resyncMs: resync,
    progressMs: Math.min(5000, resync),
    fault: env.TDR_CONTROLLER_FAULT,
  });
  const stopWatching = await kube.watch(
    (kind, obj) => controller.onEvent(kind, obj),
    (what, err) => console.error(`controller: ${what} failed: ${(err as Error)?.message ?? String(err)}; watching again`),
  );
  console.log(`controller: watching cluster ${context} (task queue ${dr.settings.taskQueue} on ${dr.settings.address})`);
  const done = controller.run();
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  controller.stop();
  await done;
  await stopWatching();
  await dr.close();
  console.log('controller: stopped');
});
