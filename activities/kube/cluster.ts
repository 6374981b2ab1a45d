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
  return kc;
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
