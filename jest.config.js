

/**
 * Jest in native ESM mode (execa 9 is ESM-only and Node 20 has no require(esm)): tests run with
 * NODE_OPTIONS=--experimental-vm-modules, TypeScript is stripped by SWC, type checking is `npm run typecheck`.
 */
/** @type {import('jest').Config} */
const config = {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  transform: {
    '^.+\\.tsx?$': [
      '@swc/jest',
      { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'es6' } },
    ],
  },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  // The real-kernel lane boots VMs and has its own config and command: npm run test:kernel.
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/kernel/'],
  globalSetup: '<rootDir>/test/support/global-setup.mjs',
  globalTeardown: '<rootDir>/test/support/global-teardown.mjs',
  testTimeout: 60_000,
};

export default config;
