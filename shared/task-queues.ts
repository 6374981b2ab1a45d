/** The orchestrator's task queue: Kubernetes API calls, catalogs, planning. */
export const DEFAULT_TASK_QUEUE = 'temporal-dr';

/**
 * The task queue of the node agent serving one node of one cluster. Volume data moves only
 * through these agents, so a PV's bytes go node -> object store directly.
 */
export const nodeAgentTaskQueue = (cluster: string, node: string): string => `temporal-dr-agent/${cluster}/${node}`;
