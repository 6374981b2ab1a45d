import { createHash } from 'node:crypto';
import { Context } from '@temporalio/activity';
import type { KeyRef, StoreRef } from '../shared/store-ref';
import type { Plan } from '../shared/plan';
import type { ExecHook, ResolvedHook, SessionHook } from '../shared/hook-presets';
import type { HoldSettings, HookTarget } from '../shared/hooks';
import { checkStoreRoundTrip } from './store/check-store';
import { captureResources } from './backup/capture-resources';
import { prepareBackup, writeCatalog, markPointFailed, type CatalogInputs } from './backup/point-lifecycle';
import { resolveHookTargets, runHookStep, runSessionHookStep, holdHookSession } from './hooks/run-hooks';
import type { RestoreRequest } from '../shared/restore-request';
import { planRestore } from './restore/build-plan';
import { applyRestoreWave, rollbackRestore } from './restore/apply-wave';
import { bindVolumeForRestore, removeRestoreHelpers } from './restore/volumes';
import { waitForWorkloadsReady } from './restore/wait-ready';
import { applyRetention, type RetentionResult } from './backup/retention';
import { beat, withKeepAlive } from './util/heartbeat';
import { snapshotVolumes, mountSnapshot, mountClaimForCopy, cleanupSnapshots } from './backup/snapshots';
import type { HelperPlacement } from '../shared/helper-placement';
import { shipPoint, type ShipPointInput } from './replication/ship-point';
import { newestPointAtStandby } from './replication/standby-points';
import { activateApplication, clearFencedNamespaces, fenceApplication, probeCluster } from './failover/fence';
import { callWebhook, switchTraffic, writeFailoverReport } from './failover/traffic';
import type { FailoverSpec } from '../shared/plan';
import type { FailoverReport } from '../shared/failover';
import { newestPointForDrill, pauseDrillsAfterFailures, prepareDrillNamespaces, teardownDrill, writeDrillReport } from './drill/isolation';
import type { DrillReport } from '../shared/drill';
import { httpCheckThroughApiServer } from './drill/http-check';
import type { HttpCheck } from '../shared/plan';

/**
 * The orchestrator's activities: every side effect a workflow needs, except volume data, which
 * only node agents touch (volumes/agent-activities.ts). Each is idempotent so a retry after a
 * crash converges.
 */
