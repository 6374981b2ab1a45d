import { ApplicationFailure, CancellationScope, defineQuery, metricMeter, proxyActivities, setCurrentDetails, setHandler, upsertSearchAttributes, log } from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { AgentActivities } from '../activities/volumes/agent-activities';
import { restoreKeyRef, type RestorePlanSummary, type RestoreRequest } from '../shared/restore-request';
import { runAppChecks } from './checks';
import { NON_RETRYABLE_ERROR_TYPES } from '../shared/errors';
import { nodeAgentTaskQueue } from '../shared/task-queues';
import { DrPhase } from '../shared/search-attributes';
import { recordingOutcome, recordPoint } from './run-attributes';

export interface RestoreProgress {
  phase: string;
  objectsTotal: number;
  objectsApplied: number;
  volumesTotal: number;
  volumesDone: number;
  bytesWritten: number;
}

export interface RestoreReport {
  restoreId: string;
  point: string;
  target: string;
  dryRun: boolean;
  plan: RestorePlanSummary;
  created: number;
  updated: number;
  skipped: number;
  /** `filesSkipped`, `bytesSkipped` and `removed` on hydrations (hydrateVolumes): what was already there, and what was not in the point. */
  volumes: { pvc: string; node: string; files: number; bytes: number; filesSkipped?: number; bytesSkipped?: number; removed?: number }[];
  checks: { name: string; pod: string; ok: boolean; output: string; durationMs: number }[];
  /** Start of the run to every workload ready: the restore's RTO. */
  rtoMs: number;
  rolledBack?: string[];
}

export const restoreProgressQuery = defineQuery<RestoreProgress>('progress');
export const restoreWorkflowId = (restoreId: string) => `restore/${restoreId}`;

const retry = { maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES };
/** Short Kubernetes calls: claim binding. */
const kube = proxyActivities<Activities>({ startToCloseTimeout: '10 minutes', heartbeatTimeout: '2 minutes', retry });

/**
 * Restores a recovery point to a cluster: verifies and plans it (changing nothing), applies it in
 * dependency order, writes each volume's data before any workload mounts it, waits until the
 * application is ready, runs post-restore checks, and reports the RTO. On failure, optionally
 * removes exactly what it created.
 */
export async function restore(req: RestoreRequest): Promise<RestoreReport> {
  return recordingOutcome('restore', req.planName, () => restoreApplication(req), (r) => (r.rolledBack ? 'rolled-back' : r.dryRun ? 'dry-run' : 'succeeded'));
}

