import type { Lifetimes, SessionCaps } from '../config/types'

/** What Keycloak gave for one grant, normalised by the OIDC client. */
export interface TokenGrant {
  accessToken: string
  refreshToken?: string
  /** Seconds the access token is good for from `requestedAt` (see the OIDC client's `toGrant`). */
  expiresIn: number
  /**
   * When keyward sent the request (epoch ms). Keycloak issued the tokens after it, so expiries counted
   * from here are never later than the real ones, whatever the latency or the clocks.
   */
  requestedAt?: number
  /** Keycloak's `refresh_expires_in`; 0 or absent means Keycloak set no limit (unlimited offline tokens). */
  refreshExpiresIn?: number
  /** Verified ID token claims, when an ID token came with the grant. */
  claims?: Record<string, unknown>
  /** The scopes Keycloak granted. */
  scope?: string
  /** The key the tokens are bound to (DPoP), when the request carried a proof. */
  dpopKey?: DPoPKey
}

/**
 * A session's DPoP key (RFC 9449): a P-256 key pair as its JWK coordinates (base64url), `d` the
 * private part. Sealed with the tokens it binds, never logged, never sent anywhere.
 */
export interface DPoPKey {
  x: string
  y: string
  d: string
}

/** An access token exchanged for one upstream's audience, kept with the session until it nears expiry. */
export interface UpstreamToken {
  accessToken: string
  expiresAt: number
  obtainedAt: number
  /** The key the token is bound to (DPoP). */
  dpopKey?: DPoPKey
}

/** `items` by `key`, each group in the order its items came. */
export function groupBy<T>(items: Iterable<T>, key: (item: T) => string): Map<string, T[]> {
  const groups = new Map<string, T[]>()
  for (const item of items) {
    const group = groups.get(key(item))
    if (group) group.push(item)
    else groups.set(key(item), [item])
  }
  return groups
}

/**
 * The sessions to end so that none of the caps is passed: the oldest first (`sessions` are one user's,
 * the newest among them just made). A session over either cap is ended once.
 */
export function overCaps(sessions: TokenSession[], caps: SessionCaps): TokenSession[] {
  const oldestFirst = [...sessions].sort((a, b) => a.createdAt - b.createdAt)
  const over = new Set<TokenSession>()
  const trim = (group: TokenSession[], cap: number) => {
    if (cap > 0) for (const s of group.slice(0, Math.max(0, group.length - cap))) over.add(s)
  }
  trim(oldestFirst, caps.perUser)
  const bySid = groupBy(
    oldestFirst.filter((s) => s.sid),
    (s) => s.sid!,
  )
  for (const group of bySid.values()) trim(group, caps.perKeycloakSession)
  return oldestFirst.filter((s) => over.has(s))
}

/** Whether Keycloak granted an offline token (`offline_access` in the granted scope). */
export const grantsOffline = (grant: TokenGrant): boolean => (grant.scope ?? '').split(' ').includes('offline_access')

function recordExpiry(
  kind: TokenSession['kind'],
  refreshExpiresAt: number | undefined,
  now: number,
  lifetimes: Lifetimes,
): number {
  return (
    refreshExpiresAt ??
    now + (kind === 'offline' ? lifetimes.offlineIdleSeconds : lifetimes.onlineFallbackSeconds) * 1000
  )
}

/**
 * The tokens keyward keeps. Not the ID token: its claims are read once, at login, and nothing needs it
 * afterwards (logout goes by the refresh token, and no ID token may leave keyward as a hint).
 */
export interface TokenSet {
  accessToken: string
  refreshToken?: string
  /** The key the access token is bound to (DPoP): every use of the token needs a proof made with it. */
  dpopKey?: DPoPKey
}

/**
 * One Keycloak client session held by keyward. Times are epoch milliseconds. Its `id` is the SHA-256
 * of the credential that opens it (see `sessionIdOf`), so one read finds it from the credential.
 */
export interface TokenSession {
  id: string
  app: string
  /** Who holds it: a browser (cookie) or a mobile app (session handle). */
  client: 'web' | 'mobile'
  kind: 'online' | 'offline'
  sub: string
  /** Keycloak's user session id (`sid`), for back-channel logout and revocation. */
  sid?: string
  /** Profile claims safe to show the user; never a token. */
  claims: Record<string, unknown>
  accessExpiresAt: number
  /** When Keycloak stops honouring the refresh token; absent when it set no limit. */
  refreshExpiresAt?: number
  /** When the refresh token ends by Keycloak's `refresh_expires_in`, the SSO Session Idle aside. */
  refreshLimitAt?: number
  /**
   * When Keycloak's user session ends unless some client of it is used (SSO_SESSION_IDLE_SECONDS after
   * the last grant of this session or, `idleExtension`, of a sibling); online sessions, when that is set.
   */
  idleEndsAt?: number
  /** When the record must be gone from Redis: `refreshExpiresAt`, else Offline Session Idle or the online fallback. */
  expiresAt: number
  createdAt: number
  refreshedAt: number
  /** The express-session id of the browser cookie that opens it (web sessions only). */
  cookieSessionId?: string
  /** When the browser's cookie, as last issued, expires (offline web sessions: "remember me"). */
  cookieExpiresAt?: number
  /** A label for "my sessions": from the app, or the browser's user agent. */
  device?: string
  /** The session this one was handed over from (token exchange), in another app. */
  parentId?: string
  version: number
  tokens: TokenSet
  /** Tokens exchanged for upstreams that want their own audience, by upstream name. */
  upstreamTokens?: Record<string, UpstreamToken>
  /** What the application's login hook kept with the session (small, JSON); never sent to the browser by keyward. */
  appData?: Record<string, unknown>
}

