import { setTimeout as sleep } from 'node:timers/promises'
import type { Metrics } from '../domain/metrics'
import type { TokenSession } from '../domain/token-session'
import { errorFields, type Logger } from '../log'
import type { OidcClient } from '../oidc/client'
import { logoutTokenRefused, type LogoutRequest, type LogoutTokenVerifier } from '../oidc/logout-token'
import type { LogoutTokenLog } from '../store/logout-tokens'
import type { OfflineRecheck, OfflineRecheckStore } from '../store/offline-rechecks'
import type { TokenSessionStore } from '../store/token-sessions'

export interface KeycloakLogoutDeps {
  verify: LogoutTokenVerifier
  seen: LogoutTokenLog
  issuer: URL
  tokenSessions: TokenSessionStore
  oidcFor: (app: string) => OidcClient
  /** Whether this deployment serves `app` (several may share one Redis, and only one can ask for an app). */
  serves: (app: string) => boolean
  /** When offline sessions named by a logout token are asked about again (ms after it came). */
  offlineRecheckMs: readonly number[]
  /** Those checks, in Redis: any instance makes them. */
  rechecks: OfflineRecheckStore
  /** Aborted at shutdown: this instance stops making checks (others, or it after a restart, make them). */
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
 * once Keycloak is done (`offlineRecheckMs` after the logout): ended only if Keycloak no longer
 * honours its token (introspection). One check: the next is scheduled while Keycloak still honours it.
 */
async function recheck(deps: KeycloakLogoutDeps, check: OfflineRecheck): Promise<void> {
  const current = await deps.tokenSessions.get(check.sessionId)
  if (!current?.tokens.refreshToken) return deps.rechecks.done(check)
  // Another deployment's app, on a Redis both use: given back, for an instance of that deployment.
  if (!deps.serves(current.app)) return deps.rechecks.schedule(check, Date.now() + 1000)
  if (!(await deps.oidcFor(current.app).honours(current.tokens.refreshToken))) {
    await deps.tokenSessions.delete(current)
    deps.metrics.sessionEnded(current.app, current.kind, 'backchannel_logout')
    deps.log.info({ app: current.app, sub: current.sub }, 'back-channel logout ended an offline session')
    return deps.rechecks.forget(current.id, deps.offlineRecheckMs.length) // this one, and any an earlier logout left
  }
  const after = deps.offlineRecheckMs
  if (check.step + 1 >= after.length) return deps.rechecks.done(check)
  await deps.rechecks.next(check, Date.now() + after[check.step + 1] - after[check.step])
}

/**
 * Makes the offline rechecks that are due, whichever instance scheduled them, until `stopping`: each
 * is taken with a lease, so that the checks of an instance that dies are taken by another once it
 * runs out. A check that fails (Keycloak or Redis away) is made again then too.
 */
export async function runOfflineRechecks(deps: KeycloakLogoutDeps, pollMs = 250, leaseMs = 15_000): Promise<void> {
  // Said once when Redis stops answering, not at every poll; nothing before the first read (Redis is
  // still connecting at start-up, and the connection itself reports its trouble).
  let unreadable = true
  while (!deps.stopping.aborted) {
    try {
      for (const check of await deps.rechecks.claim(Date.now(), leaseMs, 50)) {
        await recheck(deps, check).catch((err: unknown) =>
          deps.log.warn({ error: errorFields(err) }, 'an offline session of a back-channel logout not checked yet'),
        )
      }
      unreadable = false
    } catch (err) {
      if (!unreadable) deps.log.warn({ error: errorFields(err) }, 'offline rechecks cannot be read; trying again')
      unreadable = true
    }
    await sleep(pollMs, undefined, { signal: deps.stopping, ref: false }).catch(() => undefined)
  }
}

/**
 * Back-channel logout: Keycloak says (in a logout token for the client of an app served here, one of
 * `clientIds`) that a user session ended. The token is checked in full and honoured once. Its online keyward sessions are forgotten at
 * once (Keycloak has ended them, so nothing is revoked there); offline ones end too when the token
 * says Keycloak revoked offline access, else when Keycloak, asked again, no longer honours them.
 * Every instance sees it: the records go from Redis, and the process caches hear of it from Redis;
 * the offline rechecks are kept in Redis too, for whichever instance is there when they are due.
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
    // An offline session an earlier logout left to check is ended now: nothing is left to ask.
    if (s.kind === 'offline') await deps.rechecks.forget(s.id, deps.offlineRecheckMs.length)
    deps.metrics.sessionEnded(s.app, s.kind, 'backchannel_logout')
  }
  const offline = sessions.filter((s) => !ended.includes(s))
  deps.log.info(
    { client: request.client, sub: request.sub, ended: ended.length, offlineToCheck: offline.length },
    'back-channel logout',
  )
  const dueAt = Date.now() + deps.offlineRecheckMs[0]
  for (const s of offline) await deps.rechecks.schedule({ sessionId: s.id, step: 0 }, dueAt)
}
