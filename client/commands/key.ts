import type { Command } from 'commander';
import { generateMasterKey } from '../../activities/datapath/crypto';

export function registerKeyCommands(program: Command): void {
  program
    .command('key')
    .description('repository encryption keys')
    .command('generate')
    .description('print a new random 32-byte key (base64) to put in the variable or Secret a plan names')
    .action(() => console.log(generateMasterKey()));
}
