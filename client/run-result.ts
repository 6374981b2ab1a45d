import { CancelledFailure, TerminatedFailure, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { innermostMessage, RunFailedError } from '../shared/errors';
import { EXIT_CODES } from '../config/exit-codes';

/**
 * The result of an operation's workflow; a run that failed or was cancelled becomes a
 * RunFailedError whose one line names what failed, its innermost cause and the workflow id.
 */
export async function runResult<T>(handle: WorkflowHandle, what: string, result: Promise<T> = handle.result()): Promise<T> {
  try {
    return await result;
  } catch (err) {
    throw asRunFailure(err, handle.workflowId, what);
  }
}

/**
 * While a command follows a run, Ctrl-C stops following, not the run: it says how to get back to
 * it or cancel it and exits 130. Returns the function that removes the handler.
 */
export function detachOnInterrupt(workflowId: string): () => void {
  const onInterrupt = () => {
    process.stderr.write(`\ndetached from ${workflowId}; it goes on. Follow it again: drctl runs watch ${workflowId}   Cancel it: drctl runs cancel ${workflowId}\n`);
    process.exit(EXIT_CODES.detached);
  };
  process.once('SIGINT', onInterrupt);
  return () => process.off('SIGINT', onInterrupt);
}

export function asRunFailure(err: unknown, workflowId: string, what: string): unknown {
  if (!(err instanceof WorkflowFailedError)) return err;
  if (err.cause instanceof CancelledFailure || err.cause instanceof TerminatedFailure) {
    return new RunFailedError(`${what} was ${err.cause instanceof CancelledFailure ? 'cancelled' : 'terminated'} (workflow ${workflowId})`, workflowId, true);
  }
  return new RunFailedError(`${what} failed: ${innermostMessage(err, 400)} (workflow ${workflowId})`, workflowId);
}
