/**
 * Volume data path: content-defined chunking, dedupe, compression, client-side encryption,
 * packs + index in the object store; tree backup/restore with resume; garbage collection.
 * Free of Temporal imports: activities wrap these functions.
 */
export { Chunker, DEFAULT_CHUNKER_PARAMS, chunkLengths, gearTable, validateChunkerParams, type ChunkerParams } from './chunker';
export { generateMasterKey, parseMasterKey } from './crypto';
export { compressionCodec } from './compress';
export {
  ChunkCorruptedError,
  ChunkMissingError,
  InvalidEncryptionKeyError,
  RepositoryBusyError,
  RepositoryFormatError,
  WrongEncryptionKeyError,
} from './errors';
export {
  Repository,
  CONFIG_KEY,
  DEFAULT_PACK_SIZE,
  DEFAULT_UPLOAD_CONCURRENCY,
  type RepositoryConfig,
  type RepositoryOptions,
  type RepositoryStats,
  type SessionMarker,
} from './repository';
export {
  readVolumeManifest,
  manifestChunkIds,
  type BackupSummary,
  type DirEntry,
  type FileEntry,
  type ManifestEntry,
  type SymlinkEntry,
  type VolumeManifest,
} from './manifest';
export { backupTree, type BackupCheckpoint, type BackupProgress, type BackupTreeOptions, type BackupTreeResult } from './tree-backup';
export { restoreTree, type RestoreProgress, type RestoreTreeOptions, type RestoreTreeResult } from './tree-restore';
export { collectGarbage, type GcOptions, type GcResult } from './gc';
