/** Keycloak's token endpoint answers read as keyward's grants. */
import type * as oidc from 'openid-client'
import type { TokenGrant } from '../domain/token-session'

/**
 * Keycloak's answer as a grant. The access token lives `expires_in`, or less if its own `exp` − `iat`
 * says so, less one second: Keycloak writes `iat` and `exp` in whole seconds, so a token may expire
 * up to a second before its lifetime has passed. Counted from `requestedAt`, that is never late.
 */
export function toGrant(
  res: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers,
  requestedAt: number,
): TokenGrant {
  const refreshExpiresIn = res.refresh_expires_in
  const access = jwtPayload(res.access_token)
  const ownLifetime =
    typeof access?.exp === 'number' && typeof access.iat === 'number' ? access.exp - access.iat : Infinity
  return {
    accessToken: res.access_token,
    refreshToken: res.refresh_token,
    expiresIn: Math.max(1, Math.min(res.expires_in ?? 60, ownLifetime) - 1),
    requestedAt,
    refreshExpiresIn: typeof refreshExpiresIn === 'number' ? refreshExpiresIn : undefined,
    claims: res.claims(),
    scope: res.scope,
  }
}

/** The payload of a JWT Keycloak has just issued to this client over the back channel; undefined if none. */
function jwtPayload(jwt: string): Record<string, unknown> | undefined {
  try {
    const payload: unknown = JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8'))
    return typeof payload === 'object' && payload !== null ? (payload as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

export function payloadOf(jwt: string): Record<string, unknown> {
  const payload = jwtPayload(jwt)
  if (!payload) throw new Error('Keycloak issued an access token that is no JWT')
  return payload
}
