import type { RefreshConfig } from '../config/load'
import type { TokenSession } from './token-session'

export type Freshness = 'fresh' | 'stale' | 'expired'

/**
 * `fresh`: use it. `stale`: still valid but inside the refresh window; use it and refresh in the
 * background. `expired`: a request must wait for a refresh. The window is `skewSeconds`, or
 * `skewFraction` of the token's lifetime when that is smaller (a 10 s token is not "stale" at birth).
 */
export function freshness(
  session: Pick<TokenSession, 'accessExpiresAt' | 'refreshedAt'>,
  now: number,
  cfg: Pick<RefreshConfig, 'skewSeconds' | 'skewFraction'>,
): Freshness {
  const left = session.accessExpiresAt - now
  if (left <= 0) return 'expired'
  const lifetime = session.accessExpiresAt - session.refreshedAt
  const window = Math.min(cfg.skewSeconds * 1000, lifetime * cfg.skewFraction)
  return left > window ? 'fresh' : 'stale'
}
