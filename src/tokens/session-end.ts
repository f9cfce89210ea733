import { errorFields, type Logger } from '../log'
import type { OidcClient } from '../oidc/client'
import type { TokenSessionStore } from '../store/token-sessions'
import type { TokenSession } from './token-session'

export interface SessionEndDeps {
  tokenSessions: TokenSessionStore
  oidcFor: (app: string) => OidcClient
  log: Logger
}

/** The other keyward sessions in `s`'s Keycloak client session: same sid, app (client) and kind. */
async function sharingClientSession(deps: SessionEndDeps, s: TokenSession): Promise<TokenSession[]> {
  if (!s.sid) return []
  return (await deps.tokenSessions.listBySid(s.sid)).filter((o) => o.id !== s.id && o.app === s.app && o.kind === s.kind)
}

/**
 * Ends a session for good: its refresh or offline token is revoked at Keycloak (as its own client),
 * then its records go. If Keycloak cannot be reached, nothing changes (503).
 *
 * keyward sessions can share one Keycloak client session (a mobile login in a browser that already
 * had a web session of that client; a login again in the same browser). Each holds its own token
 * chain, but Keycloak revokes the client session as a whole, so only the last of them is revoked
 * there; the others are forgotten here, and with them their tokens, which never left keyward. Two
 * of them ended at once may each see the other: whichever finds itself the last after forgetting
 * revokes then.
 */
export async function revokeSession(deps: SessionEndDeps, s: TokenSession): Promise<void> {
  const token = s.tokens.refreshToken
  const shared = (await sharingClientSession(deps, s)).length > 0
  if (token && !shared) await deps.oidcFor(s.app).revoke(token)
  await deps.tokenSessions.delete(s)
  const lastNow = shared && (await sharingClientSession(deps, s).then((others) => others.length === 0, () => false))
  if (token && lastNow) {
    await deps.oidcFor(s.app).revoke(token).catch((err: unknown) => {
      deps.log.warn({ app: s.app, sub: s.sub, error: errorFields(err) }, 'revoking the last of a shared Keycloak client session failed')
    })
  }
}

/**
 * After Keycloak ended the whole user session of `s` (logout), keyward's other sessions in it (other
 * apps and devices) are over too: they are forgotten. Logging out with an offline token ends the
 * online session of its sid as well; logging out with an online one leaves the offline session alone.
 */
export async function forgetEndedSession(deps: SessionEndDeps, s: TokenSession): Promise<void> {
  if (!s.sid) return
  for (const o of await deps.tokenSessions.listBySid(s.sid)) {
    if (s.kind === 'offline' || o.kind === 'online') await deps.tokenSessions.delete(o)
  }
}
