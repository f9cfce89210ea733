import type { JWTPayload } from 'jose'

/**
 * The roles an access token of `clientId`'s grants, as keycloak-connect's `protect()` named them:
 * `realm:<role>` for the realm's, `<client>:<role>` for a client's, and `<role>` alone for `clientId`'s own.
 */
function rolesOf(claims: JWTPayload, clientId: string): Set<string> {
  const roles = new Set<string>()
  const realm = (claims.realm_access as { roles?: unknown } | undefined)?.roles
  for (const role of Array.isArray(realm) ? realm : []) roles.add(`realm:${String(role)}`)
  const clients = (claims.resource_access ?? {}) as Record<string, { roles?: unknown }>
  for (const [client, access] of Object.entries(clients)) {
    for (const role of Array.isArray(access?.roles) ? access.roles : []) {
      roles.add(`${client}:${String(role)}`)
      if (client === clientId) roles.add(String(role)) // the app's own client's role, by its name alone
    }
  }
  return roles
}

/** Whether an access token of `clientId`'s grants any of `roles` (named as `rolesOf` names them). */
export function holdsAnyRole(claims: JWTPayload, clientId: string, roles: readonly string[]): boolean {
  const held = rolesOf(claims, clientId)
  return roles.some((role) => held.has(role))
}
