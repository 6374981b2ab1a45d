import {
  ApplicationFailure,
  ParentClosePolicy,
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineUpdate,
  executeChild,
  isCancellation,
  metricMeter,
  patched,
  sleep,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities } from '../activities';
import { backup, backupWorkflowId, type BackupInput, type BackupReport } from './backup';
import { restore, restoreWorkflowId } from './restore';
import { planKeyRef, planToStoreRef, replicationIntervalMs, standbySite, standbyStoreRef, type Plan, type StandbySpec } from '../shared/plan';
import { restoreKeyOf } from '../shared/restore-request';
import { parseDuration, formatDuration } from '../shared/duration';
import { NON_RETRYABLE_ERROR_TYPES, innermostMessage } from '../shared/errors';
import { DrOperation, DrPhase, DrPlan, DrRpoSeconds, DrSourceCluster, DrTargetCluster } from '../shared/search-attributes';
import { recordingOutcome, recordPoint, recordSite } from './run-attributes';
import { rpoHealth, type ReplicatePhase, type ReplicateState, type ReplicateStatus } from '../shared/replication';

export interface ReplicateInput {
  plan: Plan;
  /** The standby site (spec.standbys[].name) this loop keeps within the plan's rpo. */
  site: string;
  /** The interval between points; default rpo/2 (see replicationIntervalMs). Tests use seconds. */
  intervalMs?: number;
  /** Cycles one run takes before it continues as new with its state (default 100, ~2,000 events). */
  maxCyclesPerRun?: number;
  /** Options of each backup child (heartbeat and pickup timeouts, maxHold, ...). */
  backup?: Omit<BackupInput, 'plan'>;
  /** Heartbeat timeout of the ship: how fast a dead worker is noticed mid-ship (default 60 s). */
  shipHeartbeatTimeoutMs?: number;
  /** Attempts of a ship before the cycle records the failure and waits for the next one (default 5). */
  shipMaxAttempts?: number;
  /** The first retry delay of a ship (default 2 s, doubling). */
  shipRetryInitialMs?: number;
  /**
   * Set on the loop a failover starts from the new primary: every cycle first scales the plan's
   * workloads on the standby (the old primary) to zero when it answers, so a site that comes back
   * after a disaster never serves beside the new primary.
   */
  fenceStandby?: { namespaces: string[] };
  /** Carried across continue-as-new; absent on the first run. */
  state?: ReplicateState;
}

export const replicateStatusQuery = defineQuery<ReplicateStatus>('status');
export const pauseReplicationUpdate = defineUpdate<ReplicateStatus>('pause');
export const resumeReplicationUpdate = defineUpdate<ReplicateStatus>('resume');
/** Takes and ships a point now instead of at the next interval (refused while paused). */
export const replicateNowUpdate = defineUpdate<ReplicateStatus>('replicateNow');
/** Sets the interval between points, in milliseconds (1 s up to the plan's rpo). */
export const setReplicationIntervalUpdate = defineUpdate<ReplicateStatus, [number]>('setInterval');

/** Loops of several standbys share points instead of colliding on the plan's one backup (fan-out). */
const FAN_OUT_PATCH = 'replicate-fan-out-shares-points';

const retry = { maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES };
/** Store reads heartbeat while they list (withKeepAlive), so a worker that dies mid-read costs 30 s, not five minutes. */
const storeOps = proxyActivities<Activities>({ startToCloseTimeout: '5 minutes', heartbeatTimeout: '30 seconds', retry });
/** One attempt: an old primary that is still down is the normal case, tried again next cycle. */
const standbyFence = proxyActivities<Activities>({ startToCloseTimeout: '6 minutes', heartbeatTimeout: '30 seconds', retry: { maximumAttempts: 1 } });

/**
 * Keeps one standby site of a plan within the plan's RPO, forever: every interval it takes an
 * application-consistent point with the backup workflow (as a child), ships it to the standby's
 * store, and publishes the achieved RPO (query, current details, search attributes). Pause,
 * resume, replicate-now and the interval are updates. A failed cycle is recorded and the next one
 * runs at the next interval. The loop continues as new with its state long before its history
 * grows large.
 */
