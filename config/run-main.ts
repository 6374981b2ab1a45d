import { DrError } from '../shared/errors';
import { exitCodeFor } from './exit-codes';

/**
 * Runs a process's main function. An expected failure (bad input, a failed run, an unreachable
 * server) prints one line, `<name>: <what failed and what to do>`, and exits with its code
 * (config/exit-codes.ts); `--debug` (or TDR_DEBUG=1) adds the stack and the chain of causes.
 * On success the exit code is process.exitCode (0 unless a command set it).
 */
export function runMain(name: string, main: () => Promise<void>): void {
  main().then(
    () => process.exit(),
    (err: unknown) => {
      console.error(err instanceof DrError ? `${name}: ${err.message}` : `${name}: unexpected error: ${(err as Error)?.message ?? String(err)}`);
      if (process.argv.includes('--debug') || process.env.TDR_DEBUG === '1') {
        for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) console.error((e as Error).stack ?? String(e));
      } else if (!(err instanceof DrError)) {
        console.error(`${name}: run again with --debug for the stack trace`);
      }
      process.exit(exitCodeFor(err));
    },
  );
}
