/** What a node agent reports after copying one volume to the store. */
export interface VolumeBackupResult {
  manifestKey: string;
  manifestSha256: string;
  files: number;
  bytes: number;
  /** Bytes PUT to the store for this volume (packs, indexes, manifest). */
  newBytesUploaded: number;
  dedupedBytes: number;
  /** Bytes of unchanged files taken from the parent manifest without reading them (when a parent was given). */
  reusedBytes?: number;
  /** True when this attempt resumed from an earlier attempt's checkpoint. */
  resumed: boolean;
  attempt: number;
}

/** What a node agent reports after writing one volume back from the store. */
export interface VolumeRestoreResult {
  files: number;
  bytes: number;
  filesSkipped: number;
  bytesSkipped: number;
  /** Entries removed because the point does not hold them (mirror: warm standby hydration). */
  removed?: number;
  attempt: number;
}
