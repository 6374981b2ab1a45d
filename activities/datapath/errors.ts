import { DataCorruptionError, DrError, EncryptionKeyError, InvalidInputError } from '../../shared/errors';

/** The key given does not open the repository (key check value mismatch). Not retryable. */
export class WrongEncryptionKeyError extends EncryptionKeyError {
  constructor(readonly location: string, readonly keyRef: string, reason?: string) {
    super(
      `the encryption key does not match the repository at ${location}; check ${keyRef} ` +
        `(${reason ?? 'it must be the same 32-byte base64 key that created the repository'})`,
    );
  }
}

/** A chunk was read but failed verification (GCM tag, decompression, or HMAC id mismatch). */
export class ChunkCorruptedError extends DataCorruptionError {
  constructor(
    readonly chunkId: string,
    readonly packKey: string | undefined,
    readonly location: string,
    readonly reason: string,
  ) {
    super(
      `chunk ${chunkId} in pack ${packKey ?? '(unknown)'} at ${location} is corrupted: ${reason}; ` +
        `the stored data was modified or damaged — restore from another recovery point or replica`,
    );
  }
}

/** A chunk a manifest references is not in the index, or its pack object is gone. */
export class ChunkMissingError extends DataCorruptionError {
  constructor(readonly chunkId: string, readonly packKey: string | undefined, readonly location: string) {
    super(
      packKey
        ? `chunk ${chunkId} is indexed in pack ${packKey} but that pack is missing from ${location}; ` +
            `the pack was deleted outside the garbage collector — restore from another recovery point`
        : `chunk ${chunkId} is not in the repository index at ${location}; ` +
            `the index or pack was lost — run an index rebuild, or restore from another recovery point`,
    );
  }
}

/** A stored repository object (config, index, manifest, pack trailer) cannot be decoded. */
export class RepositoryFormatError extends DataCorruptionError {
  constructor(readonly key: string, readonly location: string, reason: string) {
    super(`repository object ${key} at ${location} cannot be read: ${reason}`);
  }
}

/** The master key is malformed (not 32 bytes of base64). */
export class InvalidEncryptionKeyError extends InvalidInputError {
  constructor(keyRef: string, reason: string) {
    super(`the encryption key in ${keyRef} is invalid: ${reason}; it must be 32 random bytes encoded as base64 (e.g. \`openssl rand -base64 32\`)`);
  }
}

/** A garbage collection holds the repository; backup sessions must wait and retry. Retryable. */
export class RepositoryBusyError extends DrError {
  readonly retryable = true;
  constructor(readonly location: string, readonly lockKey: string) {
    super(`the repository at ${location} is being garbage-collected (lock ${lockKey}); retry the backup later`);
  }
}