export function createActivities() {
  return {
    async checkStore(input: { store: StoreRef; sizeBytes: number }) {
      const info = Context.current().info;
      const run = info.workflowExecution ? `${info.workflowExecution.workflowId}/${info.workflowExecution.runId}` : info.activityId;
      return checkStoreRoundTrip(input.store, run, input.sizeBytes);
    },
    // The backup's short steps heartbeat while they run, so a dead worker is noticed in a minute.
    prepareBackup: (plan: Plan, pointId: string, run: { workflowId: string; runId: string; startedAt: string }) => withKeepAlive(() => prepareBackup(plan, pointId, run)),
    captureResources: (plan: Plan, pointId: string) => withKeepAlive(() => captureResources(plan, pointId)),
    writeCatalog: (input: CatalogInputs) => withKeepAlive(() => writeCatalog(input)),
    markPointFailed: (plan: Plan, pointId: string, reason: string) => withKeepAlive(() => markPointFailed(plan, pointId, reason)),
    /** Backups started before retention ran under the store's GC lock (workflows/prune.ts) still call this. */
    async applyRetention(plan: Plan) {
      const r = await applyRetention(plan, { onProgress: (p) => beat(p), gcLockId: runLockId() });
      // Only counts go back to the workflow; the ids can be many.
      return { kept: r.kept.length, expired: r.expired.length, abandonedRemoved: r.abandonedRemoved.length, gc: r.gc };
    },
    /** Retention and GC for the `storeGc` workflow; heartbeats every loop, stops when cancelled. */
    async pruneStore(plan: Plan, opts: { dryRun: boolean; abandonedAfterMs?: number; gcGraceMs?: number }): Promise<RetentionResult> {
      return applyRetention(plan, { ...opts, onProgress: (p) => beat(p), gcLockId: runLockId() });
    },
    snapshotVolumes: (context: string, pointId: string, attempt: number, volumes: { namespace: string; pvc: string }[], snapshotClass?: string) =>
      snapshotVolumes(context, pointId, attempt, volumes, snapshotClass),
    mountSnapshot: (context: string, pointId: string, snap: { namespace: string; pvc: string; snapshot: string; restoreSize?: string }, storageClass: string | undefined, size: string) =>
      mountSnapshot(context, pointId, snap, storageClass, size),
    mountClaimForCopy: (context: string, pointId: string, namespace: string, pvc: string) => mountClaimForCopy(context, pointId, namespace, pvc),
    cleanupSnapshots: (context: string, pointId: string, namespaces: string[]) => cleanupSnapshots(context, pointId, namespaces),
    resolveHookTargets: (context: string, hook: ResolvedHook) => withKeepAlive(() => resolveHookTargets(context, hook)),
    runHookStep: (context: string, hook: ExecHook, phase: 'pre' | 'post', target: HookTarget) => runHookStep(context, hook, phase, target),
    runSessionHookStep: (context: string, hook: SessionHook, phase: 'pre' | 'post', target: HookTarget) => runSessionHookStep(context, hook, phase, target),
    /** `settings` is a number (the default maxHold) in runs started by older releases. */
    holdHookSession: (context: string, hook: SessionHook, target: HookTarget, settings: HoldSettings | number) => holdHookSession(context, hook, target, settings),
    planRestore: (req: RestoreRequest) => planRestore(req),
    applyRestoreWave: (req: RestoreRequest, wave: number) => applyRestoreWave(req, wave),
    rollbackRestore: (req: RestoreRequest) => rollbackRestore(req),
    bindVolumeForRestore: (req: RestoreRequest, namespace: string, pvc: string, placement?: HelperPlacement) => bindVolumeForRestore(req, namespace, pvc, placement),
    removeRestoreHelpers: (req: RestoreRequest, namespaces: string[]) => removeRestoreHelpers(req, namespaces),
    waitForWorkloadsReady: (context: string, namespaces: string[], timeoutMs: number) => waitForWorkloadsReady(context, namespaces, timeoutMs),
    /** Replication: copies a point's missing packs and objects to a standby store, catalog last; heartbeats, resumes. */
    shipPoint: (input: ShipPointInput) => shipPoint(input),
    newestPointAtStandby: (standby: StoreRef, planName: string, key?: KeyRef) => withKeepAlive(() => newestPointAtStandby(standby, planName, key)),
    /** Failover: fencing, activation and clearing of a site's copy of the application; probes; traffic; the report. */
    probeCluster: (context: string) => probeCluster(context),
    fenceApplication: (context: string, namespaces: string[], planName: string) => fenceApplication(context, namespaces, planName),
    activateApplication: (context: string, namespaces: string[]) => activateApplication(context, namespaces),
    clearFencedNamespaces: (context: string, namespaces: string[], planName: string, opts?: { keep?: boolean }) => clearFencedNamespaces(context, namespaces, planName, opts),
    callWebhook: (url: string, body: Record<string, unknown>, purpose: string) => callWebhook(url, body, purpose),
    switchTraffic: (spec: NonNullable<FailoverSpec['trafficSwitch']>, to: string, info: { planName: string; from: string; failoverId: string }) => switchTraffic(spec, to, info),
    writeFailoverReport: (store: StoreRef, report: FailoverReport) => writeFailoverReport(store, report),
    /** Drills: the point to restore, isolated namespaces, teardown that checks nothing is left, the report. */
    newestPointForDrill: (store: StoreRef, planName: string, key?: KeyRef) => newestPointForDrill(store, planName, key),
    prepareDrillNamespaces: (context: string, namespaces: string[], drillId: string) => prepareDrillNamespaces(context, namespaces, drillId),
    teardownDrill: (context: string, namespaces: string[], drillId: string) => teardownDrill(context, namespaces, drillId),
    httpCheckThroughApiServer: (context: string, check: HttpCheck) => httpCheckThroughApiServer(context, check),
    writeDrillReport: (store: StoreRef, report: DrillReport) => writeDrillReport(store, report),
    pauseDrillsAfterFailures: (store: StoreRef, planName: string, after: number) => pauseDrillsAfterFailures(store, planName, after),
  };
}

export type Activities = ReturnType<typeof createActivities>;

/** The same for every attempt of the current workflow run's activities: a retry reuses its lock object. */
function runLockId(): string {
  const info = Context.current().info;
  const run = info.workflowExecution ? `${info.workflowExecution.workflowId}/${info.workflowExecution.runId}/${info.activityType}` : info.activityId;
  return createHash('sha256').update(run).digest('hex').slice(0, 16);
}
