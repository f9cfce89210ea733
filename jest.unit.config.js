// `npm run test:unit`: the pure-logic suites in test/unit, with no Keycloak and no Redis, in seconds.
const base = require('./jest.config')

/** @type {import('jest').Config} */
module.exports = {
  ...base,
  roots: ['<rootDir>/test/unit'],
  globalSetup: undefined,
  globalTeardown: undefined,
}
