#!/usr/bin/env node
/**
 * The node agent: copies volume data between this node's PersistentVolumes and the object store.
 * Environment: TDR_CLUSTER (cluster name as plans name it), TDR_NODES (comma-separated node names
 * this agent serves; in a DaemonSet, NODE_NAME from the downward API), TDR_HOST_ROOT (where the
 * host filesystem is mounted, default /), TDR_AGENT_KUBECONFIG and TDR_AGENT_CONTEXT (its own
 * cluster's API; unset: the pod's service account), the repository key variable named by plans,
 * and the Temporal/S3 variables of the README.
 */
import '../config/node-version';
import { temporalSettings } from '../config/environment';
import { connectWorker } from '../config/temporal-connection';
import { runMain } from '../config/run-main';
import { installRuntime } from '../config/runtime';
import { startHealthServer } from '../config/health-server';
import { InvalidInputError } from '../shared/errors';
import { connectAgentCluster } from '../activities/volumes/authorize-volume';
import { secretReaderFor, useSecretReader } from '../activities/store/open-repository';
import { createAgentWorkers } from './create-agent-worker';

runMain('node-agent', async () => {
  const settings = temporalSettings();
  const cluster = process.env.TDR_CLUSTER;
  const nodes = (process.env.TDR_NODES ?? process.env.NODE_NAME ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (!cluster) throw new InvalidInputError('TDR_CLUSTER is not set: set it to the cluster name this agent serves (as plans name it)');
  if (nodes.length === 0) throw new InvalidInputError('TDR_NODES (or NODE_NAME) is not set: set it to the node(s) this agent serves');
  const { kube, source } = connectAgentCluster(cluster);
  // Keys from a Secret (spec.store.encryption.keyFrom.secret) are read from this agent's own cluster.
  useSecretReader(secretReaderFor(kube, cluster));
  installRuntime();
  const connection = await connectWorker(settings);
  const workers = await createAgentWorkers({ connection, namespace: settings.namespace, cluster, nodes, kube });
  console.log(`node-agent: serving ${nodes.length} node(s) of cluster ${cluster}: ${nodes.join(', ')}; volumes resolved through the API (${source})`);
  const health = await startHealthServer({ states: () => workers.map((w) => w.getState()), connection });
  await Promise.all(workers.map((w) => w.run()));
  health?.close();
  await connection.close();
});
