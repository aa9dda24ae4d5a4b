import base from '../../jest.config.js';

/**
 * The real-kernel lane (`npm run test:kernel`): test/kernel/ only, one file after the other (--runInBand; the DRBD
 * test alone keeps both cores busy with two emulated guests), without the database global setup of `npm test`.
 */
/** @type {import('jest').Config} */
const config = {
  ...base,
  rootDir: '../..',
  testMatch: ['<rootDir>/test/kernel/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/'],
  globalSetup: undefined,
  globalTeardown: undefined,
  testTimeout: 300_000,
};

export default config;