export async function replicate(input: ReplicateInput): Promise<void> {
  return recordingOutcome('replicate', input.plan.metadata.name, () => replicateToSite(input));
}

async function replicateToSite(input: ReplicateInput): Promise<void> {
  const { plan } = input;
  const planName = plan.metadata.name;
  const site = siteOf(plan, input.site);
  const targetRpoMs = parseDuration(plan.spec.rpo ?? '') ?? 0;
  const maxCycles = Math.max(1, input.maxCyclesPerRun ?? 100);
  const ship = proxyActivities<Activities>({
    startToCloseTimeout: '12 hours',
    heartbeatTimeout: input.shipHeartbeatTimeoutMs ?? 60_000,
    retry: { ...retry, maximumAttempts: input.shipMaxAttempts ?? 5, initialInterval: input.shipRetryInitialMs ?? 2_000 },
  });
  const state: ReplicateState = input.state ?? {
    startedAt: new Date().toISOString(),
    intervalMs: input.intervalMs ?? replicationIntervalMs(plan),
    paused: false,
    cycles: 0,
    pointsShipped: 0,
    bytesShipped: 0,
    failures: 0,
    consecutiveFailures: 0,
    runs: 1,
  };
  let phase: ReplicatePhase = 'Starting';
  let cyclesThisRun = 0;
  let currentPointId: string | undefined;
  let nowRequested = false;
  let wakeups = 0;

  const status = (): ReplicateStatus => {
    const achieved = state.newest ? Date.now() - Date.parse(state.newest.capturedAt) : undefined;
    return {
      planName,
      site: site.name,
      phase,
      paused: state.paused,
      intervalMs: state.intervalMs,
      targetRpoMs,
      ...(achieved !== undefined ? { achievedRpoMs: achieved } : {}),
      rpoHealth: rpoHealth(achieved, targetRpoMs),
      asOf: new Date().toISOString(),
      ...(state.lastCycleStartedAt && !state.paused ? { nextCycleAt: new Date(Date.parse(state.lastCycleStartedAt) + state.intervalMs).toISOString() } : {}),
      cycles: state.cycles,
      cyclesThisRun,
      runs: state.runs,
      pointsShipped: state.pointsShipped,
      bytesShipped: state.bytesShipped,
      failures: state.failures,
      consecutiveFailures: state.consecutiveFailures,
      ...(state.newest ? { newest: state.newest } : {}),
      ...(state.lastError ? { lastError: state.lastError } : {}),
      ...(state.lastCycle ? { lastCycle: state.lastCycle } : {}),
      ...(currentPointId ? { currentPointId } : {}),
      ...(state.standbyFence ? { standbyFence: state.standbyFence } : {}),
      ...(state.lastHydration ? { lastHydration: state.lastHydration } : {}),
    };
  };
  /**
   * Prometheus (the worker's TDR_METRICS_ADDRESS): the newest point's capture time and the target,
   * so `time() - newest > 2 * target` alerts keep counting while the loop sleeps or its worker is down.
   */
  const tags = { plan: planName, site: site.name };
  const newestGauge = metricMeter.createGauge('dr_replication_newest_point_timestamp_seconds', 'int', 's', 'capture time of the newest recovery point complete at the standby').withTags(tags);
  const targetGauge = metricMeter.createGauge('dr_replication_rpo_target_seconds', 'int', 's', 'the plan\'s rpo').withTags(tags);
  const failuresGauge = metricMeter.createGauge('dr_replication_consecutive_failures', 'int', '', 'replication cycles failed in a row').withTags(tags);
  const shippedBytes = metricMeter.createCounter('dr_replication_shipped_bytes_total', '', 'bytes shipped to the standby store (packs it lacked)').withTags(tags);
  const intervalGauge = metricMeter.createGauge('dr_replication_interval_seconds', 'int', 's', 'how often the loop takes a point').withTags(tags);
  /** The UI's view: the phase and RPO as search attributes, a summary as current details. */
  const publish = (next: ReplicatePhase) => {
    phase = next;
    const s = status();
    targetGauge.set(Math.round(targetRpoMs / 1000));
    intervalGauge.set(Math.round(state.intervalMs / 1000));
    failuresGauge.set(state.consecutiveFailures);
    if (state.newest) newestGauge.set(Math.floor(Date.parse(state.newest.capturedAt) / 1000));
    upsertSearchAttributes([
      { key: DrPhase, value: phase },
      ...(s.achievedRpoMs !== undefined ? [{ key: DrRpoSeconds, value: Math.round(s.achievedRpoMs / 1000) }] : []),
    ]);
    setCurrentDetails(details(s));
  };

  setHandler(replicateStatusQuery, status);
  setHandler(pauseReplicationUpdate, () => {
    state.paused = true;
    wakeups++;
    if (phase === 'Waiting') publish('Paused');
    return status();
  });
  setHandler(resumeReplicationUpdate, () => {
    state.paused = false;
    wakeups++;
    return status();
  });
  setHandler(
    replicateNowUpdate,
    () => {
      nowRequested = true;
      return status();
    },
    { validator: () => void (state.paused && reject('replication is paused; resume it first (drctl replicate resume)')) },
  );
  setHandler(
    setReplicationIntervalUpdate,
    (ms: number) => {
      state.intervalMs = ms;
      wakeups++;
      return status();
    },
    {
      validator: (ms: number) => {
        if (!Number.isInteger(ms) || ms < 1000) reject(`interval ${ms} ms: expected a whole number of milliseconds, at least 1000`);
        if (targetRpoMs && ms > targetRpoMs) {
          reject(`interval ${formatDuration(ms)} is above the plan's rpo ${plan.spec.rpo}: the achieved RPO could not stay under it; raise spec.rpo or pick a shorter interval`);
        }
      },
    },
  );

  upsertSearchAttributes([
    { key: DrPlan, value: planName },
    { key: DrOperation, value: 'replicate' },
    { key: DrSourceCluster, value: plan.spec.source.clusterName ?? plan.spec.source.context },
    { key: DrTargetCluster, value: site.clusterName ?? site.context },
  ]);
  recordSite(site.name);
  if (!input.state) {
    // A loop started again over an existing standby knows its newest point from the store. A
    // standby that is down (an old primary after a disaster) is found by the cycles instead.
    const newest = await storeOps.newestPointAtStandby(standbyStoreRef(site), planName, planKeyRef(plan, site.context)).catch((err: unknown) => {
      if (isCancellation(err)) throw err;
      state.lastError = { at: new Date().toISOString(), phase: 'Starting', message: innermostMessage(err) };
      return undefined;
    });
    if (newest) state.newest = newest;
  }
  publish(state.paused ? 'Paused' : 'Starting');

  while (cyclesThisRun < maxCycles && !workflowInfo().continueAsNewSuggested) {
    await nextCycleDue();
    await takeAndShipPoint();
    cyclesThisRun++;
  }
  publish(state.paused ? 'Paused' : 'Waiting');
  await condition(allHandlersFinished);
  await continueAsNew<typeof replicate>({ ...input, intervalMs: state.intervalMs, state: { ...state, runs: state.runs + 1 } });

  /** Waits until the next point is due (or asked for), and while paused. */
  async function nextCycleDue(): Promise<void> {
    for (;;) {
      if (state.paused) {
        publish('Paused');
        await condition(() => !state.paused);
        continue;
      }
      if (nowRequested) {
        nowRequested = false;
        return;
      }
      const dueAt = state.lastCycleStartedAt ? Date.parse(state.lastCycleStartedAt) + state.intervalMs : 0;
      const wait = dueAt - Date.now();
      if (wait <= 0) return;
      publish('Waiting');
      const seen = wakeups;
      await condition(() => state.paused || nowRequested || wakeups !== seen, wait);
    }
  }

  /** One cycle: a point at the primary with the backup workflow, then shipped to the standby. */
  async function takeAndShipPoint(): Promise<void> {
    const startedAt = Date.now();
    state.lastCycleStartedAt = new Date(startedAt).toISOString();
    state.cycles++;
    if (input.fenceStandby) await keepStandbyFenced(input.fenceStandby.namespaces);
    publish('Backup');
    let point: Pick<BackupReport, 'pointId' | 'uploadedBytes'>;
    try {
      point = patched(FAN_OUT_PATCH) ? await takeOrSharePoint(startedAt) : await takePoint();
    } catch (err) {
      if (isCancellation(err)) throw err;
      return failed('Backup', err, startedAt);
    }
    currentPointId = point.pointId;
    publish('Ship');
    try {
      const shipped = await ship.shipPoint({
        planName,
        pointId: point.pointId,
        source: planToStoreRef(plan),
        standby: standbyStoreRef(site),
        key: planKeyRef(plan),
      });
      state.newest = { pointId: shipped.pointId, capturedAt: shipped.capturedAt, shippedAt: new Date().toISOString(), bytesShipped: shipped.bytesShipped };
      recordPoint(shipped.pointId);
      state.pointsShipped++;
      state.bytesShipped += shipped.bytesShipped;
      shippedBytes.add(shipped.bytesShipped);
      state.consecutiveFailures = 0;
      state.lastCycle = { pointId: point.pointId, startedAt: state.lastCycleStartedAt, durationMs: Date.now() - startedAt, ok: true, bytesShipped: shipped.bytesShipped, bytesBackedUp: point.uploadedBytes };
      if (site.standby === 'warm') await hydrateStandby(shipped.pointId);
    } catch (err) {
      if (isCancellation(err)) throw err;
      return failed('Ship', err, startedAt, point);
    } finally {
      currentPointId = undefined;
    }
    publish('Waiting');
  }

  function takePoint(): Promise<BackupReport> {
    return executeChild(backup, {
      workflowId: backupWorkflowId(planName),
      args: [{ ...input.backup, plan }],
      parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
      typedSearchAttributes: [
        { key: DrPlan, value: planName },
        { key: DrOperation, value: 'backup' },
        { key: DrSourceCluster, value: plan.spec.source.clusterName ?? plan.spec.source.context },
      ],
      staticSummary: `Backup of plan ${planName} for replication to ${site.name}`,
    });
  }

  /**
   * Fan-out: the loops of a plan's standbys share points. A point of the primary taken since this
   * cycle was due (by another site's loop, or by hand) is shipped as it is; otherwise this loop
   * takes one, waiting while another loop's backup runs (one backup per plan at a time) and
   * shipping that one when it lands.
   */
  async function takeOrSharePoint(cycleStartedAt: number): Promise<Pick<BackupReport, 'pointId' | 'uploadedBytes'>> {
    const freshSince = cycleStartedAt - Math.min(state.intervalMs / 2, 60_000);
    for (let waited = 0; ; waited++) {
      const newest = await storeOps.newestPointAtStandby(planToStoreRef(plan), planName, planKeyRef(plan));
      if (newest && Date.parse(newest.capturedAt) >= freshSince && newest.pointId !== state.newest?.pointId) return { pointId: newest.pointId, uploadedBytes: 0 };
      try {
        return await takePoint();
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError) || waited >= 900) throw err;
        await sleep(2000);
      }
    }
  }

  /**
   * Warm standby: the shipped point applied to the standby cluster from the standby's store, fenced
   * (nothing runs), claims made exact copies (unchanged files are not rewritten). A failed
   * hydration is recorded; the point is at the standby either way, and a failover restores it.
   */
  async function hydrateStandby(pointId: string): Promise<void> {
    publish('Hydrate');
    const started = Date.now();
    const restoreId = `hydrate-${pointId.toLowerCase()}`;
    try {
      const r = await executeChild(restore, {
        workflowId: restoreWorkflowId(restoreId),
        args: [
          {
            restoreId,
            store: standbyStoreRef(site),
            ...restoreKeyOf(plan, site.context),
            planName,
            pointId,
            target: { context: site.context, clusterName: site.clusterName ?? site.context },
            existingPolicy: 'update',
            dryRun: false,
            rollbackOnFailure: false,
            fencedFor: planName,
            hydrateVolumes: true,
            waitReadyTimeoutMs: 5 * 60_000,
            heartbeatTimeoutMs: 60_000,
          },
        ],
        parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
        staticSummary: `Warm standby ${site.name}: hydrate point ${pointId} (fenced)`,
      });
      const sum = (k: 'files' | 'filesSkipped' | 'bytes' | 'bytesSkipped' | 'removed') => r.volumes.reduce((n, v) => n + (v[k] ?? 0), 0);
      state.lastHydration = {
        pointId,
        at: new Date().toISOString(),
        ok: true,
        durationMs: Date.now() - started,
        objects: r.created + r.updated,
        filesWritten: sum('files') - sum('filesSkipped'),
        filesUnchanged: sum('filesSkipped'),
        bytesWritten: sum('bytes') - sum('bytesSkipped'),
        entriesRemoved: sum('removed'),
      };
    } catch (err) {
      if (isCancellation(err)) throw err;
      state.lastHydration = { pointId, at: new Date().toISOString(), ok: false, durationMs: Date.now() - started, error: innermostMessage(err) };
    }
  }

  async function keepStandbyFenced(namespaces: string[]): Promise<void> {
    publish('Fence');
    try {
      const r = await standbyFence.fenceApplication(site.context, namespaces, planName);
      state.standbyFence = { at: new Date().toISOString(), ok: true, detail: `${r.workloads.length} workload(s) held at zero on ${site.context}` };
    } catch (err) {
      if (isCancellation(err)) throw err;
      state.standbyFence = { at: new Date().toISOString(), ok: false, detail: innermostMessage(err) };
    }
  }

  function failed(at: 'Backup' | 'Ship', err: unknown, startedAt: number, point?: Pick<BackupReport, 'pointId' | 'uploadedBytes'>): void {
    state.failures++;
    state.consecutiveFailures++;
    state.lastError = { at: new Date().toISOString(), phase: at, message: innermostMessage(err), ...(point ? { pointId: point.pointId } : {}) };
    state.lastCycle = {
      ...(point ? { pointId: point.pointId } : {}),
      startedAt: new Date(startedAt).toISOString(),
      durationMs: Date.now() - startedAt,
      ok: false,
      bytesShipped: 0,
      bytesBackedUp: point?.uploadedBytes ?? 0,
    };
    publish('Waiting');
  }
}

