import { randomBytes } from 'node:crypto'
import { ConfigError, loadConfig } from '../../src/config/load'

/** A production configuration of one app, as the standalone server's environment gives it. */
export const productionEnv = {
  PUBLIC_URL: 'https://app.example.com',
  KEYCLOAK_URL: 'https://sso.example.com',
  KEYCLOAK_REALM: 'acme',
  OIDC_CLIENT_ID: 'acme-web',
  OIDC_CLIENT_SECRET: 'very-secret-client-secret',
  SESSION_SECRET: 'x'.repeat(32),
  TOKEN_ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}`,
}

/** The problems `loadConfig` reports for `productionEnv` with `more`; none when it loads. */
export function problemsWith(more: Record<string, string>): string[] {
  try {
    loadConfig({ ...productionEnv, ...more })
    return []
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
}