const PROFILE_CLAIMS = [
  'sub',
  'name',
  'preferred_username',
  'given_name',
  'family_name',
  'email',
  'email_verified',
  'locale',
  'acr',
  'auth_time',
]

export function profileClaims(claims: Record<string, unknown> | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const name of PROFILE_CLAIMS) if (claims?.[name] !== undefined) out[name] = claims[name]
  return out
}

/** A login's session before a credential is made for it; `openedBy` gives it its id. */
export type NewSession = Omit<TokenSession, 'id' | 'client'>

/** The session a new credential opens: its id is the credential's SHA-256 (`sessionIdOf`). */
export const openedBy = (session: NewSession, id: string, client: TokenSession['client']): TokenSession => ({
  ...session,
  id,
  client,
})

/**
 * The access token's, the refresh token's and the record's expiry after `grant`, received at `now`.
 * The refresh token lives as Keycloak says, but an online one never past the SSO Session Idle when
 * that is set (`idleEndsAt`).
 */
function expiries(kind: TokenSession['kind'], grant: TokenGrant, now: number, lifetimes: Lifetimes) {
  const from = grant.requestedAt ?? now
  const refreshLimitAt = grant.refreshExpiresIn ? from + grant.refreshExpiresIn * 1000 : undefined
  const idleEndsAt =
    kind === 'online' && lifetimes.onlineIdleSeconds ? from + lifetimes.onlineIdleSeconds * 1000 : undefined
  const refreshExpiresAt = idleEndsAt === undefined ? refreshLimitAt : Math.min(refreshLimitAt ?? Infinity, idleEndsAt)
  return {
    accessExpiresAt: from + grant.expiresIn * 1000,
    refreshExpiresAt,
    refreshLimitAt,
    idleEndsAt,
    expiresAt: recordExpiry(kind, refreshExpiresAt, now, lifetimes),
  }
}

/**
 * How far another client's activity in the same Keycloak session moves an online session's end, if
 * at all: Keycloak's SSO Session Idle counts from the last grant of any client of the user session,
 * so a session unused here lives on while a sibling app is used, up to its own refresh token's limit.
 * `idleEndsAt` is the active session's (`TokenSession.idleEndsAt`).
 */
export function idleExtension(session: TokenSession, idleEndsAt: number): number | undefined {
  if (session.kind !== 'online' || session.idleEndsAt === undefined) return undefined
  const until = Math.min(session.refreshLimitAt ?? Infinity, idleEndsAt)
  return until > session.expiresAt ? until : undefined
}

/**
 * Builds a new session from a code grant. Expiry times are computed from the `*_in` values and the
 * local receive time, not the tokens' absolute `exp`, so clock skew with Keycloak does not matter.
 */
export function newSession(
  grant: TokenGrant,
  fields: { app: string; kind: 'online' | 'offline'; now: number; lifetimes: Lifetimes },
): NewSession {
  const sub = grant.claims?.sub
  if (typeof sub !== 'string') throw new TypeError('the code grant returned no ID token subject')
  const sid = grant.claims?.sid
  return {
    app: fields.app,
    kind: fields.kind,
    sub,
    sid: typeof sid === 'string' ? sid : undefined,
    claims: profileClaims(grant.claims),
    ...expiries(fields.kind, grant, fields.now, fields.lifetimes),
    createdAt: fields.now,
    refreshedAt: fields.now,
    version: 1,
    tokens: tokenSet(grant),
  }
}

/**
 * The session after a refresh: new tokens (Keycloak may omit an unchanged one), new expiry times,
 * the next version. The record's lifetime slides to the new `refresh_expires_in`.
 */
export function refreshedTokenSession(
  current: TokenSession,
  grant: TokenGrant,
  now: number,
  lifetimes: Lifetimes,
): TokenSession {
  return {
    ...current,
    claims: grant.claims ? profileClaims(grant.claims) : current.claims,
    ...expiries(current.kind, grant, now, lifetimes),
    refreshedAt: now,
    version: current.version + 1,
    tokens: tokenSet(grant, current.tokens),
  }
}

/** A grant's tokens, with what it left out (an unchanged refresh token, the same key) kept from `current`. */
function tokenSet(grant: TokenGrant, current?: TokenSet): TokenSet {
  const refreshToken = grant.refreshToken ?? current?.refreshToken
  const dpopKey = grant.dpopKey ?? current?.dpopKey
  return {
    accessToken: grant.accessToken,
    ...(refreshToken === undefined ? {} : { refreshToken }),
    ...(dpopKey ? { dpopKey } : {}),
  }
}
