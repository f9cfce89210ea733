import { setTimeout as sleep } from 'node:timers/promises'
import type { Metrics } from '../domain/metrics'
import type { TokenSession } from '../domain/token-session'
import { errorFields, type Logger } from '../log'
import type { OidcClient } from '../oidc/client'
import { logoutTokenRefused, type LogoutRequest, type LogoutTokenVerifier } from '../oidc/logout-token'
import type { LogoutTokenLog } from '../store/logout-tokens'
import type { TokenSessionStore } from '../store/token-sessions'

export interface KeycloakLogoutDeps {
  verify: LogoutTokenVerifier
  seen: LogoutTokenLog
  issuer: URL
  tokenSessions: TokenSessionStore
  oidcFor: (app: string) => OidcClient
  /** When offline sessions named by a logout token are asked about again (ms after it came). */
  offlineRecheckMs: readonly number[]
  /** Aborted at shutdown: checks still waiting are dropped (the next refresh finds out instead). */
  stopping: AbortSignal
  metrics: Pick<Metrics, 'sessionEnded' | 'backchannelLogout'>
  log: Logger
}

/**
 * The keyward sessions a logout token names: of the user session `sid` (or, without `sid`, every
 * session of `sub`), of every app, handed-over ones too.
 */
async function named(deps: KeycloakLogoutDeps, request: LogoutRequest): Promise<TokenSession[]> {
  const listed = request.sid
    ? await deps.tokenSessions.listBySid(request.sid)
    : await deps.tokenSessions.listBySub(request.sub!)
  return listed.filter((s) => !request.sub || s.sub === request.sub)
}

/**
 * Keycloak sends the same logout token whether an online or an offline session ended (an online
 * logout keeps the offline session of the same id; an offline logout or revocation ends both), and
 * sends it before it removes an offline session. So an offline session it names is asked about again
 * once Keycloak is done: ended only if Keycloak no longer honours its token (introspection).
 */
async function recheckOffline(deps: KeycloakLogoutDeps, sessions: TokenSession[]): Promise<void> {
  let pending = sessions
  let waited = 0
  for (const at of deps.offlineRecheckMs) {
    await sleep(at - waited, undefined, { signal: deps.stopping })
    waited = at
    const still: TokenSession[] = []
    for (const s of pending) {
      const current = await deps.tokenSessions.get(s.id)
      if (!current?.tokens.refreshToken) continue
      if (await deps.oidcFor(current.app).honours(current.tokens.refreshToken)) still.push(current)
      else {
        await deps.tokenSessions.delete(current)
        deps.metrics.sessionEnded(current.app, current.kind, 'backchannel_logout')
        deps.log.info({ app: current.app, sub: current.sub }, 'back-channel logout ended an offline session')
      }
    }
    pending = still
    if (!pending.length) return
  }
}

/**
 * Back-channel logout: Keycloak says (in a logout token for the client of an app served here, one of
 * `clientIds`) that a user session ended. The token is checked in full and honoured once. Its online keyward sessions are forgotten at
 * once (Keycloak has ended them, so nothing is revoked there); offline ones end too when the token
 * says Keycloak revoked offline access, else when Keycloak, asked again, no longer honours them.
 * Every instance sees it: the records go from Redis, and the process caches hear of it from Redis.
 * Throws `logout_token_refused` for a token to refuse (a replay included), and changes nothing then.
 */
export async function honourLogoutToken(deps: KeycloakLogoutDeps, token: string, clientIds: string[]): Promise<void> {
  const request = await deps.verify(token, clientIds)
  if (!(await deps.seen.firstSighting(deps.issuer.href, request.jti))) {
    throw logoutTokenRefused('this logout token (its jti) was received before')
  }
  const sessions = await named(deps, request)
  const ended = sessions.filter((s) => s.kind === 'online' || request.revokeOffline)
  for (const s of ended) {
    await deps.tokenSessions.delete(s)
    deps.metrics.sessionEnded(s.app, s.kind, 'backchannel_logout')
  }
  const offline = sessions.filter((s) => !ended.includes(s))
  deps.log.info(
    { client: request.client, sub: request.sub, ended: ended.length, offlineToCheck: offline.length },
    'back-channel logout',
  )
  if (offline.length) {
    recheckOffline(deps, offline).catch((err: unknown) => {
      if (deps.stopping.aborted) return
      deps.log.warn(
        { sub: request.sub, error: errorFields(err) },
        'offline sessions of a back-channel logout not checked',
      )
    })
  }
}
