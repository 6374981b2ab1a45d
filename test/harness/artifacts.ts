import { mkdirSync } from 'node:fs';
import path from 'node:path';

/**
 * Where a test saves what a person should be able to look at after the run (screenshots of the
 * Temporal UI and of drill reports): TDR_TEST_ARTIFACTS, default test-artifacts/ in the checkout.
 * Unlike the test stack's directory it outlives the run.
 */
export function artifactPath(name: string): string {
  const dir = process.env.TDR_TEST_ARTIFACTS ?? path.join(__dirname, '../../test-artifacts');
  mkdirSync(dir, { recursive: true });
  return path.join(dir, name);
}
