import {
  createRemoteJWKSet,
  errors,
  jwtVerify,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
  type JWTVerifyResult,
  type RemoteJWKSet,
} from 'jose'
import { keycloakUnavailable } from '../domain/failures'

/**
 * The realm's signing keys, for every token keyward checks itself (logout tokens, admin callers,
 * other deployments): fetched once from the realm's JWKS and again when a token names an unknown
 * `kid`, so a key rotation in Keycloak works at once. One set per process, shared by the checks.
 */
export function realmKeys(options: { jwksUrl: URL; timeoutSeconds: number }): RemoteJWKSet {
  return createRemoteJWKSet(options.jwksUrl, {
    timeoutDuration: options.timeoutSeconds * 1000,
    // jose's default waits 30 s before fetching again, which would refuse the first logout Keycloak
    // signs after a rotation; one fetch a second at most is still nothing to Keycloak.
    cooldownDuration: 1000,
  })
}

/**
 * What /readyz says of the keys: how many are held, or none yet. Not yet loaded, they are fetched in
 * the background (at most once a second, by the cooldown), so the first logout token finds them; the
 * probe itself never waits for Keycloak. Only back-channel logout and the admin routes need them, so
 * they do not decide readiness.
 */
export function keysState(keys: RemoteJWKSet): { status: 'loaded'; keys: number } | { status: 'not_loaded' } {
  const held = keys.jwks()
  if (held) return { status: 'loaded', keys: held.keys.length }
  if (!keys.coolingDown && !keys.reloading) keys.reload().catch(() => undefined)
  return { status: 'not_loaded' }
}

/** The algorithms a Keycloak realm signs with: asymmetric only, so `none` and HMAC tricks fail. */
const SIGNING_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']

/** A realm and its keys: what every check of a token Keycloak signed starts from. */
export interface Realm {
  issuer: URL
  keys: JWTVerifyGetKey
}

/**
 * Verifies a token the realm signed: its issuer, an algorithm the realm uses, and `options`. Throws
 * jose's own error for a token that is not one, and `keycloak_unavailable` when the realm's keys could
 * not be fetched, which says nothing of the token.
 */
export async function verifyRealmToken(
  realm: Realm,
  token: string,
  options: JWTVerifyOptions,
): Promise<JWTVerifyResult> {
  try {
    return await jwtVerify(token, realm.keys, { issuer: realm.issuer.href, algorithms: SIGNING_ALGORITHMS, ...options })
  } catch (err) {
    if (err instanceof errors.JWKSTimeout || (err instanceof TypeError && err.message === 'fetch failed')) {
      throw keycloakUnavailable(err)
    }
    throw err
  }
}
