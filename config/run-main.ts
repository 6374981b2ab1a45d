import { DrError } from '../shared/errors';

/**
 * Runs a process's main function; an expected failure (bad configuration, unreachable server)
 * prints one clear line instead of a stack trace and exits 1.
 */
export function runMain(name: string, main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (err: unknown) => {
      if (err instanceof DrError) {
        console.error(`${name}: ${err.message}`);
      } else {
        console.error(`${name}: unexpected error:`, err);
      }
      process.exit(1);
    },
  );
}
