import type { TokenSession } from '../domain/token-session'
import { errorFields, type Logger } from '../log'
import type { OidcClient } from '../oidc/client'
import type { TokenSessionStore } from '../store/token-sessions'

export interface SessionEndDeps {
  tokenSessions: TokenSessionStore
  oidcFor: (app: string) => OidcClient
  log: Logger
}

/** The other keyward sessions in `s`'s Keycloak client session: same sid, app (client) and kind. */
async function sharingClientSession(deps: SessionEndDeps, s: TokenSession): Promise<TokenSession[]> {
  if (!s.sid) return []
  return (await deps.tokenSessions.listBySid(s.sid)).filter(
    (o) => o.id !== s.id && o.app === s.app && o.kind === s.kind,
  )
}

/**
 * Ends a session for good: its refresh or offline token is revoked at Keycloak (as its own client),
 * then its records go. If Keycloak cannot be reached, nothing changes (`keycloak_unavailable`).
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
  const lastNow =
    shared &&
    (await sharingClientSession(deps, s).then(
      (others) => others.length === 0,
      () => false,
    ))
  if (token && lastNow) {
    await deps
      .oidcFor(s.app)
      .revoke(token)
      .catch((err: unknown) => {
        deps.log.warn(
          { app: s.app, sub: s.sub, error: errorFields(err) },
          'revoking the last of a shared Keycloak client session failed',
        )
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

/**
 * Logout: ends the Keycloak session first (so Keycloak still knows the session and sends back-channel
 * logout to its other clients, keycloak#34234), then revokes the refresh token, then deletes the
 * local records. If Keycloak cannot be reached the session is kept (`keycloak_unavailable`), so the
 * user can retry: a logout that only forgot the session locally would not be a logout. keyward's
 * other sessions in the ended Keycloak session are forgotten last; a failure there is only logged,
 * since the caller is logged out by then. Returns Keycloak's end-session URL for the browser, which
 * sends it back to `postLogoutRedirectUri`.
 */
export async function logout(deps: SessionEndDeps, s: TokenSession, postLogoutRedirectUri: string): Promise<URL> {
  const oidc = deps.oidcFor(s.app)
  if (s.tokens.refreshToken) {
    await oidc.logoutAtKeycloak(s.tokens.refreshToken)
    await oidc.revoke(s.tokens.refreshToken).catch((err: unknown) => {
      // The session is already over at Keycloak; a failed revocation leaves nothing usable behind.
      deps.log.warn({ error: errorFields(err) }, 'revocation after logout failed')
    })
  }
  await deps.tokenSessions.delete(s)
  deps.log.info({ app: s.app, sub: s.sub }, 'logout')
  await forgetEndedSession(deps, s).catch((err: unknown) =>
    deps.log.warn({ error: errorFields(err) }, 'forgetting the other sessions of a logout failed'),
  )
  return oidc.endSessionUrl({ postLogoutRedirectUri })
}

/** Every live session of the user `sub`, on every app. */
export const sessionsOf = (deps: Pick<SessionEndDeps, 'tokenSessions'>, sub: string): Promise<TokenSession[]> =>
  deps.tokenSessions.listBySub(sub)

/**
 * Revokes `targets` (sessions of one user) one at a time: if Keycloak goes away midway, the failure
 * propagates and a retry finishes the rest.
 */
export async function revokeSessions(deps: SessionEndDeps, targets: TokenSession[]): Promise<void> {
  for (const s of targets) {
    await revokeSession(deps, s)
    deps.log.info({ app: s.app, sub: s.sub, kind: s.kind }, 'revoked')
  }
}
