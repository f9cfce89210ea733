/** What Keycloak gave for one grant, normalised by the OIDC client. */
export interface TokenGrant {
  accessToken: string
  refreshToken?: string
  idToken?: string
  /** Seconds until the access token expires, as Keycloak said (`expires_in`). */
  expiresIn: number
  /** Keycloak's `refresh_expires_in`; 0 or absent means Keycloak set no limit (unlimited offline tokens). */
  refreshExpiresIn?: number
  /** Verified ID token claims, when an ID token came with the grant. */
  claims?: Record<string, unknown>
  /** The scopes Keycloak granted. */
  scope?: string
}

/** How long a record lives when Keycloak gives no refresh limit (unlimited offline tokens). */
export interface Lifetimes {
  onlineFallbackSeconds: number
  /** Keycloak's Offline Session Idle: an unused offline token dies after this long. */
  offlineIdleSeconds: number
}

/** Whether Keycloak granted an offline token (`offline_access` in the granted scope). */
export const grantsOffline = (grant: TokenGrant): boolean => (grant.scope ?? '').split(' ').includes('offline_access')

function recordExpiry(kind: TokenSession['kind'], refreshExpiresAt: number | undefined, now: number, lifetimes: Lifetimes): number {
  return refreshExpiresAt ?? now + (kind === 'offline' ? lifetimes.offlineIdleSeconds : lifetimes.onlineFallbackSeconds) * 1000
}

export interface TokenSet {
  accessToken: string
  refreshToken?: string
  idToken?: string
}

/** One Keycloak client session held by keyward. Times are epoch milliseconds. */
export interface TokenSession {
  id: string
  app: string
  kind: 'online' | 'offline'
  sub: string
  /** Keycloak's user session id (`sid`), for back-channel logout and revocation. */
  sid?: string
  /** Profile claims safe to show the user; never a token. */
  claims: Record<string, unknown>
  accessExpiresAt: number
  /** When Keycloak stops honouring the refresh token; absent when it set no limit. */
  refreshExpiresAt?: number
  /** When the record must be gone from Redis: `refreshExpiresAt`, else Offline Session Idle or the online fallback. */
  expiresAt: number
  createdAt: number
  refreshedAt: number
  /** The express-session id that points here (browser sessions only). */
  cookieSessionId?: string
  /** SHA-256 of the session handle that points here (mobile sessions only). */
  handleHash?: string
  /** A label for "my sessions": from the app, or the browser's user agent. */
  device?: string
  version: number
  tokens: TokenSet
}

const PROFILE_CLAIMS = [
  'sub', 'name', 'preferred_username', 'given_name', 'family_name', 'email', 'email_verified', 'locale', 'acr', 'auth_time',
]

export function profileClaims(claims: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const name of PROFILE_CLAIMS) if (claims?.[name] !== undefined) out[name] = claims[name]
  return out
}

/**
 * Builds a new token session from a code grant. Expiry times are computed from the `*_in` values and
 * the local receive time, not the tokens' absolute `exp`, so clock skew with Keycloak does not matter.
 */
export function newTokenSession(
  grant: TokenGrant,
  fields: { id: string; app: string; kind: 'online' | 'offline'; now: number; lifetimes: Lifetimes },
): TokenSession {
  const sub = grant.claims?.sub
  if (typeof sub !== 'string') throw new TypeError('the code grant returned no ID token subject')
  const sid = grant.claims?.sid
  const refreshExpiresAt = grant.refreshExpiresIn ? fields.now + grant.refreshExpiresIn * 1000 : undefined
  return {
    id: fields.id,
    app: fields.app,
    kind: fields.kind,
    sub,
    sid: typeof sid === 'string' ? sid : undefined,
    claims: profileClaims(grant.claims),
    accessExpiresAt: fields.now + grant.expiresIn * 1000,
    refreshExpiresAt,
    expiresAt: recordExpiry(fields.kind, refreshExpiresAt, fields.now, fields.lifetimes),
    createdAt: fields.now,
    refreshedAt: fields.now,
    version: 1,
    tokens: { accessToken: grant.accessToken, refreshToken: grant.refreshToken, idToken: grant.idToken },
  }
}

/**
 * The session after a refresh: new tokens (Keycloak may omit an unchanged one), new expiry times,
 * the next version. The record's lifetime slides to the new `refresh_expires_in`.
 */
export function refreshedTokenSession(current: TokenSession, grant: TokenGrant, now: number, lifetimes: Lifetimes): TokenSession {
  const refreshExpiresAt = grant.refreshExpiresIn ? now + grant.refreshExpiresIn * 1000 : undefined
  return {
    ...current,
    claims: grant.claims ? profileClaims(grant.claims) : current.claims,
    accessExpiresAt: now + grant.expiresIn * 1000,
    refreshExpiresAt,
    expiresAt: recordExpiry(current.kind, refreshExpiresAt, now, lifetimes),
    refreshedAt: now,
    version: current.version + 1,
    tokens: {
      accessToken: grant.accessToken,
      refreshToken: grant.refreshToken ?? current.tokens.refreshToken,
      idToken: grant.idToken ?? current.tokens.idToken,
    },
  }
}
