import {
  ApplicationFailure,
  CancellationScope,
  defineQuery,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
  log,
  setCurrentDetails,
  metricMeter,
} from '@temporalio/workflow';
import { patched } from '@temporalio/workflow';
import type { Activities } from '../activities';
import { runRetentionUnderLock } from './prune';
import type { AgentActivities } from '../activities/volumes/agent-activities';
import type { VolumeToCopy } from '../activities/backup/backup-types';
import type { Plan } from '../shared/plan';
import { planKeyRef, planToStoreRef } from '../shared/plan';
import { resolveHooks, type ResolvedHook } from '../shared/hook-presets';
import { planVolumeHooks } from '../shared/volume-hooks';
import type { HookRunResult } from '../shared/hooks';
import { DEFAULT_MAX_HOLD_MS } from '../shared/quiesce';
import { artifactBytes, artifactContent, copyWhileQuiesced, hookFailure, QUIESCE_PATCH, type HoldOutcome, type QuiescedCopy } from './backup/quiesce';
import { legacyCopyWhileQuiesced } from './backup/quiesce-legacy';
import { pointId as makePointId, volumeSnapshotKey, hookArtifactKey, sanitizeHookOutput, type CatalogVolume, type DataCheckRecord, type HookRun } from '../shared/catalog';
import { readDataChecks } from './checks';
import { NON_RETRYABLE_ERROR_TYPES } from '../shared/errors';
import { nodeAgentTaskQueue } from '../shared/task-queues';
import { DrPhase } from '../shared/search-attributes';
import { recordingOutcome, recordPoint } from './run-attributes';
import type { VolumeBackupResult } from '../shared/volume-results';
import type { VolumeLocation } from '../shared/volume-location';

export interface BackupInput {
  plan: Plan;
  /** How long a hook may hold the quiesce unless the hook or its preset sets maxHold (default 30 min). */
  maxHoldMs?: number;
  /** Heartbeat timeout of volume copies: how fast a dead node agent is noticed (default 30 s). */
  agentHeartbeatTimeoutMs?: number;
  /** How long a copy may wait for its node's agent to pick it up (default 10 min). */
  agentPickupTimeoutMs?: number;
  /** Heartbeat timeout of hook activities: how fast a crashed session holder or step is noticed (default 30 s). */
  hookHeartbeatTimeoutMs?: number;
  /** Times the quiesce and copy are taken again when a held session is lost (default 3). */
  consistentCopyAttempts?: number;
  /** How long retention waits for another run's GC of the store to finish before it skips (default 30 min). */
  gcLockWaitMs?: number;
}

export interface BackupProgress {
  phase: string;
  pointId: string;
  resources: number;
  volumesTotal: number;
  volumesDone: number;
  bytesCopied: number;
}

export interface BackupReport {
  planName: string;
  pointId: string;
  catalogKey: string;
  resources: number;
  /** `attempts`: the most attempts any copy of the volume needed (2+ means an agent died mid-copy). */
  volumes: { pvc: string; node?: string; files: number; bytes: number; uploadedBytes: number; resumed: boolean; attempts: number }[];
  hooks: { hook: string; pod: string; phase: string; ok: boolean; durationMs: number }[];
  bytes: number;
  uploadedBytes: number;
  danglingReferences: string[];
  /** Things the point does not hold that an operator should know about (e.g. claims that were not bound). */
  warnings?: string[];
  /** Times the quiesce and copy were taken again because a quiesce was lost. */
  consistentCopyRetakes: number;
  /** How each quiesce of the copy ended (`workflow`: released once the copy had ended), and when the copy ended. */
  quiesce?: { copiesEndedAt?: string; holds: HoldOutcome[] };
  retention?: { kept: number; expired: number; abandonedRemoved: number; gc: unknown };
  durationMs: number;
}

export const backupProgressQuery = defineQuery<BackupProgress>('progress');

