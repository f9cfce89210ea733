/** Where the suites find Keycloak and Redis: set by the global setup, or the usual local ports. */
export const keycloakUrl = () => process.env.KEYWARD_TEST_KEYCLOAK_URL ?? 'http://127.0.0.1:8180'
export const redisUrl = () => process.env.KEYWARD_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379'
