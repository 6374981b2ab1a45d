#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, CommanderError } from 'commander';
import { registerStoreCommands } from './commands/store';
import { registerPlanCommands } from './commands/plan';
import { registerKeyCommands } from './commands/key';
import { registerBackupCommand } from './commands/backup';
import { registerPointsCommands } from './commands/points';
import { registerRestoreCommand } from './commands/restore';
import { registerReplicateCommands } from './commands/replicate';
import { registerFailoverCommands } from './commands/failover';
import { registerDrillCommands } from './commands/drill';
import { registerRunsCommands } from './commands/runs';
import { registerStatusCommand } from './commands/status';
import { registerCompletionCommand } from './commands/completion';
import { registerCodecServerCommand } from './commands/codec-server';
import { addHelpExamples } from './help-examples';
import { runMain } from '../config/run-main';
import { EXIT_CODES } from '../config/exit-codes';
import { applyConfigFile } from './config-file';

const program = new Command('drctl')
  .description('Disaster recovery for Kubernetes applications, on Temporal')
  .version(productVersion(), '--version', 'print the version of drctl')
  .option('--debug', 'on failure, print the stack trace and the chain of causes')
  .option('--temporal-address <host:port>', 'Temporal frontend (default: TEMPORAL_ADDRESS, then the config file, then 127.0.0.1:7233)')
  .option('--temporal-namespace <name>', 'Temporal namespace (default: TEMPORAL_NAMESPACE, then the config file, then default)')
  .option('--kubeconfig <file>', 'kubeconfig whose contexts plans name (default: TDR_KUBECONFIG, then the config file, then KUBECONFIG)')
  .addHelpText('after', '\nConnection defaults: flags, then environment variables, then the config file ($DRCTL_CONFIG, else ~/.config/drctl/config.yaml). See the README.')
  // Flags win over the environment, which wins over the config file.
  .hook('preAction', () => {
    const o = program.opts<{ temporalAddress?: string; temporalNamespace?: string; kubeconfig?: string }>();
    if (o.temporalAddress) process.env.TEMPORAL_ADDRESS = o.temporalAddress;
    if (o.temporalNamespace) process.env.TEMPORAL_NAMESPACE = o.temporalNamespace;
    if (o.kubeconfig) process.env.TDR_KUBECONFIG = o.kubeconfig;
    applyConfigFile();
  })
  .showHelpAfterError()
  // Usage errors exit 2 (invalid input), not commander's 1: see config/exit-codes.ts.
  .exitOverride();
registerPlanCommands(program);
registerKeyCommands(program);
registerBackupCommand(program);
registerPointsCommands(program);
registerRestoreCommand(program);
registerReplicateCommands(program);
registerFailoverCommands(program);
registerDrillCommands(program);
registerStoreCommands(program);
registerRunsCommands(program);
registerStatusCommand(program);
registerCodecServerCommand(program);
registerCompletionCommand(program);
addHelpExamples(program);

runMain('drctl', async () => {
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    // Commander has printed the problem (or the help, or the version) already.
    if (err instanceof CommanderError) process.exitCode = err.exitCode === 0 ? EXIT_CODES.ok : EXIT_CODES.invalidInput;
    else throw err;
  }
});

function productVersion(): string {
  return (JSON.parse(readFileSync(path.join(__dirname, '../../package.json'), 'utf8')) as { version: string }).version;
}
