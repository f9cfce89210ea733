import { createRemoteJWKSet, jwtVerify } from 'jose'

/**
 * Checks a Keycloak access token that another keyward deployment presents for itself: issued by this
 * realm (signature from the realm's keys, which jose fetches once and again on an unknown `kid`),
 * unexpired, and a service account's (client credentials): `azp` is the client, and the token names
 * no user of its own. Answers the client id, or undefined for anything else.
 */
export function serviceTokenVerifier(options: { issuer: URL; jwksUrl: URL; timeoutSeconds: number }) {
  const keys = createRemoteJWKSet(options.jwksUrl, { timeoutDuration: options.timeoutSeconds * 1000 })
  return async function clientOf(token: string): Promise<string | undefined> {
    try {
      const { payload } = await jwtVerify(token, keys, { issuer: options.issuer.href, clockTolerance: 5 })
      const azp = payload.azp
      // Keycloak names a service account's user `service-account-<client id>`.
      if (typeof azp !== 'string' || payload.preferred_username !== `service-account-${azp}`.toLowerCase()) {
        return undefined
      }
      return azp
    } catch {
      return undefined
    }
  }
}

export type ServiceTokenVerifier = ReturnType<typeof serviceTokenVerifier>
