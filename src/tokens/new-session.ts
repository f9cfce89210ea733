import { Problem } from '../errors'
import { errorFields, type Logger } from '../log'
import type { OidcClient } from '../oidc/client'
import { retryWhileUnavailable } from '../store/redis'
import type { TokenSession } from './token-session'

/** How long a login keeps trying to store what Keycloak just issued while Redis is away. */
const STORE_BUDGET_MS = 5000

/**
 * Whether the user signed in during this login, so that the Keycloak session is the login's own. If
 * not, single sign-on reused a session that other keyward sessions (other devices, an earlier login
 * in this browser) may share. Keycloak says so with `acr` "0" (authenticated by its SSO cookie); with
 * step-up levels configured, `auth_time` (whole seconds) must also not be before the login started.
 */
export function ownKeycloakSession(session: TokenSession, loginStartedAt: number): boolean {
  const { acr, auth_time: authTime } = session.claims
  return acr !== '0' && typeof authTime === 'number' && authTime >= Math.floor(loginStartedAt / 1000)
}

/**
 * Stores what a login has just obtained (`write` puts `session` wherever the login keeps it). The
 * session exists at Keycloak already, so a Redis blip is retried for a few seconds. If Redis stays
 * away, the 503 tells the caller to log in again (the one-time code or transaction is spent), and the
 * refresh token is revoked (best effort) so no session is left at Keycloak that nobody holds — when
 * it is the login's own: revoking one that single sign-on shares would end the other sessions in it.
 */
export async function storeNewSession(
  session: TokenSession,
  ownsKeycloakSession: boolean,
  write: () => Promise<void>,
  deps: { oidc: OidcClient; log: Logger; now: () => number },
): Promise<void> {
  try {
    await retryWhileUnavailable(write, deps.now() + STORE_BUDGET_MS, deps.now)
  } catch (err) {
    const fields = { app: session.app, sub: session.sub, error: errorFields(err) }
    deps.log.error({ ...fields, revoking: ownsKeycloakSession }, 'a new session could not be stored')
    if (ownsKeycloakSession && session.tokens.refreshToken) {
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
