#!/usr/bin/env node
import { Command } from 'commander';
import { registerStoreCommands } from './commands/store';
import { registerPlanCommands } from './commands/plan';
import { registerKeyCommands } from './commands/key';
import { registerBackupCommand } from './commands/backup';
import { registerPointsCommands } from './commands/points';
import { registerRestoreCommand } from './commands/restore';
import { registerReplicateCommands } from './commands/replicate';
import { registerFailoverCommands } from './commands/failover';
import { registerDrillCommands } from './commands/drill';
import { runMain } from '../config/run-main';

const program = new Command('drctl')
  .description('Disaster recovery for Kubernetes applications, on Temporal')
  .showHelpAfterError();
registerPlanCommands(program);
registerKeyCommands(program);
registerBackupCommand(program);
registerPointsCommands(program);
registerRestoreCommand(program);
registerReplicateCommands(program);
registerFailoverCommands(program);
registerDrillCommands(program);
registerStoreCommands(program);

runMain('drctl', async () => {
  await program.parseAsync(process.argv);
});
