import { Problem } from '../errors'
import { errorFields, type Logger } from '../log'
import type { OidcClient } from '../oidc/client'
import { retryWhileUnavailable } from '../store/redis'
import type { TokenSession } from './token-session'

/** How long a login keeps trying to store what Keycloak just issued while Redis is away. */
const STORE_BUDGET_MS = 5000

/**
 * Stores what a login has just obtained (`write` puts `session` wherever the login keeps it). The
 * session exists at Keycloak already, so a Redis blip is retried for a few seconds; if Redis stays
 * away, the refresh token is revoked (best effort), leaving no session at Keycloak that nobody holds,
 * and the 503 tells the caller to log in again: the one-time code or transaction is spent.
 */
export async function storeNewSession(
  session: TokenSession,
  write: () => Promise<void>,
  deps: { oidc: OidcClient; log: Logger; now: () => number },
): Promise<void> {
  try {
    await retryWhileUnavailable(write, deps.now() + STORE_BUDGET_MS, deps.now)
  } catch (err) {
    const fields = { app: session.app, sub: session.sub, error: errorFields(err) }
    deps.log.error(fields, 'a new session could not be stored; revoking it at Keycloak')
    if (session.tokens.refreshToken) {
      await deps.oidc.revoke(session.tokens.refreshToken).catch((e: unknown) => deps.log.warn({ ...fields, error: errorFields(e) }, 'revoking the unstored session failed'))
    }
    if (err instanceof Problem && err.code === 'store_unavailable') {
      throw new Problem('store_unavailable', 'The session store could not be reached, so the login could not be kept; log in again.', {
        cause: err,
        retryAfterSeconds: 2,
      })
    }
    throw err
  }
}
