import type { TokenSession } from './token-session'

/** When to refresh, and how refreshes across instances wait for each other. */
export interface RefreshSettings {
  /** Refresh when less than this is left of the access token's lifetime… */
  skewSeconds: number
  /** …or less than this fraction of it, whichever is smaller (for very short tokens). */
  skewFraction: number
  /** How long one instance may hold a session's refresh lock; more than a Keycloak call may take. */
  lockTtlMs: number
  /** How long a request with an expired token waits for another instance's refresh. */
  waitMs: number
  pollMs: number
}

export type Freshness = 'fresh' | 'stale' | 'expired'

/** A token with less than this left is not sent anywhere: it could expire on its way. */
export const EXPIRY_MARGIN_MS = 1000

/**
 * `fresh`: use it. `stale`: still valid but inside the refresh window; use it and refresh in the
 * background. `expired` (or within `EXPIRY_MARGIN_MS` of it): a request must wait for a refresh. The window is `skewSeconds`, or
 * `skewFraction` of the token's lifetime when that is smaller (a 10 s token is not "stale" at birth).
 */
export function freshness(
  session: Pick<TokenSession, 'accessExpiresAt' | 'refreshedAt'>,
  now: number,
  cfg: Pick<RefreshSettings, 'skewSeconds' | 'skewFraction'>,
): Freshness {
  const left = session.accessExpiresAt - now
  if (left <= EXPIRY_MARGIN_MS) return 'expired'
  const lifetime = session.accessExpiresAt - session.refreshedAt
  const window = Math.min(cfg.skewSeconds * 1000, lifetime * cfg.skewFraction)
  return left > window ? 'fresh' : 'stale'
}
