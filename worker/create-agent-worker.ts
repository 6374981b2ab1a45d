import { NativeConnection, Worker } from '@temporalio/worker';
import { nodeAgentTaskQueue } from '../shared/task-queues';
import { createAgentActivities } from '../activities/volumes/agent-activities';
import type { AgentKubeApi } from '../activities/volumes/authorize-volume';
import { payloadDataConverter } from '../config/payload-codec';

/**
 * Node-agent workers: activities only, one Worker per node served. In production each node runs
 * its own agent (a DaemonSet with the kubelet root mounted at TDR_KUBELET_ROOT); the local stack
 * serves all simulated nodes of a cluster from one process.
 */
export async function createAgentWorkers(opts: {
  connection: NativeConnection;
  namespace: string;
  cluster: string;
  nodes: string[];
  /** The agent's own cluster's API: every volume task is checked against it before any file is touched. */
  kube: AgentKubeApi;
  /** Volume copies run per node at once (Velero's node-agent default is 1). */
  concurrency?: number;
}): Promise<Worker[]> {
  return Promise.all(
    opts.nodes.map((node) =>
      Worker.create({
        connection: opts.connection,
        namespace: opts.namespace,
        taskQueue: nodeAgentTaskQueue(opts.cluster, node),
        activities: createAgentActivities({ cluster: opts.cluster, nodes: opts.nodes, kube: opts.kube }),
        maxConcurrentActivityTaskExecutions: opts.concurrency ?? 2,
        shutdownGraceTime: '5s',
        dataConverter: payloadDataConverter(),
        // Checkpoints must reach the server well inside the 30 s heartbeat timeout.
        maxHeartbeatThrottleInterval: '5s',
        defaultHeartbeatThrottleInterval: '5s',
      }),
    ),
  );
}
