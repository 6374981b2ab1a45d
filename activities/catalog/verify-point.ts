import { createHash } from 'node:crypto';
import type { Catalog } from '../../shared/catalog';
import type { KubeObject } from '../../shared/kube-object';
import { groupOf } from '../../shared/kube-object';
import { DataCorruptionError } from '../../shared/errors';
import { chunkId } from '../datapath/crypto';
import { readVolumeManifest, manifestChunkIds } from '../datapath/manifest';
import type { Repository } from '../datapath/repository';
import { sha256Of } from './points';
import { getAuthentic } from '../store/object-store';

export interface VerifyReport {
  resources: number;
  volumes: number;
  chunks: number;
  chunksRead: number;
  bytesRead: number;
  problems: string[];
}

/** The decrypted manifests of a point, checked against the catalog's bundle checksum. */
export async function readBundle(repo: Repository, catalog: Catalog): Promise<KubeObject[]> {
  const raw = await getAuthentic(repo.store, catalog.resources.bundle.key, (b) => sha256Of(b) === catalog.resources.bundle.sha256, { evenIfDeleted: true });
  if (!raw) throw new DataCorruptionError(`resource bundle ${catalog.resources.bundle.key} of point ${catalog.planName}/${catalog.pointId} is missing from ${repo.location}`);
  if (sha256Of(raw) !== catalog.resources.bundle.sha256) {
    throw new DataCorruptionError(`resource bundle ${catalog.resources.bundle.key} of point ${catalog.planName}/${catalog.pointId} does not match its catalog checksum; the point is corrupted`);
  }
  const bundle = repo.openObject<{ objects: KubeObject[] }>('manifest', catalog.resources.bundle.key, raw);
  return bundle.objects;
}

/**
 * Checks every checksum a point carries: the bundle, each object against its catalog entry, each
 * volume manifest, and that every chunk is indexed; with `readData`, reads and authenticates every
 * chunk too (GCM tag and keyed id).
 */
export async function verifyPoint(repo: Repository, catalog: Catalog, opts: { readData: boolean; onProgress?: (done: number, total: number) => void }): Promise<VerifyReport> {
  const problems: string[] = [];
  const objects = await readBundle(repo, catalog);
  const byRef = new Map(objects.map((o) => [`${groupOf(o.apiVersion)}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`, o]));
  for (const item of catalog.resources.items) {
    const o = byRef.get(`${item.group}/${item.kind}/${item.namespace ?? ''}/${item.name}`);
    if (!o) {
      problems.push(`resource ${item.kind}/${item.namespace ?? ''}/${item.name}: listed in the catalog but missing from the bundle`);
      continue;
    }
    const json = Buffer.from(JSON.stringify(o));
    const sum = item.keyed ? chunkId(repo.keys, json) : createHash('sha256').update(json).digest('hex');
    if (sum !== item.sha256) problems.push(`resource ${item.kind}/${item.namespace ?? ''}/${item.name}: checksum mismatch`);
  }
  let chunks = 0;
  const all = new Set<string>();
  for (const v of catalog.volumes) {
    if (!v.snapshotKey) continue;
    const expected = v.snapshotSha256;
    const raw = await getAuthentic(repo.store, v.snapshotKey, (b) => sha256Of(b) === expected, { evenIfDeleted: true });
    if (!raw) {
      problems.push(`volume ${v.pvc.namespace}/${v.pvc.name}: snapshot manifest ${v.snapshotKey} is missing`);
      continue;
    }
    if (sha256Of(raw) !== v.snapshotSha256) {
      problems.push(`volume ${v.pvc.namespace}/${v.pvc.name}: snapshot manifest checksum mismatch`);
      continue;
    }
    const ids = manifestChunkIds(await readVolumeManifest(repo, v.snapshotKey));
    for (const id of ids) {
      all.add(id);
      if (!repo.has(id)) problems.push(`volume ${v.pvc.namespace}/${v.pvc.name}: chunk ${id} is not in the repository index`);
    }
    chunks += ids.size;
  }
  let chunksRead = 0;
  let bytesRead = 0;
  if (opts.readData) {
    for (const id of all) {
      try {
        bytesRead += (await repo.readChunk(id)).length;
      } catch (err) {
        problems.push((err as Error).message);
      }
      chunksRead++;
      opts.onProgress?.(chunksRead, all.size);
    }
  }
  return { resources: catalog.resources.items.length, volumes: catalog.volumes.length, chunks, chunksRead, bytesRead, problems };
}
