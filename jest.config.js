// Two projects: `unit` (pure logic, no servers) and `stack` (integration, workflow and end-to-end
// tests). The stack project's global setup starts one Temporal dev server, one MinIO and the two
// kwok clusters for the whole run; its test files attach to them through environment variables.
const transform = { '^.+\\.ts$': ['@swc/jest', { jsc: { target: 'es2022' } }] };
const common = { testEnvironment: 'node', transform, modulePathIgnorePatterns: ['<rootDir>/dist'] };

/** @type {import('jest').Config} */
module.exports = {
  testTimeout: 180000,
  maxWorkers: 1,
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    {
      ...common,
      displayName: 'stack',
      testMatch: ['<rootDir>/test/{integration,e2e}/**/*.test.ts'],
      globalSetup: '<rootDir>/test/harness/global-setup.ts',
      globalTeardown: '<rootDir>/test/harness/global-teardown.ts',
    },
  ],
};
