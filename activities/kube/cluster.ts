import { createHash } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { ClusterUnreachableError, InvalidInputError, PermissionDeniedError, NotFoundError } from '../../shared/errors';

/**
 * A connection to one cluster through a kubeconfig context. The kubeconfig is TDR_KUBECONFIG, else
 * KUBECONFIG, else ~/.kube/config: the same rules kubectl follows, plus a variable of our own so
 * the local stack never touches a user's real kubeconfig.
 */
export interface Cluster {
  context: string;
  kc: k8s.KubeConfig;
  objects: k8s.KubernetesObjectApi;
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  custom: k8s.CustomObjectsApi;
}

const cache = new Map<string, Cluster>();

export function loadKubeConfig(env: NodeJS.ProcessEnv = process.env): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  const file = env.TDR_KUBECONFIG;
  if (file) kc.loadFromFile(file);
  else kc.loadFromDefault();
  reuseConnections(kc);
  return kc;
}

/**
 * client-node 2.0 builds a new undici Agent (its HTTPS dispatcher) for every API request, so every
 * call pays a TLS handshake (measured with 1.4, which did the same with https.Agent: ~5 ms of CPU
 * per call, 4x slower than kubectl on a 1,000-object restore). Reuse one dispatcher per server and
 * credentials; new credentials (a rotated client certificate from an exec plugin) get a new one.
 * The https.Agents of exec and port-forward WebSockets are cached by client-node under the context's
 * names only, so that cache is emptied when the credentials change.
 */
function reuseConnections(kc: k8s.KubeConfig): void {
  type Make = (cluster: unknown, options: Record<string, unknown>) => unknown;
  const target = kc as unknown as { createDispatcher?: Make; createAgent?: Make; agentCache?: Map<string, unknown> };
  for (const method of ['createDispatcher', 'createAgent'] as const) {
    const original = target[method]?.bind(kc);
    if (!original) {
      throw new Error(`@kubernetes/client-node has no KubeConfig.${method}: port reuseConnections in activities/kube/cluster.ts to the installed version`);
    }
    const made = new Map<string, unknown>();
    target[method] = (cluster, options) => {
      const key = credentialsKey(cluster, options);
      if (!made.has(key)) {
        if (method === 'createAgent') target.agentCache?.clear();
        made.set(key, original(cluster, method === 'createAgent' ? { ...options, keepAlive: true, maxSockets: 32 } : options));
      }
      return made.get(key);
    };
  }
}

function credentialsKey(cluster: unknown, options: Record<string, unknown>): string {
  const c = cluster as { server?: string; proxyUrl?: string } | undefined;
  const id = createHash('sha256');
  for (const part of [c?.server, c?.proxyUrl, options.ca, options.cert, options.key, options.pfx, options.passphrase, options.servername, String(options.rejectUnauthorized)]) {
    id.update(part === undefined ? '-' : Buffer.isBuffer(part) ? part : String(part)).update('\0');
  }
  return id.digest('hex');
}

export function connectCluster(context: string, env: NodeJS.ProcessEnv = process.env): Cluster {
  const key = `${env.TDR_KUBECONFIG ?? env.KUBECONFIG ?? ''}#${context}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const kc = loadKubeConfig(env);
  if (!kc.getContextObject(context)) {
    const known = kc.getContexts().map((c) => c.name);
    throw new InvalidInputError(
      `kubeconfig context "${context}" not found; known contexts: ${known.join(', ') || '(none)'}. ` +
        'Set the plan\'s context to one of them, or point TDR_KUBECONFIG/KUBECONFIG at the right kubeconfig.',
    );
  }
  kc.setCurrentContext(context);
  const cluster: Cluster = {
    context,
    kc,
    objects: k8s.KubernetesObjectApi.makeApiClient(kc),
    core: kc.makeApiClient(k8s.CoreV1Api),
    apps: kc.makeApiClient(k8s.AppsV1Api),
    custom: kc.makeApiClient(k8s.CustomObjectsApi),
  };
  cache.set(key, cluster);
  return cluster;
}

/** The HTTP status of a client-node error, if it carries one. */
export const statusOf = (err: unknown): number | undefined =>
  err instanceof k8s.ApiException ? err.code : (err as { code?: unknown })?.code === undefined ? undefined : typeof (err as { code: unknown }).code === 'number' ? ((err as { code: number }).code) : undefined;

/**
 * Turns a client-node failure into the DR taxonomy: unreachable (retryable), forbidden (names the
 * verb and resource), not found, or the original error.
 */
export function classifyKubeError(err: unknown, cluster: string, verb: string, what: string): Error {
  const status = statusOf(err);
  if (status === 403) {
    return new PermissionDeniedError(
      `cluster ${cluster}: forbidden to ${verb} ${what}; grant the "${verb}" verb on it to the identity in context ${cluster}`,
    );
  }
  if (status === 401) {
    return new PermissionDeniedError(`cluster ${cluster}: credentials were rejected (401) while trying to ${verb} ${what}; refresh the kubeconfig`);
  }
  if (status === 404) return new NotFoundError(`cluster ${cluster}: ${what} not found`);
  const code = (err as NodeJS.ErrnoException)?.code ?? (err as { cause?: { code?: string } })?.cause?.code;
  const msg = String((err as Error)?.message ?? err);
  if (
    (typeof code === 'string' && /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|EAI_AGAIN)$/.test(code)) ||
    /ECONNREFUSED|ECONNRESET|socket hang up|ETIMEDOUT/.test(msg)
  ) {
    return new ClusterUnreachableError(`cluster ${cluster}: API server unreachable while trying to ${verb} ${what} (${code ?? msg})`, cluster);
  }
  return err instanceof Error ? err : new Error(msg);
}