const retry = { maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES };
/** Prepare, discovery, hook targets and the catalog: they heartbeat while they run (withKeepAlive), so a dead worker costs a minute, not five. */
const kube = proxyActivities<Activities>({ startToCloseTimeout: '5 minutes', heartbeatTimeout: '1 minute', retry });
/** Snapshots and their temporary PVCs wait on a CSI driver; cleanup must not be cut short. */
const snapshotOps = proxyActivities<Activities>({ startToCloseTimeout: '20 minutes', heartbeatTimeout: '2 minutes', retry });
/**
 * Retention and garbage collection read every catalog and may delete many objects; they heartbeat
 * from every loop. Only runs started before retention moved under the store's GC lock use this.
 */
const maintenance = proxyActivities<Activities>({ startToCloseTimeout: '12 hours', heartbeatTimeout: '2 minutes', retry });

/** Workflow ID of a plan's backup: one run per plan at a time. */
export const backupWorkflowId = (planName: string) => `backup/${planName}`;

/**
 * Backs up one application: captures every object, quiesces it with the plan's hooks, copies its
 * volumes through the node agents while quiesced, releases the quiesce whatever happens, and
 * writes the catalog last so the point is complete and verifiable or visibly incomplete.
 */
export async function backup(input: BackupInput): Promise<BackupReport> {
  return recordingOutcome('backup', input.plan.metadata.name, () => backupApplication(input));
}