async function restoreApplication(req: RestoreRequest): Promise<RestoreReport> {
  const started = Date.now();
  const progress: RestoreProgress = { phase: 'Plan', objectsTotal: 0, objectsApplied: 0, volumesTotal: 0, volumesDone: 0, bytesWritten: 0 };
  setHandler(restoreProgressQuery, () => progress);
  const setPhase = (p: string) => {
    progress.phase = p;
    upsertSearchAttributes([{ key: DrPhase, value: p }]);
    setCurrentDetails(
      `**${req.dryRun ? 'Dry run of the restore' : 'Restore'}** of \`${req.planName}/${req.pointId}\` to \`${req.target.context}\`\n\n` +
        `phase: **${p}** · objects: ${progress.objectsApplied}/${progress.objectsTotal} · volumes: ${progress.volumesDone}/${progress.volumesTotal}`,
    );
  };
  const heartbeatTimeout = req.heartbeatTimeoutMs ?? 120_000;
  /**
   * Activities whose work grows with the application: planning (verify, transform, preflight of
   * every object), each apply wave, rollback, helper removal. They heartbeat from their loops, so
   * a dead worker is noticed within the heartbeat timeout and a cancelled run stops them; the
   * start-to-close timeout only bounds a runaway attempt, far above a 10,000-object wave.
   */
  const long = proxyActivities<Activities>({ startToCloseTimeout: '6 hours', heartbeatTimeout, retry });
  /** Apply waves ride out a target API server that restarts (about 3 minutes of attempts): a wave is idempotent. */
  const applying = proxyActivities<Activities>({
    startToCloseTimeout: '6 hours',
    heartbeatTimeout,
    retry: { ...retry, maximumAttempts: 10, initialInterval: '2s', maximumInterval: '30s' },
  });
  /** Wait-ready runs for the requested timeout (which may be hours); its attempt gets that plus a margin. */
  const waiting = (timeoutMs: number) => proxyActivities<Activities>({ startToCloseTimeout: timeoutMs + 5 * 60_000, heartbeatTimeout, retry });
  const agent = (node: string) =>
    proxyActivities<AgentActivities>({
      taskQueue: nodeAgentTaskQueue(req.target.clusterName, node),
      startToCloseTimeout: '12 hours',
      heartbeatTimeout: req.agentHeartbeatTimeoutMs ?? 30_000,
      scheduleToStartTimeout: '10 minutes',
      retry: { maximumAttempts: 10, initialInterval: '2s', nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES },
    });

  setPhase('Plan');
  const plan = await long.planRestore(req);
  recordPoint(plan.pointId);
  progress.objectsTotal = plan.objects;
  progress.volumesTotal = plan.volumes.length;
  const report: RestoreReport = {
    restoreId: req.restoreId,
    point: `${plan.planName}/${plan.pointId}`,
    target: req.target.context,
    dryRun: req.dryRun,
    plan,
    created: 0,
    updated: 0,
    skipped: 0,
    volumes: [],
    checks: [],
    rtoMs: 0,
  };
  if (plan.problems.length) {
    throw ApplicationFailure.create({
      type: 'PreflightFailedError',
      nonRetryable: true,
      message: `the restore cannot succeed; nothing was changed on ${req.target.context}:\n  ${plan.problems.join('\n  ')}`,
    });
  }
  if (req.dryRun) {
    setPhase('DryRunDone');
    return report;
  }

  try {
    for (let i = 0; i < plan.waves.length; i++) {
      const wave = plan.waves[i];
      setPhase(`Apply:${wave.phase}`);
      const r = await applying.applyRestoreWave.executeWithOptions({ summary: `apply wave ${wave.phase} to ${req.target.context}` }, [req, i]);
      report.created += r.created;
      report.updated += r.updated;
      report.skipped += r.skipped;
      progress.objectsApplied += wave.objects;
      if (wave.restoresVolumeData) await restoreVolumes();
    }
    if (!plan.waves.some((w) => w.restoresVolumeData)) await restoreVolumes();

    setPhase('WaitReady');
    const waitReadyMs = req.waitReadyTimeoutMs ?? 10 * 60_000;
    await waiting(waitReadyMs).waitForWorkloadsReady(req.target.context, plan.namespaces, waitReadyMs);
    report.rtoMs = Date.now() - started;

    setPhase('PostRestoreChecks');
    await runAppChecks(req.target.context, req.postRestoreChecks ?? [], 'post-restore check', report.checks);
    setPhase('Done');
    metricMeter.createCounter('dr_restore_volume_bytes_total', '', 'bytes of volume data written by restores').withTags({ plan: req.planName }).add(report.volumes.reduce((n, v) => n + v.bytes, 0));
    return report;
  } catch (err) {
    if (req.rollbackOnFailure) {
      await CancellationScope.nonCancellable(async () => {
        setPhase('RollingBack');
        const rb = await long.rollbackRestore(req).catch((e: Error) => {
          log.error('rollback failed', { error: e.message });
          return { deleted: [] as string[], deletedCount: 0 };
        });
        log.info('rolled back', { deleted: rb.deletedCount ?? rb.deleted.length });
      });
    }
    setPhase('Failed');
    throw err;
  }

  async function restoreVolumes(): Promise<void> {
    const todo = plan.volumes.filter((v) => !v.existing || req.volumesOnly?.length || req.hydrateVolumes);
    if (!todo.length) return;
    setPhase('RestoreVolumes');
    try {
      await Promise.all(
        todo.map(async (v) => {
          const where = await kube.bindVolumeForRestore(req, v.namespace, v.pvc, v.placement);
          const r = await agent(where.node).restoreVolume.executeWithOptions({ summary: `restore volume ${v.namespace}/${v.pvc} on node ${where.node}` }, [
            { store: req.store, key: restoreKeyRef(req), volume: where, manifestKey: v.manifestKey, ...(req.hydrateVolumes ? { mirror: true } : {}) },
          ]);
          report.volumes.push({ pvc: `${v.namespace}/${v.pvc}`, node: where.node, files: r.files, bytes: r.bytes, ...(req.hydrateVolumes ? { filesSkipped: r.filesSkipped, bytesSkipped: r.bytesSkipped, removed: r.removed ?? 0 } : {}) });
          progress.volumesDone++;
          progress.bytesWritten += r.bytes;
        }),
      );
    } finally {
      await CancellationScope.nonCancellable(() => long.removeRestoreHelpers(req, [...new Set(todo.map((v) => v.namespace))]));
    }
  }
}