function siteOf(plan: Plan, name: string): StandbySpec {
  try {
    return standbySite(plan, name);
  } catch (err) {
    throw ApplicationFailure.nonRetryable((err as Error).message, 'InvalidInputError');
  }
}

function reject(message: string): never {
  throw new Error(message);
}

function details(s: ReplicateStatus): string {
  const rpo = s.achievedRpoMs !== undefined ? `${formatDuration(Math.round(s.achievedRpoMs / 1000) * 1000)} (${s.rpoHealth})` : 'no point at the standby yet';
  const lines = [
    `**Replication of plan ${s.planName} to site ${s.site}** · phase **${s.phase}**${s.paused ? ' (paused)' : ''}`,
    '',
    `achieved RPO: **${rpo}** · target ${formatDuration(s.targetRpoMs)} · interval ${formatDuration(s.intervalMs)}`,
    `points shipped: ${s.pointsShipped} · bytes shipped: ${s.bytesShipped} · cycles: ${s.cycles} · failures: ${s.failures}`,
  ];
  if (s.newest) lines.push(`newest at the standby: \`${s.newest.pointId}\` captured ${s.newest.capturedAt}`);
  if (s.currentPointId) lines.push(`in progress: \`${s.currentPointId}\``);
  if (s.lastError) lines.push('', `last error (${s.lastError.phase}, ${s.lastError.at}): ${s.lastError.message}`);
  return lines.join('\n');
}
