import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parsePlan } from '../../shared/plan';
import { InvalidInputError } from '../../shared/errors';

/** Reads and validates a plan file; every problem is reported with its path. */
export function loadPlanFile(file: string): ReturnType<typeof parsePlan> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InvalidInputError(`cannot read plan file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    return parsePlan(text);
  } catch (err) {
    if (err instanceof InvalidInputError) throw new InvalidInputError(`${file}: ${err.message}`);
    throw err;
  }
}

export function registerPlanCommands(program: Command): void {
  const plan = program.command('plan').description('DR plans');
  plan
    .command('validate <file>')
    .description('check a plan file and print every problem with its path; exits 1 when invalid')
    .action((file: string) => {
      const p = loadPlanFile(file);
      const s = p.spec;
      console.log(
        `${file}: plan ${p.metadata.name} is valid: ${s.selector.namespaces.length} namespace(s) on context ${s.source.context}, ` +
          `${s.hooks.length} hook(s), store ${s.store.url}` + (s.target ? `, target ${s.target.context}` : '') +
          (s.standbys ? `, standby site(s) ${s.standbys.map((x) => `${x.name} (${x.context}, ${x.store.url})`).join(', ')} within rpo ${s.rpo}` : ''),
      );
    });
}
