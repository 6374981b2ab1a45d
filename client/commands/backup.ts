import type { Command } from 'commander';
import { WorkflowExecutionAlreadyStartedError, WorkflowIdConflictPolicy } from '@temporalio/client';
import { backup } from '../../workflows';
import { backupWorkflowId, type BackupProgress, type BackupReport } from '../../workflows/backup';
import { DrOperation, DrPlan, DrSourceCluster } from '../../shared/search-attributes';
import { InvalidInputError } from '../../shared/errors';
import { openClient } from '../temporal-client';
import { loadPlan } from '../plan-source';
import { followProgress, formatBytes } from '../progress';
import { runResult } from '../run-result';

export function registerBackupCommand(program: Command): void {
  program
    .command('backup <plan>')
    .description('take a recovery point of the application a plan protects')
    .option('--no-wait', 'print the workflow ID and return at once')
    .action(async (file: string, opts: { wait: boolean }) => {
      const plan = await loadPlan(file);
      const dr = await openClient();
      try {
        const workflowId = backupWorkflowId(plan.metadata.name);
        let handle;
        try {
          handle = await dr.client.workflow.start(backup, {
            taskQueue: dr.settings.taskQueue,
            workflowId,
            workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
            args: [{ plan }],
            typedSearchAttributes: [
              { key: DrPlan, value: plan.metadata.name },
              { key: DrOperation, value: 'backup' },
              { key: DrSourceCluster, value: plan.spec.source.clusterName ?? plan.spec.source.context },
            ],
            staticSummary: `Backup of plan ${plan.metadata.name} (${plan.spec.selector.namespaces.join(', ')} on ${plan.spec.source.context})`,
          });
        } catch (err) {
          if (err instanceof WorkflowExecutionAlreadyStartedError) {
            throw new InvalidInputError(`a backup of plan ${plan.metadata.name} is already running (workflow ${workflowId}); wait for it to finish, or watch it in the Temporal UI`);
          }
          throw err;
        }
        console.log(`started backup ${workflowId} (run ${handle.firstExecutionRunId})`);
        if (!opts.wait) return;
        await followProgress<BackupProgress>(handle, (p, t) => {
          const bytes = t ? `, ${formatBytes(t.done)}/${formatBytes(t.total)} in flight` : '';
          return `[${p.phase}] point ${p.pointId}: ${p.resources} objects, volumes ${p.volumesDone}/${p.volumesTotal}${bytes}`;
        });
        const r = await runResult<BackupReport>(handle, `backup of plan ${plan.metadata.name}`);
        console.log(
          `recovery point ${r.planName}/${r.pointId} complete in ${(r.durationMs / 1000).toFixed(1)} s: ` +
            `${r.resources} objects, ${r.volumes.length} volume(s), ${formatBytes(r.bytes)} of data, ${formatBytes(r.uploadedBytes)} uploaded`,
        );
        for (const v of r.volumes) console.log(`  volume ${v.pvc} on ${v.node}: ${v.files} files, ${formatBytes(v.bytes)}, uploaded ${formatBytes(v.uploadedBytes)}${v.resumed ? ' (resumed)' : ''}`);
        for (const h of r.hooks) console.log(`  hook ${h.hook} ${h.phase} in ${h.pod}: ${h.ok ? 'ok' : 'FAILED'} (${h.durationMs} ms)`);
        for (const w of r.warnings ?? []) console.log(`  warning: ${w}`);
        if (r.danglingReferences.length) console.log(`  note: ${r.danglingReferences.length} referenced object(s) do not exist on the source: ${r.danglingReferences.slice(0, 5).join('; ')}`);
      } finally {
        await dr.close();
      }
    });
}
