import { CancelledFailure, TerminatedFailure, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { innermostMessage, RunFailedError } from '../shared/errors';

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

export function asRunFailure(err: unknown, workflowId: string, what: string): unknown {
  if (!(err instanceof WorkflowFailedError)) return err;
  if (err.cause instanceof CancelledFailure || err.cause instanceof TerminatedFailure) {
    return new RunFailedError(`${what} was ${err.cause instanceof CancelledFailure ? 'cancelled' : 'terminated'} (workflow ${workflowId})`, workflowId, true);
  }
  return new RunFailedError(`${what} failed: ${innermostMessage(err, 400)} (workflow ${workflowId})`, workflowId);
}
