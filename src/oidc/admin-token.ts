import { Failure, isFailure } from '../domain/failures'
import { verifyRealmToken, type Realm } from './realm-keys'

/**
 * Checks the bearer of an admin route: a Keycloak access token of this realm (a user's, or an admin
 * client's from client credentials) whose audience is the app's client `clientId` and which carries
 * that client's role `role`. Keycloak's audience-resolve mapper puts the client into `aud` whenever a
 * token carries one of its roles, so granting the role is all the setup an admin caller needs.
 * Answers who the admin is; throws `admin_token_refused` (unsigned, forged, expired, another realm or
 * audience, not an access token) or `admin_role_missing`.
 */
export function adminTokenVerifier(realm: Realm) {
  const refused = () =>
    new Failure('admin_token_refused', 'The token is not a current Keycloak access token for this app.')
  return async function adminOf(token: string, clientId: string, role: string): Promise<string> {
    let payload
    try {
      ;({ payload } = await verifyRealmToken(realm, token, { audience: clientId, clockTolerance: 5 }))
    } catch (err) {
      if (isFailure(err)) throw err
      throw refused()
    }
    // Keycloak's ID, refresh and logout tokens may name the client too; only an access token is a bearer's.
    if (payload.typ !== 'Bearer') throw refused()
    const access = payload.resource_access as Record<string, { roles?: unknown }> | undefined
    const roles = Object.hasOwn(access ?? {}, clientId) ? access![clientId].roles : undefined
    if (!Array.isArray(roles) || !roles.includes(role)) {
      throw new Failure('admin_role_missing', `The token lacks the role ${role} of client ${clientId}.`)
    }
    return typeof payload.preferred_username === 'string' ? payload.preferred_username : String(payload.azp)
  }
}
