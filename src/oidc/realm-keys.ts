import { createRemoteJWKSet, type JWTVerifyGetKey } from 'jose'

/**
 * The realm's signing keys, for every token keyward checks itself (logout tokens, admin callers,
 * other deployments): fetched once from the realm's JWKS and again when a token names an unknown
 * `kid`, so a key rotation in Keycloak works at once. One set per process, shared by the checks.
 */
export function realmKeys(options: { jwksUrl: URL; timeoutSeconds: number }): JWTVerifyGetKey {
  return createRemoteJWKSet(options.jwksUrl, {
    timeoutDuration: options.timeoutSeconds * 1000,
    // jose's default waits 30 s before fetching again, which would refuse the first logout Keycloak
    // signs after a rotation; one fetch a second at most is still nothing to Keycloak.
    cooldownDuration: 1000,
  })
}

/** The algorithms a Keycloak realm signs with: asymmetric only, so `none` and HMAC tricks fail. */
export const SIGNING_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
]
