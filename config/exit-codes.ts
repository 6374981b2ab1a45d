import { ClusterUnreachableError, EncryptionKeyError, InvalidInputError, NotFoundError, PermissionDeniedError, RunFailedError, StoreUnavailableError } from '../shared/errors';

/** drctl's exit codes, documented in the README: scripts rely on them, so they never change meaning. */
export const EXIT_CODES = {
  ok: 0,
  /** A bug or an error the tool did not expect: the message (and `--debug`) says more. */
  unexpected: 1,
  /** A bad flag, argument, plan or configuration (a wrong key or credentials included). */
  invalidInput: 2,
  /** The plan, point, run or schedule named does not exist. */
  notFound: 3,
  /** The operation ran and failed (a failed backup, restore, failover or drill). */
  runFailed: 4,
  /** The operation was cancelled, terminated, or rejected at an approval gate. */
  runCancelled: 5,
  /** The Temporal server, an object store or a cluster could not be reached. */
  unreachable: 6,
  /** Ctrl-C while following a run: drctl stopped following, the run goes on (128 + SIGINT, as shells do). */
  detached: 130,
} as const;

export function exitCodeFor(err: unknown): number {
  if (err instanceof RunFailedError) return err.cancelled ? EXIT_CODES.runCancelled : EXIT_CODES.runFailed;
  if (err instanceof InvalidInputError || err instanceof EncryptionKeyError || err instanceof PermissionDeniedError) return EXIT_CODES.invalidInput;
  if (err instanceof NotFoundError) return EXIT_CODES.notFound;
  if (err instanceof ClusterUnreachableError || err instanceof StoreUnavailableError) return EXIT_CODES.unreachable;
  return EXIT_CODES.unexpected;
}
