import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { VolumeAccessRefusedError } from '../../shared/errors';
import type { StoreRef } from '../../shared/store-ref';
import type { VolumeBackupResult, VolumeRestoreResult } from '../../shared/volume-results';
import { backupTree, type BackupCheckpoint } from '../datapath/tree-backup';
import { restoreTree } from '../datapath/tree-restore';
import { readVolumeManifest } from '../datapath/manifest';
import { openRepository, type KeyRef } from '../store/open-repository';
import type { VolumeLocation } from '../../shared/volume-location';
import { resolveVolumeDir } from './resolve-path';
import { authorizeVolume, bareHostPathRefused, type AgentKubeApi } from './authorize-volume';
import { mergeVolumeManifests } from './merge-manifests';

interface Heartbeat {
  checkpoint?: BackupCheckpoint;
  filesDone: number;
  bytesDone: number;
  bytesTotal: number;
}

/** Where a task's volume is: a kubelet pod volume directory (`volume`), or a PV host path from a workflow started before volume locations existed. */
interface VolumeRef {
  volume?: VolumeLocation;
  /** @deprecated sent by runs started by an older release; refused (see bareHostPathRefused). */
  hostPath?: string;
}

/**
 * Activities of the node agent: the only code that touches volume data. Each runs on the task
 * queue of the node that holds the volume, resolves the volume itself through the Kubernetes API
 * (authorizeVolume: the pod on a node this agent serves, the claim it mounts, the PV bound to it)
 * before touching anything on disk, finds it through the kubelet's directory of that pod, and
 * talks to the store directly. Progress is heartbeated with a tiny checkpoint; a retry after a
 * crash resumes from it.
 */
export function createAgentActivities(opts: { cluster: string; nodes: readonly string[]; kube: AgentKubeApi }) {
  const dirOf = async (ref: VolumeRef): Promise<string> => {
    try {
      if (!ref.volume) throw bareHostPathRefused(ref.hostPath, opts);
      return await resolveVolumeDir(await authorizeVolume(ref.volume, opts), opts.cluster);
    } catch (err) {
      // Non-retryable whatever the caller's retry policy: activities scheduled by an older
      // release's workflow code do not list this error type among their non-retryable ones.
      if (err instanceof VolumeAccessRefusedError) throw ApplicationFailure.create({ type: err.name, message: err.message, nonRetryable: true });
      throw err;
    }
  };
  return {
    async backupVolume(input: VolumeRef & {
      store: StoreRef;
      key: KeyRef;
      manifestKey: string;
      sessionId: string;
      source: Record<string, string>;
      exclude?: string[];
      only?: string[];
      /** Manifest of the previous point of the same volume: unchanged files reuse its entries unread. */
      parentManifestKey?: string;
    }): Promise<VolumeBackupResult> {
      const ctx = Context.current();
      const last = ctx.info.heartbeatDetails as Heartbeat | undefined;
      const root = await dirOf(input);
      const repo = await openRepository(input.store, input.key, { create: false });
      const result = await backupTree(repo, {
        root,
        manifestKey: input.manifestKey,
        sessionId: input.sessionId,
        checkpoint: last?.checkpoint,
        source: input.source,
        exclude: input.exclude,
        only: input.only,
        parentManifestKey: input.parentManifestKey,
        signal: ctx.cancellationSignal,
        progressEveryMs: 2000,
        onProgress: (p) =>
          ctx.heartbeat({ checkpoint: p.checkpoint, filesDone: p.filesDone, bytesDone: p.bytesDone, bytesTotal: p.bytesTotal } satisfies Heartbeat),
      });
      return {
        manifestKey: result.key,
        manifestSha256: result.sha256,
        files: result.files,
        bytes: result.bytes,
        newBytesUploaded: result.newBytesUploaded + result.manifestBytes,
        dedupedBytes: result.dedupedBytes,
        reusedBytes: result.reusedBytes,
        resumed: result.resumed,
        attempt: ctx.info.attempt,
      };
    },

    /** Second pass of a two-pass copy: re-copies `replacePaths`, adds hook-produced files, stores the final manifest. */
    async finalizeVolume(input: VolumeRef & {
      store: StoreRef;
      key: KeyRef;
      baseManifestKey: string;
      overlayManifestKey: string;
      finalManifestKey: string;
      sessionId: string;
      replacePaths: string[];
      extraFiles: { path: string; content: string; mode?: number }[];
      source: Record<string, string>;
    }): Promise<VolumeBackupResult> {
      const ctx = Context.current();
      const root = await dirOf(input);
      const repo = await openRepository(input.store, input.key, { create: false });
      const overlay = await backupTree(repo, {
        root,
        manifestKey: input.overlayManifestKey,
        sessionId: input.sessionId,
        source: input.source,
        only: input.replacePaths,
        signal: ctx.cancellationSignal,
        onProgress: () => ctx.heartbeat(),
      });
      const base = await readVolumeManifest(repo, input.baseManifestKey);
      const over = await readVolumeManifest(repo, input.overlayManifestKey);
      const merged = await mergeVolumeManifests(repo, input.finalManifestKey, base, over, input.replacePaths, input.extraFiles);
      return {
        manifestKey: merged.key,
        manifestSha256: merged.sha256,
        files: merged.files,
        bytes: merged.bytes,
        newBytesUploaded: overlay.newBytesUploaded,
        dedupedBytes: overlay.dedupedBytes,
        resumed: false,
        attempt: ctx.info.attempt,
      };
    },

    async restoreVolume(input: VolumeRef & { store: StoreRef; key: KeyRef; manifestKey: string; paths?: string[]; mirror?: boolean }): Promise<VolumeRestoreResult> {
      const ctx = Context.current();
      const target = await dirOf(input);
      const repo = await openRepository(input.store, input.key, { create: false });
      const r = await restoreTree(repo, {
        manifestKey: input.manifestKey,
        target,
        paths: input.paths,
        ...(input.mirror ? { mirror: true } : {}),
        signal: ctx.cancellationSignal,
        progressEveryMs: 2000,
        onProgress: (p) => ctx.heartbeat(p),
      });
      return { files: r.files, bytes: r.bytes, filesSkipped: r.filesSkipped, bytesSkipped: r.bytesSkipped, ...(r.removed !== undefined ? { removed: r.removed } : {}), attempt: ctx.info.attempt };
    },
  };
}

export type AgentActivities = ReturnType<typeof createAgentActivities>;
