/**
 * Volume snapshot manifest: what a backed-up directory tree contained. Stored encrypted
 * (domain "manifest") at a key the caller chooses; the catalog records its key and the SHA-256
 * of the stored bytes. Paths are POSIX, relative to the volume root ("." is the root itself),
 * parents listed before their children.
 */
import { NotFoundError } from '../../shared/errors';
import type { ChunkerParams } from './chunker';
import { RepositoryFormatError } from './errors';
import type { Repository } from './repository';

interface EntryBase {
  path: string;
  /** Permission bits incl. setuid/setgid/sticky (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /** Modification time in nanoseconds since the epoch, as a decimal string. */
  mtimeNs: string;
}

export interface DirEntry extends EntryBase {
  type: 'dir';
}

export interface FileEntry extends EntryBase {
  type: 'file';
  size: number;
  /** SHA-256 of the file's bytes, hex. */
  sha256: string;
  /** Chunk ids with their plaintext lengths, in file order. */
  chunks: [string, number][];
  /**
   * Inode number and status-change time (ns since the epoch), decimal strings, as seen when the
   * file was read. Optional (absent in older manifests, in synthetic entries, and when the file
   * changed too close to its read to be trusted): a later backup with this manifest as parent
   * reuses the entry without reading the file only when size, mtime, inode and ctime all match.
   */
  ino?: string;
  ctimeNs?: string;
}

export interface SymlinkEntry extends EntryBase {
  type: 'symlink';
  target: string;
}

export type ManifestEntry = DirEntry | FileEntry | SymlinkEntry;

export interface SkippedEntry {
  path: string;
  kind: string;
  reason: string;
}

export interface BackupSummary {
  files: number;
  dirs: number;
  symlinks: number;
  bytes: number;
  skipped: number;
  /** Bytes PUT for packs, index objects and partial manifests (the final manifest excluded). */
  newBytesUploaded: number;
  /** Plaintext bytes of chunks that were new to the repository. */
  newChunkBytes: number;
  /** Plaintext bytes of chunks already stored (dedupe hits). */
  dedupedBytes: number;
  packsUploaded: number;
  resumedFiles: number;
  resumedBytes: number;
  /** Files (and their bytes) taken from the parent manifest without reading them (absent in older manifests). */
  reusedFiles?: number;
  reusedBytes?: number;
}

export interface VolumeManifest {
  format: 'tdr-volume-snapshot';
  version: 1;
  sessionId: string;
  created: string;
  completed: string;
  /** Caller's description of the source (cluster, namespace, pvc, node); no secrets. */
  source: Record<string, string>;
  chunker: ChunkerParams;
  summary: BackupSummary;
  skipped: SkippedEntry[];
  entries: ManifestEntry[];
}

export async function readVolumeManifest(repo: Repository, key: string): Promise<VolumeManifest> {
  const m = await repo.getObject<VolumeManifest>('manifest', key, { evenIfDeleted: true });
  if (!m) throw new NotFoundError(`volume snapshot manifest ${key} not found in ${repo.location}; check the recovery point's catalog`);
  if (m.format !== 'tdr-volume-snapshot' || m.version !== 1 || !Array.isArray(m.entries)) {
    throw new RepositoryFormatError(key, repo.location, `not a volume snapshot manifest (format ${m.format} version ${m.version})`);
  }
  return m;
}

/** All chunk ids a manifest references. */
export function manifestChunkIds(m: { entries: ManifestEntry[] }, into = new Set<string>()): Set<string> {
  for (const e of m.entries) if (e.type === 'file') for (const [id] of e.chunks) into.add(id);
  return into;
}

/** Rejects paths that could escape the restore target (absolute, "..", empty segments, NUL). */
export function isSafeRelativePath(p: string): boolean {
  if (p === '.') return true;
  if (p.length === 0 || p.startsWith('/') || p.includes('\0')) return false;
  return p.split('/').every((s) => s.length > 0 && s !== '.' && s !== '..');
}
