// Jest on Node < 24.9 cannot require() ES modules itself, so the ESM-only packages below are
// transpiled to CommonJS by ts-jest (allowJs).
const esmOnly = ['openid-client', 'oauth4webapi', 'jose']

/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  // test/serial stops the shared Keycloak: scripts/test.sh runs it alone, after everything else.
  testPathIgnorePatterns: process.env.KEYWARD_SERIAL === '1' ? [] : ['/test/serial/'],
  transform: { '^.+\\.(ts|js)$': ['ts-jest', { tsconfig: { allowJs: true } }] },
  transformIgnorePatterns: [`/node_modules/(?!(${esmOnly.join('|')})/)`],
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  // Every test also checks that no token reached a response or a log line.
  setupFilesAfterEnv: ['<rootDir>/test/support/no-token-leaks.ts'],
  testTimeout: 60_000,
  maxWorkers: 2,
}