async function backupApplication(input: BackupInput): Promise<BackupReport> {
  const { plan } = input;
  const info = workflowInfo();
  const started = new Date();
  const id = makePointId(started, info.runId.replace(/-/g, '').slice(-8));
  recordPoint(id);
  const metricTags = { plan: plan.metadata.name };
  const progress: BackupProgress = { phase: 'Prepare', pointId: id, resources: 0, volumesTotal: 0, volumesDone: 0, bytesCopied: 0 };
  setHandler(backupProgressQuery, () => progress);
  const timings: { phase: string; startedAt: string; durationMs: number }[] = [];
  const phase = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    progress.phase = name;
    upsertSearchAttributes([{ key: DrPhase, value: name }]);
    setCurrentDetails(
      `**Backup of plan ${plan.metadata.name}**, point \`${id}\`\n\n` +
        `phase: **${name}** · objects: ${progress.resources} · volumes: ${progress.volumesDone}/${progress.volumesTotal}\n\n` +
        timings.map((t) => `- ${t.phase}: ${t.durationMs} ms`).join('\n'),
    );
    const t0 = Date.now();
    try {
      return await fn();
    } finally {
      timings.push({ phase: name, startedAt: new Date(t0).toISOString(), durationMs: Date.now() - t0 });
    }
  };

  const context = plan.spec.source.context;
  const cluster = plan.spec.source.clusterName ?? context;
  const store = planToStoreRef(plan);
  const keyRef = planKeyRef(plan);
  const agent = (node: string) =>
    proxyActivities<AgentActivities>({
      taskQueue: nodeAgentTaskQueue(cluster, node),
      startToCloseTimeout: '12 hours',
      heartbeatTimeout: input.agentHeartbeatTimeoutMs ?? 30_000,
      scheduleToStartTimeout: input.agentPickupTimeoutMs ?? 600_000,
      retry: { maximumAttempts: 10, initialInterval: '2s', nonRetryableErrorTypes: NON_RETRYABLE_ERROR_TYPES },
    });

  /** Namespaces that may hold this run's VolumeSnapshots, to clean up whatever happens. */
  let snapshotNamespaces: string[] = [];
  /** Namespaces where helper pods mount claims that no running pod mounted, to remove whatever happens. */
  const helperNamespaces = new Set<string>();
  try {
    const { kubernetesVersion } = await phase('Prepare', () =>
      kube.prepareBackup(plan, id, { workflowId: info.workflowId, runId: info.runId, startedAt: started.toISOString() }),
    );
    const captured = await phase('Discover', () => kube.captureResources(plan, id));
    progress.resources = captured.objects;
    const problems = captured.volumes.filter((v) => v.problem).map((v) => v.problem!);
    if (problems.length) {
      throw ApplicationFailure.create({ type: 'PreflightFailedError', nonRetryable: true, message: `cannot copy ${problems.length} volume(s):\n  ${problems.join('\n  ')}` });
    }
    const toCopy = captured.volumes.filter((v) => v.mode !== 'skip' && !v.noData);
    const warnings = captured.volumes.flatMap((v) => (v.noData ? [v.noData] : []));
    for (const w of warnings) log.warn(w);
    /** Copied live while quiesced; snapshot volumes are snapshotted while quiesced and copied after. */
    const liveCopies = toCopy.filter((v) => v.mode === 'copy');
    const snapshotCopies = toCopy.filter((v) => v.mode === 'snapshot-then-copy');
    let snapshots: { namespace: string; pvc: string; snapshot: string; restoreSize?: string }[] = [];
    snapshotNamespaces = [...new Set(snapshotCopies.map((v) => v.namespace))];
    progress.volumesTotal = toCopy.length;

    const hooks = resolveHooks(plan.spec.hooks);
    const targets = await phase('ResolveHooks', async () =>
      Promise.all(hooks.map(async (h) => ({ hook: h, targets: await kube.resolveHookTargets(context, h) }))),
    );
    const volumePlan = planVolumeHooks(targets, toCopy);

    // ---- Quiesce, copy while quiesced, release, and prove the quiesce held until the copy ended
    // (workflows/backup/quiesce.ts). A quiesce that was lost (a held session whose worker crashed)
    // leaves a copy that is not consistent: it is taken again. Chunks already uploaded are
    // deduplicated, so a repeat costs reading, not uploading.
    const copies = new Map<string, VolumeBackupResult>();
    /** Highest activity attempt each volume's copy needed, over every retake. */
    const copyAttempts = new Map<string, number>();
    /** Where the live volume is read: a running pod's kubelet directory, else a helper pod mounting the claim. */
    const mountedClaims = new Map<string, Promise<AgentVolumeRef>>();
    const liveVolume = (v: VolumeToCopy): Promise<AgentVolumeRef> => {
      const k = v.namespace + '/' + v.pvc;
      if (!mountedClaims.has(k)) {
        mountedClaims.set(
          k,
          v.location
            ? Promise.resolve({ node: v.location.node, volume: v.location })
            : v.hostPath && v.node
              ? Promise.resolve({ node: v.node, hostPath: v.hostPath }) // recorded by an older release
              : snapshotOps.mountClaimForCopy(context, id, v.namespace, v.pvc).then((loc) => {
                  helperNamespaces.add(v.namespace);
                  return { node: loc.node, volume: loc };
                }),
        );
      }
      return mountedClaims.get(k)!;
    };
    /** One volume's copy by the agent of the node that holds `where` (the live PV or a snapshot's copy). */
    const copyVolume = async (v: VolumeToCopy, where: AgentVolumeRef, sessionId: string, source: Record<string, string>) => {
      const pvcKey = v.namespace + '/' + v.pvc;
      const vp = volumePlan.get(pvcKey);
      const key = volumeSnapshotKey(plan.metadata.name, id, v.namespace, v.pvc);
      const r = await agent(where.node).backupVolume.executeWithOptions({ summary: `copy volume ${pvcKey} on node ${where.node}` }, [{
        store,
        key: keyRef,
        ...volumeRefOf(where),
        manifestKey: vp?.needsFinalize ? key + '.pass1' : key,
        sessionId,
        parentManifestKey: captured.parents[pvcKey],
        source: { cluster, namespace: v.namespace, pvc: v.pvc, node: where.node, ...source },
        exclude: vp?.exclude,
      }]);
      copies.set(pvcKey, r);
      copyAttempts.set(pvcKey, Math.max(copyAttempts.get(pvcKey) ?? 0, r.attempt));
      progress.volumesDone++;
      progress.bytesCopied += r.bytes;
    };
    // Plans validated before spec.drill.dataChecks existed have none, so runs started by older
    // releases never take this step and replay unchanged without a patch.
    const dataChecks = (plan.spec.drill?.dataChecks ?? []).map((c) => ({ name: c.name, namespace: c.podSelector.namespace, matchLabels: c.podSelector.matchLabels, command: c.command, timeout: c.timeout, ...(c.container ? { container: c.container } : {}) }));
    let dataCheckValues: DataCheckRecord[] = [];
    /** What is taken while the application is quiesced: the snapshots, the live copies, and the data checks' values. */
    const copyWhileHeld = async (attempt: number) => {
      if (snapshotCopies.length) {
        snapshots = await phase('Snapshot', () =>
          snapshotOps.snapshotVolumes(context, id, attempt, snapshotCopies.map((v) => ({ namespace: v.namespace, pvc: v.pvc })), plan.spec.volumes.snapshotClass),
        );
      }
      await phase('CopyVolumes', () =>
        Promise.all(
          liveCopies.map((v) =>
            liveVolume(v).then((where) =>
              copyVolume(v, where, id + '-' + v.namespace + '-' + v.pvc + (attempt > 1 ? '-a' + attempt : ''), { pv: v.pvName ?? '' }),
            ),
          ),
        ),
      );
      if (dataChecks.length) {
        const read = await phase('RecordDataChecks', () => readDataChecks(context, dataChecks, 'data check'));
        dataCheckValues = read.map(({ durationMs: _d, ...r }) => r);
        for (const r of read) if (r.error) log.warn(`data check ${r.name} could not be recorded; drills of this point will fail it`, { error: r.error });
      }
    };
    const quiesceOptions = {
      context,
      hooks: targets,
      onHookFailed: (r: HookRunResult) => metricMeter.createCounter('dr_hook_failures_total', '', 'hook steps that failed (pre or post)').withTags({ ...metricTags, hook: r.hook, phase: r.phase }).add(1),
      heartbeatTimeoutMs: input.hookHeartbeatTimeoutMs ?? 30_000,
      attempts: input.consistentCopyAttempts ?? 3,
      phase,
      beforeAttempt: (attempt: number) => {
        copies.clear();
        if (attempt > 1) {
          progress.volumesDone = 0;
          progress.bytesCopied = 0;
        }
      },
    };
    // Runs started before the patch replay the quiesce they started with.
    const quiesced: QuiescedCopy = patched(QUIESCE_PATCH)
      ? await copyWhileQuiesced({ ...quiesceOptions, defaultMaxHoldMs: input.maxHoldMs ?? DEFAULT_MAX_HOLD_MS }, copyWhileHeld)
      : { ...(await legacyCopyWhileQuiesced({ ...quiesceOptions, maxHoldMs: input.maxHoldMs }, copyWhileHeld)), holds: [] };
    const hookResults = quiesced.hooks;
    const retakes = quiesced.retakes;

    // ---- Snapshot volumes: the application already runs on; copy each snapshot through a temporary PVC.
    if (snapshotCopies.length) {
      try {
        await phase('CopySnapshots', () =>
          Promise.all(
            snapshotCopies.map(async (v) => {
              const snap = snapshots.find((s) => s.namespace === v.namespace && s.pvc === v.pvc)!;
              const mounted = await snapshotOps.mountSnapshot(context, id, snap, v.storageClass, v.size);
              await copyVolume(v, mounted.podUid ? { node: mounted.node, volume: mounted } : { node: mounted.node, hostPath: mounted.hostPath }, id + '-' + v.namespace + '-' + v.pvc + '-snap', { snapshot: snap.snapshot });
            }),
          ),
        );
      } finally {
        await CancellationScope.nonCancellable(() =>
          snapshotOps.cleanupSnapshots(context, id, snapshotNamespaces).catch((e: Error) => {
            log.warn('could not remove temporary snapshot objects', { error: e.message });
            return { snapshots: 0, claims: 0 };
          }),
        );
      }
    }

    const failedPost = hookResults.find((r) => r.phase === 'post' && !r.ok && hookOnError(hooks, r.hook, 'post') !== 'continue');
    if (failedPost) throw ApplicationFailure.create({ type: 'HookFailedError', nonRetryable: true, message: hookFailure(failedPost) });

    // ---- Second pass where a hook asked for one (PostgreSQL: pg_wal after pg_backup_stop, plus backup_label).
    await phase('FinalizeVolumes', () =>
      Promise.all(
        toCopy.map(async (v) => {
          const vp = volumePlan.get(`${v.namespace}/${v.pvc}`);
          if (!vp?.needsFinalize) return;
          const extraFiles = vp.artifacts.map((a) => {
            const out = hookResults.find((r) => r.hook === a.hook && r.pod === a.pod && r.phase === 'post');
            return { path: a.path, content: artifactContent(out) };
          });
          const base = volumeSnapshotKey(plan.metadata.name, id, v.namespace, v.pvc);
          const r = await agent((await liveVolume(v)).node).finalizeVolume({
            store,
            key: keyRef,
            ...volumeRefOf(await liveVolume(v)),
            baseManifestKey: `${base}.pass1`,
            overlayManifestKey: `${base}.pass2`,
            finalManifestKey: base,
            sessionId: `${id}-${v.namespace}-${v.pvc}-final`,
            replacePaths: vp.recopy,
            extraFiles,
            source: { cluster, namespace: v.namespace, pvc: v.pvc, node: v.node!, pass: 'final' },
          });
          const first = copies.get(`${v.namespace}/${v.pvc}`)!;
          copies.set(`${v.namespace}/${v.pvc}`, { ...r, newBytesUploaded: first.newBytesUploaded + r.newBytesUploaded, resumed: first.resumed, attempt: first.attempt });
        }),
      ),
    );

    if (helperNamespaces.size) {
      await CancellationScope.nonCancellable(() => snapshotOps.cleanupSnapshots(context, id, [...helperNamespaces]));
      helperNamespaces.clear();
    }

    const catalogVolumes: CatalogVolume[] = captured.volumes.map((v) => {
      const c = copies.get(`${v.namespace}/${v.pvc}`);
      const vp = volumePlan.get(`${v.namespace}/${v.pvc}`);
      return {
        pvc: { namespace: v.namespace, name: v.pvc },
        ...(v.pvName ? { pvName: v.pvName } : {}),
        ...(v.storageClass ? { storageClass: v.storageClass } : {}),
        size: v.size,
        mode: v.mode,
        ...(v.node ? { node: v.node } : {}),
        ...(c ? { snapshotKey: c.manifestKey, snapshotSha256: c.manifestSha256 } : {}),
        ...(v.noData ? { noData: v.noData } : {}),
        files: c?.files ?? 0,
        bytes: c?.bytes ?? 0,
        hookArtifacts: (vp?.artifacts ?? []).map((a) => ({
          hook: a.hook,
          containerPath: a.containerPath,
          volumePath: a.path,
          // The content lives inside the volume snapshot itself (restored with the files).
          key: c?.manifestKey ?? hookArtifactKey(plan.metadata.name, id, v.namespace, v.pvc, a.path),
          sha256: c?.manifestSha256 ?? '0'.repeat(64),
          size: artifactBytes(hookResults.find((r) => r.hook === a.hook && r.pod === a.pod && r.phase === 'post')),
        })),
      };
    });
    const hookRuns: HookRun[] = hookResults.map((r) => {
      const { output, truncated } = sanitizeHookOutput(r.output);
      const target = targets.flatMap((t) => t.targets).find((t) => t.pod === r.pod);
      return {
        hook: r.hook,
        pod: { namespace: target?.namespace ?? '', name: r.pod },
        container: r.container,
        step: r.phase,
        result: r.ok ? 'ok' : r.timedOut ? 'timed-out' : 'failed',
        exitCode: r.exitCode,
        durationMs: r.durationMs,
        output,
        outputTruncated: truncated || !!r.outputTruncated,
      };
    });
    const uploaded = [...copies.values()].reduce((n, c) => n + c.newBytesUploaded, 0);
    const written = await phase('WriteCatalog', () =>
      kube.writeCatalog({
        plan,
        pointId: id,
        kubernetesVersion,
        startedAt: started.toISOString(),
        bundle: { key: captured.bundleKey, sha256: captured.bundleSha256, size: captured.bundleSize },
        volumes: catalogVolumes,
        hooks: hookRuns,
        timings,
        storedBytes: uploaded,
        ...(dataChecks.length ? { dataChecks: dataCheckValues } : {}),
      }),
    );
    // Retention runs after the new point is complete, so it can never expire the only good point.
    let retention: BackupReport['retention'];
    if (plan.spec.retention) {
      retention = await phase('Retention', async () => {
        // Runs started before this change called the activity directly; newer runs take the
        // store's GC lock (the child workflow gc/<store>, shared with `drctl points prune`).
        if (!patched('retention-under-gc-lock')) return maintenance.applyRetention(plan);
        const r = await runRetentionUnderLock({ plan, lockWaitMs: input.gcLockWaitMs ?? 30 * 60_000 });
        return { kept: r.kept.length, expired: r.expired.length, abandonedRemoved: r.abandonedRemoved.length, gc: r.gc };
      }).catch((err: Error) => {
        log.warn('retention failed; the new point is complete and kept', { error: err.message });
        return { kept: 0, expired: 0, abandonedRemoved: 0, gc: { error: err.message } };
      });
    }
    progress.phase = 'Done';
    upsertSearchAttributes([{ key: DrPhase, value: 'Done' }]);
    metricMeter.createCounter('dr_backup_uploaded_bytes_total', '', 'bytes of volume data uploaded by backups (after deduplication)').withTags(metricTags).add(uploaded);
    metricMeter.createCounter('dr_backup_volume_bytes_total', '', 'bytes of volume data read by backups').withTags(metricTags).add(progress.bytesCopied);
    metricMeter.createGauge('dr_backup_last_success_timestamp_seconds', 'int', 's', 'capture time of the newest complete recovery point').withTags(metricTags).set(Math.floor(started.getTime() / 1000));
    return {
      planName: plan.metadata.name,
      pointId: id,
      catalogKey: written.catalogKey,
      resources: written.resources,
      volumes: toCopy.map((v) => {
        const c = copies.get(`${v.namespace}/${v.pvc}`)!;
        return { pvc: `${v.namespace}/${v.pvc}`, node: v.node, files: c.files, bytes: c.bytes, uploadedBytes: c.newBytesUploaded, resumed: c.resumed, attempts: copyAttempts.get(`${v.namespace}/${v.pvc}`) ?? c.attempt };
      }),
      hooks: hookResults.map((r) => ({ hook: r.hook, pod: r.pod, phase: r.phase, ok: r.ok, durationMs: r.durationMs })),
      bytes: progress.bytesCopied,
      uploadedBytes: uploaded,
      danglingReferences: captured.dangling,
      ...(warnings.length ? { warnings } : {}),
      consistentCopyRetakes: retakes,
      ...(quiesced.holds.length ? { quiesce: { copiesEndedAt: quiesced.copiesEndedAt, holds: quiesced.holds } } : {}),
      retention,
      durationMs: Date.now() - started.getTime(),
    };
  } catch (err) {
    progress.phase = 'Failed';
    await CancellationScope.nonCancellable(async () => {
      upsertSearchAttributes([{ key: DrPhase, value: 'Failed' }]);
      const temporaries = [...new Set([...snapshotNamespaces, ...helperNamespaces])];
      if (temporaries.length) await snapshotOps.cleanupSnapshots(context, id, temporaries).catch(() => undefined);
      await kube.markPointFailed(plan, id, String((err as Error)?.message ?? err)).catch((e) => log.warn('could not mark the point failed', { error: String(e) }));
    });
    throw err;
  }
}

function hookOnError(hooks: ResolvedHook[], name: string, phase: 'pre' | 'post'): string | undefined {
  return hooks.find((h) => h.name === name)?.[phase]?.onError;
}

/** The node whose agent serves a volume, and how it finds it there. */
interface AgentVolumeRef {
  node: string;
  volume?: VolumeLocation;
  /** A PV host path recorded by an older release. */
  hostPath?: string;
}

const volumeRefOf = (where: AgentVolumeRef) => (where.volume ? { volume: where.volume } : { hostPath: where.hostPath });
