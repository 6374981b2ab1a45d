import { InvalidArgumentError, type Command } from 'commander';
import YAML from 'yaml';

export const OUTPUT_FORMATS = ['table', 'json', 'yaml', 'name'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];
export interface OutputOptions {
  output: OutputFormat;
  /** The older spelling of `-o json`, kept for scripts. */
  json?: boolean;
}

/** Adds kubectl's `-o, --output table|json|yaml|name` (and `--json`, the same as `-o json`) to a command that prints a result. */
export function withOutput(cmd: Command): Command {
  return cmd
    .option('-o, --output <format>', `${OUTPUT_FORMATS.join(', ')}: the JSON and YAML are the documented objects (see README)`, parseFormat, 'table')
    .option('--json', 'same as -o json');
}

function parseFormat(value: string): OutputFormat {
  if (!(OUTPUT_FORMATS as readonly string[]).includes(value)) throw new InvalidArgumentError(`expected one of ${OUTPUT_FORMATS.join(', ')}`);
  return value as OutputFormat;
}

/** Prints `data` on stdout in the chosen format: `table` is `text()`, `name` one name per line. */
export function printOutput(opts: OutputOptions, data: unknown, text: () => string, names: () => string[]): void {
  const format = opts.json ? 'json' : opts.output;
  if (format === 'json') console.log(JSON.stringify(data, null, 2));
  else if (format === 'yaml') process.stdout.write(YAML.stringify(data));
  else if (format === 'name') console.log(names().join('\n'));
  else console.log(text());
}
