import type { SessionCaps } from '../config/types'
import type { Metrics, SessionEndReason } from '../domain/metrics'
import { groupBy, overCaps, type TokenSession } from '../domain/token-session'
import { errorFields, type Logger } from '../log'
import type { OidcClient } from '../oidc/client'
import type { TokenSessionStore } from '../store/token-sessions'

export interface SessionEndDeps {
  tokenSessions: TokenSessionStore
  oidcFor: (app: string) => OidcClient
  metrics: Pick<Metrics, 'sessionEnded'>
  log: Logger
}

/** Sessions in one Keycloak client session: the same user session (`sid`), app (client) and kind. */
const clientSessionKey = (s: TokenSession): string => (s.sid ? `${s.sid} ${s.app} ${s.kind}` : `own ${s.id}`)

/** Keycloak's DPoP policy would not revoke the session's token: ended here, its key with it. */
function unrevoked(deps: SessionEndDeps, s: TokenSession): void {
  deps.log.warn(
    { app: s.app, sub: s.sub },
    "Keycloak's DPoP policy refuses to revoke a refresh token it bound to no key: the session ends here, its key destroyed, and its client session at Keycloak when it idles out",
  )
}

/**
 * Ends sessions for good: each one's refresh or offline token is revoked at Keycloak (as its own
 * client), then its records go. If Keycloak cannot be reached, the sessions not yet ended stay
 * (`keycloak_unavailable`), and a retry finishes the rest.
 *
 * keyward sessions can share one Keycloak client session (a mobile login in a browser that already
 * had a web session of that client; a login again in the same browser). Each holds its own token
 * chain, but Keycloak revokes the client session as a whole: so the targets are grouped by client
 * session, each group costs one revocation, and a group that leaves others of its client session
 * behind is only forgotten here (its tokens never left keyward). Each `sid` index is read once. Two
 * ends at once may each see the other: whichever finds itself the last after forgetting revokes then.
 */
export async function revokeSessions(
  deps: SessionEndDeps,
  targets: TokenSession[],
  reason: SessionEndReason,
): Promise<void> {
  const listed = new Map<string, Promise<TokenSession[]>>()
  const inSid = (sid: string) => {
    if (!listed.has(sid)) listed.set(sid, deps.tokenSessions.listBySid(sid))
    return listed.get(sid)!
  }
  for (const [key, group] of groupBy(targets, clientSessionKey)) {
    const [first] = group
    const ending = new Set(group.map((g) => g.id))
    const othersIn = (sessions: TokenSession[]) =>
      sessions.filter((o) => !ending.has(o.id) && clientSessionKey(o) === key)
    const holder = group.find((g) => g.tokens.refreshToken)
    const token = holder?.tokens.refreshToken
    const dpopKey = holder?.tokens.dpopKey
    const shared = first.sid ? othersIn(await inSid(first.sid)).length > 0 : false
    if (token && !shared && !(await deps.oidcFor(first.app).revoke(token, dpopKey))) unrevoked(deps, first)
    for (const g of group) await deps.tokenSessions.delete(g)
    if (token && shared && first.sid) {
      const lastNow = await deps.tokenSessions.listBySid(first.sid).then(
        (now) => othersIn(now).length === 0,
        () => false,
      )
      if (lastNow) {
        await deps
          .oidcFor(first.app)
          .revoke(token, dpopKey)
          .catch((err: unknown) => {
            deps.log.warn(
              { app: first.app, sub: first.sub, error: errorFields(err) },
              'revoking the last of a shared Keycloak client session failed',
            )
          })
      }
    }
    for (const g of group) {
      deps.metrics.sessionEnded(g.app, g.kind, reason)
      deps.log.info({ app: g.app, sub: g.sub, kind: g.kind }, 'revoked')
    }
  }
}

/** Ends one session for good (see `revokeSessions`). */
export const revokeSession = (deps: SessionEndDeps, s: TokenSession, reason: SessionEndReason): Promise<void> =>
  revokeSessions(deps, [s], reason)

/**
 * After Keycloak ended the whole user session of `s` (logout), keyward's other sessions in it (other
 * apps and devices) are over too: they are forgotten. Logging out with an offline token ends the
 * online session of its sid as well; logging out with an online one leaves the offline session alone.
 */
export async function forgetEndedSession(deps: SessionEndDeps, s: TokenSession): Promise<void> {
  if (!s.sid) return
  for (const o of await deps.tokenSessions.listBySid(s.sid)) {
    if (s.kind !== 'offline' && o.kind !== 'online') continue
    await deps.tokenSessions.delete(o)
    deps.metrics.sessionEnded(o.app, o.kind, 'logout')
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
    await oidc.logoutAtKeycloak(s.tokens.refreshToken, s.tokens.dpopKey)
    await oidc.revoke(s.tokens.refreshToken, s.tokens.dpopKey).catch((err: unknown) => {
      // The session is already over at Keycloak; a failed revocation leaves nothing usable behind.
      deps.log.warn({ error: errorFields(err) }, 'revocation after logout failed')
    })
  }
  await deps.tokenSessions.delete(s)
  deps.metrics.sessionEnded(s.app, s.kind, 'logout')
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
 * After a new session of `sub` is stored: the user's oldest sessions past a cap (per user, per Keycloak
 * user session) are revoked at Keycloak and forgotten, so that nobody fills Redis by logging in again
 * and again through single sign-on. One listing of the user's sessions; a failure is only logged, and
 * the new session stands (the next one tries again).
 */
export async function keepWithinCaps(deps: SessionEndDeps & { caps: SessionCaps }, sub: string): Promise<void> {
  if (!deps.caps.perUser && !deps.caps.perKeycloakSession) return
  try {
    const over = overCaps(await deps.tokenSessions.listBySub(sub), deps.caps)
    if (!over.length) return
    await revokeSessions(deps, over, 'session_cap')
    deps.log.info({ sub, ended: over.length, caps: deps.caps }, 'oldest sessions ended: over the session cap')
  } catch (err) {
    deps.log.warn({ sub, error: errorFields(err) }, 'the session cap could not be kept')
  }
}
