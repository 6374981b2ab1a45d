/**
 * The DR error taxonomy. Every error the product raises on purpose is one of these classes; its
 * `name` becomes the Temporal ApplicationFailure `type`, which decides retry versus stop (see
 * NON_RETRYABLE_ERROR_TYPES). Messages say what failed, on which object, and what to do.
 * Pure: no Node imports, so workflows may import it.
 */
export abstract class DrError extends Error {
  /** True when retrying cannot help: bad input, wrong key, corrupted data, missing permission. */
  abstract readonly retryable: boolean;
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/** A plan, flag or transform rule is invalid. `issues` are `path: message` lines. */
export class InvalidInputError extends DrError {
  readonly retryable = false;
  constructor(message: string, readonly issues: string[] = []) {
    super(issues.length ? `${message}\n  ${issues.join('\n  ')}` : message);
  }
}

/** The object store cannot be reached or refused the request (transient until proven otherwise). */
export class StoreUnavailableError extends DrError {
  readonly retryable = true;
  constructor(message: string, readonly location: string) {
    super(message);
  }
}

/** A cluster's API server cannot be reached. */
export class ClusterUnreachableError extends DrError {
  readonly retryable = true;
  constructor(message: string, readonly cluster: string) {
    super(message);
  }
}

/** The credentials lack a permission; names the verb and resource. */
export class PermissionDeniedError extends DrError {
  readonly retryable = false;
}

/** Data in the store failed verification (checksum, GCM tag, missing chunk). */
export class DataCorruptionError extends DrError {
  readonly retryable = false;
}

/** The repository's key check does not match the configured key. */
export class EncryptionKeyError extends DrError {
  readonly retryable = false;
}

/** A hook exited non-zero or timed out and its policy is `fail`. */
export class HookFailedError extends DrError {
  readonly retryable = false;
}

/** A recovery point, plan or object the operator named does not exist. */
export class NotFoundError extends DrError {
  readonly retryable = false;
}

/** The target cannot take the restore (missing CRD, storage class, quota, conflicting object). */
export class PreflightFailedError extends DrError {
  readonly retryable = false;
}

/**
 * A node agent refused a volume task: the volume it names is not one the agent resolved itself
 * through the Kubernetes API on a node it serves (pod, claim, PV and host path must all agree).
 * Nothing was read or written.
 */
export class VolumeAccessRefusedError extends DrError {
  readonly retryable = false;
  constructor(message: string, readonly claim: string, readonly pod: string, readonly node: string) {
    super(message);
  }
}

/** Error types that activities must not retry; passed to every proxyActivities() call. */
/**
 * An operation's workflow ended without its result: failed (the message names the failing step
 * and cause) or, with `cancelled`, cancelled, terminated or rejected at an approval gate.
 */
export class RunFailedError extends DrError {
  readonly retryable = false;
  constructor(message: string, readonly workflowId: string, readonly cancelled = false) {
    super(message);
  }
}

export const NON_RETRYABLE_ERROR_TYPES = [
  'InvalidInputError',
  'PermissionDeniedError',
  'DataCorruptionError',
  'CatalogAuthenticationError',
  'EncryptionKeyError',
  'HookFailedError',
  'NotFoundError',
  'PreflightFailedError',
  'VolumeAccessRefusedError',
  'WrongEncryptionKeyError',
  'ChunkCorruptedError',
  'ChunkMissingError',
  'UnsupportedCatalogVersionError',
  'RepositoryFormatError',
  'InvalidEncryptionKeyError',
  'KmsKeyRefusedError',
];

/**
 * The innermost message of a failure chain (workflow → child workflow → activity → application
 * error): the one that says what actually failed. Cut at `max` characters.
 */
export function innermostMessage(err: unknown, max = 1000): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  let message = e?.message ?? String(err);
  while (e?.cause) {
    e = e.cause as { message?: string; cause?: unknown };
    if (e?.message) message = e.message;
  }
  return message.length > max ? message.slice(0, max) + '…' : message;
}
