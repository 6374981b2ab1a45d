import { createHash } from 'node:crypto';
import type { FileEntry, ManifestEntry, VolumeManifest } from '../datapath/manifest';
import type { Repository } from '../datapath/repository';

const under = (p: string, prefix: string) => p === prefix || p.startsWith(prefix + '/');

/**
 * Builds the final snapshot of a volume whose copy ran in two passes: `base` (taken while the
 * application was quiesced) with everything under `replacePaths` taken from `overlay` (copied
 * after the post hook, e.g. PostgreSQL's pg_wal after pg_backup_stop), plus small files whose
 * content came from a hook (e.g. backup_label). Stores it at `key` and returns its size and hash.
 */
export async function mergeVolumeManifests(
  repo: Repository,
  key: string,
  base: VolumeManifest,
  overlay: VolumeManifest,
  replacePaths: string[],
  extraFiles: { path: string; content: string; mode?: number }[],
): Promise<{ key: string; sha256: string; files: number; bytes: number }> {
  const keep = (e: ManifestEntry) => !replacePaths.some((p) => under(e.path, p)) && !extraFiles.some((f) => f.path === e.path);
  const entries: ManifestEntry[] = [
    ...base.entries.filter(keep),
    ...overlay.entries.filter((e) => replacePaths.some((p) => under(e.path, p))),
  ];
  const now = BigInt(Date.now()) * 1_000_000n;
  for (const f of extraFiles) {
    const bytes = Buffer.from(f.content, 'utf8');
    const { id } = await repo.addChunk(bytes);
    const entry: FileEntry = {
      type: 'file',
      path: f.path,
      mode: f.mode ?? 0o600,
      uid: base.entries.find((e) => e.path === '.')?.uid ?? 0,
      gid: base.entries.find((e) => e.path === '.')?.gid ?? 0,
      mtimeNs: String(now),
      size: bytes.length,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      chunks: bytes.length ? [[id, bytes.length]] : [],
    };
    entries.push(entry);
  }
  await repo.flush();
  // Parents before children, as restore expects.
  entries.sort((a, b) => (a.path === '.' ? -1 : b.path === '.' ? 1 : a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const files = entries.filter((e): e is FileEntry => e.type === 'file');
  const merged: VolumeManifest = {
    ...base,
    completed: new Date().toISOString(),
    entries,
    summary: { ...base.summary, files: files.length, bytes: files.reduce((n, f) => n + f.size, 0) },
  };
  const stored = await repo.putObject('manifest', key, merged);
  return { key, sha256: createHash('sha256').update(stored).digest('hex'), files: merged.summary.files, bytes: merged.summary.bytes };
}
