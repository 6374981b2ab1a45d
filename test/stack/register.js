// Lets plain `node` run the TypeScript processes of the local stack without a build step:
//   node --require ./test/stack/register.js test/stack/kubelet-sim.ts ...
// Each .ts file is compiled to CommonJS in memory with @swc/core (already a dev dependency).
// ESM-only dependencies such as @kubernetes/client-node load through Node's require(esm)
// (Node >= 20.19).
'use strict';
const fs = require('fs');
const { transformSync } = require('@swc/core');

require.extensions['.ts'] = function compileTs(module, filename) {
  const source = fs.readFileSync(filename, 'utf8');
  const { code } = transformSync(source, {
    filename,
    sourceMaps: 'inline',
    jsc: { target: 'es2022', parser: { syntax: 'typescript' } },
    module: { type: 'commonjs' },
  });
  module._compile(code, filename);
};
