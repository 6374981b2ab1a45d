import { ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ExecHook } from '../shared/hook-presets';
import type { HookTarget } from '../shared/hooks';
import type { RestoreRequest } from '../shared/restore-request';
import type { DataCheckRecord } from '../shared/catalog';
import type { DrillCheckResult } from '../shared/drill';
import { NON_RETRYABLE_ERROR_TYPES } from '../shared/errors';

export type AppCheck = NonNullable<RestoreRequest['postRestoreChecks']>[number];
export type CheckResult = DrillCheckResult;

const kube = proxyActivities<Activities>({
  startToCloseTimeout: '10 minutes',
  heartbeatTimeout: '2 minutes',
  retry: { maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES },
});

const checkHook = (check: AppCheck): ExecHook => ({
  name: check.name,
  podSelector: { namespace: check.namespace, matchLabels: check.matchLabels },
  ...(check.container ? { container: check.container } : {}),
  session: false,
  post: { command: check.command, timeout: check.timeout ?? '60s', onError: 'fail' },
  artifacts: [],
  recopyAfterPost: [],
  excludePaths: [],
});

async function targetsOf(context: string, check: AppCheck, what: string): Promise<HookTarget[]> {
  const targets = await kube.resolveHookTargets(context, checkHook(check));
  if (!targets.length) throw ApplicationFailure.create({ type: 'HookFailedError', nonRetryable: true, message: `${what} ${check.name}: no running pod matches its selector in ${check.namespace}` });
  return targets;
}

/**
 * Runs each check's command in every running pod its selector matches on the cluster; the first
 * failure (or a check that matches no pod) stops with HookFailedError naming the check and pod.
 * `into` collects the results, also those before a failure.
 */
export async function runAppChecks(context: string, checks: AppCheck[], what: string, into: CheckResult[] = []): Promise<CheckResult[]> {
  for (const check of checks) {
    for (const t of await targetsOf(context, check, what)) {
      const t0 = Date.now();
      const r = await kube.runHookStep(context, checkHook(check), 'post', t);
      into.push({ name: check.name, pod: t.pod, ok: r.ok, output: r.output.slice(0, 500), durationMs: Date.now() - t0 });
      if (!r.ok) throw ApplicationFailure.create({ type: 'HookFailedError', nonRetryable: true, message: `${what} ${check.name} failed in ${t.pod} (exit ${r.exitCode}): ${r.output.slice(-300)}` });
    }
  }
  return into;
}

/**
 * Runs each data check once, in `preferPod` when it matches, else in the first matching pod by
 * name, and returns its trimmed output (or why there is none). A failing command is recorded, not
 * thrown: a drill reports it, a backup carries on.
 */
export async function readDataChecks(context: string, checks: AppCheck[], what: string, preferPod: (check: AppCheck) => string | undefined = () => undefined): Promise<(DataCheckRecord & { durationMs: number })[]> {
  const out: (DataCheckRecord & { durationMs: number })[] = [];
  for (const check of checks) {
    const t0 = Date.now();
    const targets = await targetsOf(context, check, what).catch((err: Error) => err);
    if (targets instanceof Error) {
      out.push({ name: check.name, pod: { namespace: check.namespace, name: '' }, error: targets.message, recordedAt: new Date().toISOString(), durationMs: Date.now() - t0 });
      continue;
    }
    const sorted = [...targets].sort((a, b) => a.pod.localeCompare(b.pod));
    const t = sorted.find((x) => x.pod === preferPod(check)) ?? sorted[0]!;
    const r = await kube.runHookStep(context, checkHook(check), 'post', t);
    const output = r.output.trim();
    out.push({
      name: check.name,
      pod: { namespace: t.namespace, name: t.pod },
      ...(r.ok ? { value: output.slice(0, 500) } : { error: `exit ${r.exitCode}: ${output.slice(-300)}` }),
      recordedAt: new Date().toISOString(),
      durationMs: Date.now() - t0,
    });
  }
  return out;
}
