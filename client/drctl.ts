#!/usr/bin/env node
import '../config/node-version';
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
import { setPlanSource } from './plan-source';

const program = new Command('drctl')
  .description('Disaster recovery for Kubernetes applications, on Temporal')
  .version(productVersion(), '--version', 'print the version of drctl')
  .option('--debug', 'on failure, print the stack trace and the chain of causes')
  .option('--temporal-address <host:port>', 'Temporal frontend (default: TEMPORAL_ADDRESS, then the config file, then 127.0.0.1:7233)')
  .option('--temporal-namespace <name>', 'Temporal namespace (default: TEMPORAL_NAMESPACE, then the config file, then default)')
  .option('--kubeconfig <file>', 'kubeconfig whose contexts plans name (default: TDR_KUBECONFIG, then the config file, then KUBECONFIG)')
  .option('-n, --namespace <namespace>', 'read <plan> (and --plan) as the name of a DRPlan resource in this namespace instead of a plan file; the namespace of plan apply/list/get')
  .option('--context <name>', 'kubeconfig context of the cluster holding the DRPlan resources (default: the kubeconfig\'s current context)')
  .addHelpText('after', '\nConnection defaults: flags, then environment variables, then the config file ($DRCTL_CONFIG, else ~/.config/drctl/config.yaml). See the README.' +
    '\nPlans: every <plan> argument (and --plan) is a plan file, or with -n <namespace> the name of a DRPlan resource in that namespace, read from the cluster of --context (default: the kubeconfig\'s current context).')
  // Flags win over the environment, which wins over the config file.
  .hook('preAction', () => {
    const o = program.opts<{ temporalAddress?: string; temporalNamespace?: string; kubeconfig?: string; namespace?: string; context?: string }>();
    setPlanSource({ namespace: o.namespace, context: o.context });
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
addPlanSourceHelp(program);

runMain('drctl', async () => {
  try {
    await program.parseAsync(process.argv);
  } catch (err) {
    // Commander has printed the problem (or the help, or the version) already.
    if (err instanceof CommanderError) process.exitCode = err.exitCode === 0 ? EXIT_CODES.ok : EXIT_CODES.invalidInput;
    else throw err;
  }
});

/** Every command that reads a plan (a <plan> argument or --plan) says that -n makes it a DRPlan's name. */
function addPlanSourceHelp(cmd: Command): void {
  const readsPlan = cmd.registeredArguments.some((a) => a.name() === 'plan') || cmd.options.some((o) => o.long === '--plan');
  if (readsPlan && cmd.parent?.name() !== 'plan') {
    cmd.addHelpText('before', 'The plan is a plan file, or with the global -n/--namespace <ns> (and --context <ctx>) the name of a DRPlan resource in that namespace.\n');
  }
  cmd.commands.forEach(addPlanSourceHelp);
}

function productVersion(): string {
  return (JSON.parse(readFileSync(path.join(__dirname, '../../package.json'), 'utf8')) as { version: string }).version;
}
