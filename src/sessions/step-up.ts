import type { NewSession, TokenSession } from '../domain/token-session'
import type { TokenSessionStore } from '../store/token-sessions'

/**
 * A step-up: the browser's session (`previous`) takes what the login that raised its authentication
 * got (tokens, claims, expiries) in place, so the session and its cookie stay what they were. Only
 * when the login stayed in the same Keycloak client session (same `sid`, user, app and kind);
 * undefined otherwise, or when the session ended meanwhile, and the login makes a new session.
 * The write is a compare-and-set on the version, as a refresh's is: a refresh that lands first is
 * read again and overwritten, since the step-up's tokens are the newer.
 */
export async function raiseInPlace(
  deps: { tokenSessions: Pick<TokenSessionStore, 'get' | 'replace'> },
  previous: TokenSession,
  made: NewSession,
): Promise<TokenSession | undefined> {
  const same =
    previous.sid !== undefined &&
    previous.sid === made.sid &&
    previous.sub === made.sub &&
    previous.app === made.app &&
    previous.kind === made.kind
  if (!same) return undefined
  for (let attempt = 0; attempt < 3; attempt++) {
    const current = await deps.tokenSessions.get(previous.id)
    if (!current) return undefined
    const next: TokenSession = {
      ...current,
      claims: made.claims,
      accessExpiresAt: made.accessExpiresAt,
      refreshExpiresAt: made.refreshExpiresAt,
      refreshLimitAt: made.refreshLimitAt,
      idleEndsAt: made.idleEndsAt,
      expiresAt: made.expiresAt,
      refreshedAt: made.refreshedAt,
      version: current.version + 1,
      tokens: made.tokens,
      appData: made.appData ?? current.appData,
    }
    if (await deps.tokenSessions.replace(next, current.version)) return next
  }
  return undefined
}
