import { ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ExecHook } from '../shared/hook-presets';
import type { RestoreRequest } from '../shared/restore-request';
import { NON_RETRYABLE_ERROR_TYPES } from '../shared/errors';

export type AppCheck = NonNullable<RestoreRequest['postRestoreChecks']>[number];
export interface CheckResult {
  name: string;
  pod: string;
  ok: boolean;
  output: string;
  durationMs: number;
}

const kube = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '2 minutes',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES },
});

/**
 * Runs each check's command in every running pod its selector matches on the cluster; the first
 * failure (or a check that matches no pod) stops with HookFailedError naming the check and pod.
 * `into` collects the results, also those before a failure.
 */
export async function runAppChecks(context: string, checks: AppCheck[], what: string, into: CheckResult[] = []): Promise<CheckResult[]> {
  for (const check of checks) {
    const hook: ExecHook = {
      name: check.name,
      podSelector: { namespace: check.namespace, matchLabels: check.matchLabels },
      ...(check.container ? { container: check.container } : {}),
      session: false,
      post: { command: check.command, timeout: check.timeout ?? '60s', onError: 'fail' },
      artifacts: [],
      recopyAfterPost: [],
      excludePaths: [],
    };
    const targets = await kube.resolveHookTargets(context, hook);
    if (!targets.length) throw ApplicationFailure.create({ type: 'HookFailedError', nonRetryable: true, message: `${what} ${check.name}: no running pod matches its selector in ${check.namespace}` });
    for (const t of targets) {
      const t0 = Date.now();
      const r = await kube.runHookStep(context, hook, 'post', t);
      into.push({ name: check.name, pod: t.pod, ok: r.ok, output: r.output.slice(0, 500), durationMs: Date.now() - t0 });
      if (!r.ok) throw ApplicationFailure.create({ type: 'HookFailedError', nonRetryable: true, message: `${what} ${check.name} failed in ${t.pod} (exit ${r.exitCode}): ${r.output.slice(-300)}` });
    }
  }
  return into;
}
