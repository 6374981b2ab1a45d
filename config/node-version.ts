/**
 * Imported first by every entry point. On an older Node.js the dependencies fail while loading
 * (undici 8, under @kubernetes/client-node 2.x, needs zlib's zstd) with an error naming no cause.
 */
export const MIN_NODE_MAJOR = 24;

/** What is wrong with running on Node.js `version` (process.version), or undefined. Pure. */
export function nodeVersionProblem(version: string): string | undefined {
  const major = Number(/^v?(\d+)\./.exec(version)?.[1]);
  if (major >= MIN_NODE_MAJOR) return undefined;
  return (
    `temporal-dr: Node.js ${version} is too old; it needs Node.js ${MIN_NODE_MAJOR} or newer. In a checkout, ` +
    `eval "$(bash scripts/node-runtime.sh)" puts the pinned one first on PATH; elsewhere install Node.js ${MIN_NODE_MAJOR} LTS (https://nodejs.org).`
  );
}

const problem = nodeVersionProblem(process.version);
if (problem) {
  process.stderr.write(`${problem}\n`);
  process.exit(2);
}
