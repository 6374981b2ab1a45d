/**
 * The controller's Temporal side, thin: start a request's workflow exactly once, look at its run,
 * and keep a plan's Schedules as the plan says.
 */
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowIdConflictPolicy,
  WorkflowIdReusePolicy,
  WorkflowNotFoundError,
  type Client,
} from '@temporalio/client';
import { innermostMessage } from '../../shared/errors';
import type { ScheduleSettings } from './plans';
import type { RunView, WorkflowStart } from './requests';

export interface TemporalAdapter {
  /** Starts the workflow unless a run with its id exists (running or closed): then that run. Never two runs. */
  startOnce(start: WorkflowStart, taskQueue: string): Promise<{ runId: string; existed: boolean }>;
  /** The run of a workflow id, with its progress (when running) or result (when closed); undefined when there is none. */
  run(workflowId: string, progressQuery: string): Promise<RunView | undefined>;
  ensureSchedule(s: ScheduleSettings, update: boolean): Promise<'created' | 'updated' | 'kept'>;
  deleteSchedule(scheduleId: string): Promise<void>;
  scheduleExists(scheduleId: string): Promise<boolean>;
}

const withTimeout = <T>(p: Promise<T>, ms: number): Promise<T | undefined> =>
  Promise.race([p, new Promise<undefined>((r) => setTimeout(() => r(undefined), ms).unref())]);

export function temporalAdapter(client: Client): TemporalAdapter {
  return {
    async startOnce(start, taskQueue) {
      try {
        const handle = await client.workflow.start(start.workflowType, {
          taskQueue,
          workflowId: start.workflowId,
          args: start.args,
          // Running: USE_EXISTING returns that run. Closed: REJECT_DUPLICATE refuses a second one.
          workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
          workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
          typedSearchAttributes: start.typedSearchAttributes,
          staticSummary: start.staticSummary,
        });
        return { runId: handle.firstExecutionRunId, existed: false };
      } catch (err) {
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
        const d = await client.workflow.getHandle(start.workflowId).describe();
        return { runId: d.runId, existed: true };
      }
    },
    async run(workflowId, progressQuery) {
      const handle = client.workflow.getHandle(workflowId);
      let d;
      try {
        d = await handle.describe();
      } catch (err) {
        if (err instanceof WorkflowNotFoundError) return undefined;
        throw err;
      }
      const view: RunView = { workflowId, runId: d.runId, status: d.status.name, startTime: d.startTime, closeTime: d.closeTime };
      if (d.status.name === 'RUNNING') {
        // A query needs a worker; without one it would wait: progress is best effort.
        view.progress = await withTimeout(handle.query(progressQuery).catch(() => undefined), 3000);
      } else if (d.status.name === 'COMPLETED') {
        view.result = await handle.result();
      } else {
        await handle.result().catch((err: unknown) => {
          view.failure = err instanceof WorkflowFailedError ? innermostMessage(err, 400) : (err as Error).message;
        });
      }
      return view;
    },
    async ensureSchedule(s, update) {
      const options = { ...s, action: { ...s.action } };
      try {
        await client.schedule.create(options as Parameters<Client['schedule']['create']>[0]);
        return 'created';
      } catch (err) {
        if (!(err instanceof ScheduleAlreadyRunning)) throw err;
      }
      if (!update) return 'kept';
      await client.schedule.getHandle(s.scheduleId).update((prev) => ({
        ...prev,
        spec: s.spec,
        action: s.action as typeof prev.action,
        policies: { ...prev.policies, ...s.policies },
      }));
      return 'updated';
    },
    async deleteSchedule(scheduleId) {
      try {
        await client.schedule.getHandle(scheduleId).delete();
      } catch (err) {
        if (!(err instanceof ScheduleNotFoundError)) throw err;
      }
    },
    async scheduleExists(scheduleId) {
      try {
        await client.schedule.getHandle(scheduleId).describe();
        return true;
      } catch (err) {
        if (err instanceof ScheduleNotFoundError) return false;
        throw err;
      }
    },
  };
}
