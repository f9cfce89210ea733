import { verifyRealmToken, type Realm } from './realm-keys'

/**
 * Checks a Keycloak access token that another keyward deployment presents for itself: issued by this
 * realm (signed with one of its keys), unexpired, and a service account's (client credentials): `azp`
 * is the client, and the token names no user of its own. Answers the client id, or undefined for
 * anything else.
 */
export function serviceTokenVerifier(realm: Realm) {
  return async function clientOf(token: string): Promise<string | undefined> {
    try {
      const { payload } = await verifyRealmToken(realm, token, { clockTolerance: 5 })
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
