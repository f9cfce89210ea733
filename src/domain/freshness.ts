import type { RefreshSettings } from '../config/types'
import type { TokenSession } from './token-session'

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

/**
 * Whether the access token is good for `minValidityMs` more, a margin a caller asked for: capped at
 * half the token's lifetime, so that a margin longer than Keycloak's tokens live cannot make every
 * call refresh.
 */
export function lasts(
  session: Pick<TokenSession, 'accessExpiresAt' | 'refreshedAt'>,
  now: number,
  minValidityMs: number,
): boolean {
  const lifetime = session.accessExpiresAt - session.refreshedAt
  return session.accessExpiresAt - now >= Math.min(minValidityMs, lifetime / 2)
}
