import type { Lifetimes, RefreshSettings } from '../config/types'
import { setTimeout as sleep } from 'node:timers/promises'
import { Failure, isFailure, sessionEnded } from '../domain/failures'
import { freshness, lasts } from '../domain/freshness'
import { outcomeOf, secondsSince, type LockWaitOutcome, type Metrics } from '../domain/metrics'
import { refreshedTokenSession, type TokenSession, type UpstreamToken } from '../domain/token-session'
import { errorFields, type Logger } from '../log'
import type { OidcClient } from '../oidc/client'
import type { RefreshLocks } from '../store/refresh-locks'
import type { TokenSessionStore } from '../store/token-sessions'
import { NoRefreshSlot, refreshSlots } from './refresh-slots'
import { retryWhileStoreUnavailable } from '../store/retry'
import { singleFlight } from './single-flight'

/** What a refresh is for: `force`, refresh even a fresh token (an upstream refused it); a margin asked for. */
interface Need {
  force: boolean
  minValidityMs: number
}
const NO_NEED: Need = { force: false, minValidityMs: 0 }
/** Refreshes one process sends Keycloak at once at most (see `refreshSlots`): hundreds a second at their usual speed. */
const REFRESHES_IN_FLIGHT = 16

export interface TokenServiceDeps {
  tokenSessions: TokenSessionStore
  locks: RefreshLocks
  /** The OIDC client of the app a session belongs to: each session refreshes as its own client. */
  oidcFor: (app: string) => OidcClient
  refresh: RefreshSettings
  /** How long a call to Keycloak may take: a refresh must have its answer before its lock runs out. */
  keycloakTimeoutMs: number
  lifetimes: Lifetimes
  metrics: Pick<Metrics, 'refresh' | 'refreshSlots' | 'lockWait' | 'sessionEnded'>
  log: Logger
  now: () => number
}

/**
 * Keeps access tokens fresh, refreshing each token session at most once at a time across every
 * process: one pending refresh per session in a process (single flight), one across processes (a
 * Redis lock), and a version compare-and-set on the write. This is what keeps Keycloak's refresh
 * token rotation from seeing a token twice and ending the session.
 */
export function createTokenService(deps: TokenServiceDeps) {
  const flights = singleFlight<TokenSession>()
  const exchanges = singleFlight<UpstreamToken>()
  const slots = refreshSlots(
    {
      max: REFRESHES_IN_FLIGHT,
      // A quarter of the timeout: slow enough to be queueing at Keycloak, early enough to act before timeouts.
      slowMs: deps.keycloakTimeoutMs / 4,
      onLimit(limit) {
        deps.metrics.refreshSlots(limit)
        if (limit === REFRESHES_IN_FLIGHT) deps.log.info({ limit }, 'Keycloak answers refreshes quickly again')
        else deps.log.debug({ limit }, 'refreshes at Keycloak at once, adapted to its speed')
      },
    },
    deps.now,
  )
  deps.metrics.refreshSlots(REFRESHES_IN_FLIGHT)

  /**
   * Keycloak has rotated the refresh token, so the old one is spent: unless the new one is stored, the
   * session is lost. A Redis failure here is therefore retried, with backoff, for as long as this
   * instance holds the session's lock (`lockedUntil`), when no other instance can refresh it.
   */
  async function storeRotated(next: TokenSession, expectedVersion: number, lockedUntil: number): Promise<boolean> {
    try {
      return await retryWhileStoreUnavailable(
        () => deps.tokenSessions.replace(next, expectedVersion),
        lockedUntil,
        deps.now,
      )
    } catch (err) {
      deps.log.error(
        { app: next.app, sub: next.sub, error: errorFields(err) },
        'refreshed tokens could not be stored; the session ends at its next refresh unless Keycloak allows a refresh token reuse',
      )
      throw err
    }
  }

  /** Whether `s` needs no refresh for what is asked: not forced, fresh, and good for the margin asked for. */
  const goodEnough = (s: TokenSession, need: Need) =>
    !need.force && freshness(s, deps.now(), deps.refresh) === 'fresh' && lasts(s, deps.now(), need.minValidityMs)

  /** Refreshes unless someone already did; runs with the session's Redis lock held until `lockedUntil`. */
  async function refreshWithLock(seen: TokenSession, need: Need, lockedUntil: number): Promise<TokenSession> {
    // Another instance may have refreshed between our read and our lock: read again.
    const current = await deps.tokenSessions.get(seen.id)
    if (!current) throw sessionEnded()
    if (current.version !== seen.version) return current
    if (goodEnough(current, need)) return current
    const started = deps.now()
    try {
      const refreshed = await rotate(current, lockedUntil)
      deps.metrics.refresh('ok', secondsSince(started, deps.now))
      return refreshed
    } catch (err) {
      deps.metrics.refresh(err instanceof NoRefreshSlot ? 'no_slot' : outcomeOf(err), secondsSince(started, deps.now))
      throw err
    }
  }

  /** The refresh itself: Keycloak rotates the tokens, and the new ones are stored. */
  async function rotate(current: TokenSession, lockedUntil: number): Promise<TokenSession> {
    let grant
    try {
      const { refreshToken } = current.tokens
      if (!refreshToken) throw sessionEnded()
      // A slot is waited for only while the call's whole timeout still fits before the lock runs out.
      grant = await slots.run(
        () => deps.oidcFor(current.app).refresh(refreshToken, current.tokens.dpopKey),
        lockedUntil - deps.keycloakTimeoutMs,
      )
    } catch (err) {
      if (!isFailure(err, 'session_ended')) throw err
      await deps.tokenSessions.delete(current)
      deps.metrics.sessionEnded(current.app, current.kind, 'keycloak_ended')
      deps.log.info(
        { app: current.app, sub: current.sub, error: errorFields(err.cause ?? err) },
        'Keycloak ended the session at refresh',
      )
      throw err
    }
    const next = refreshedTokenSession(current, grant, deps.now(), deps.lifetimes)
    if (await storeRotated(next, current.version, lockedUntil)) return next
    // Another writer got there first (only possible once our lock had expired): theirs is newer.
    const stored = await deps.tokenSessions.get(current.id)
    if (!stored) throw sessionEnded()
    return stored
  }

  /** Takes the lock, or waits (bounded) for whoever holds it to store a newer version. */
  async function refreshAcrossInstances(seen: TokenSession, need: Need): Promise<TokenSession> {
    const deadline = deps.now() + deps.refresh.waitMs
    let waitingSince: number | undefined
    const waited = (outcome: LockWaitOutcome) => {
      if (waitingSince !== undefined) deps.metrics.lockWait(outcome, secondsSince(waitingSince, deps.now))
    }
    for (;;) {
      const fence = await deps.locks.acquire(seen.id)
      if (fence) {
        waited('acquired')
        const lockedUntil = deps.now() + deps.refresh.lockTtlMs
        try {
          return await refreshWithLock(seen, need, lockedUntil)
        } finally {
          // If this fails the lock simply expires; the refresh itself already succeeded or failed.
          await deps.locks.release(seen.id, fence).catch(() => undefined)
        }
      }
      waitingSince ??= deps.now()
      await sleep(deps.refresh.pollMs)
      const current = await deps.tokenSessions.get(seen.id)
      if (!current) {
        waited('session_ended')
        throw sessionEnded()
      }
      if (current.version !== seen.version) {
        waited('refreshed_elsewhere')
        return current
      }
      if (deps.now() >= deadline) {
        waited('timeout')
        throw new Failure('refresh_busy', 'The session is being refreshed elsewhere; retry shortly.')
      }
    }
  }

  /** One refresh of a session at a time in this process, per kind of need (a forced one, a margin asked for). */
  const refresh = (session: TokenSession, need: Need = NO_NEED) =>
    flights.run(`${session.id}${need.force ? '!' : ''}${need.minValidityMs || ''}`, () =>
      refreshAcrossInstances(session, need),
    )

  /**
   * An access token that is fresh, not merely still valid: one handed to Keycloak as a subject token
   * must outlast the exchange. A stale one waits for the (single) refresh.
   */
  async function freshAccessToken(session: TokenSession): Promise<string> {
    if (freshness(session, deps.now(), deps.refresh) === 'fresh') return session.tokens.accessToken
    return (await refresh(session)).tokens.accessToken
  }

  /**
   * The session with an access token good for a call. Fresh: as stored. Inside the refresh window:
   * as stored, with a refresh started in the background. Expired, or not good for `minValidityMs`
   * more (see `lasts`): after the refresh.
   */
  async function currentSession(session: TokenSession, minValidityMs = 0): Promise<TokenSession> {
    if (!lasts(session, deps.now(), minValidityMs)) return refresh(session, { force: false, minValidityMs })
    switch (freshness(session, deps.now(), deps.refresh)) {
      case 'fresh':
        return session
      case 'stale':
        refresh(session).catch((err: unknown) => {
          deps.log.warn({ app: session.app, sub: session.sub, error: errorFields(err) }, 'background refresh failed')
        })
        return session
      case 'expired':
        return refresh(session)
    }
  }

  return {
    currentSession,

    /** The access token of `currentSession`: what an upstream call carries. */
    async accessToken(session: TokenSession): Promise<string> {
      return (await currentSession(session)).tokens.accessToken
    },

    freshAccessToken,

    /**
     * The token for an upstream that wants its own audience: kept with the session while fresh, else
     * the session's fresh access token exchanged for one with only that audience (and scope), once at a
     * time in this process. (Across processes two may exchange at once: an exchange rotates nothing, so
     * the spare token is merely unused.) `force`: the upstream refused the one held.
     */
    async upstreamToken(
      session: TokenSession,
      name: string,
      want: { audience: string; scope?: string },
      force = false,
    ): Promise<UpstreamToken> {
      const held = session.upstreamTokens?.[name]
      const asSession = held && { accessExpiresAt: held.expiresAt, refreshedAt: held.obtainedAt }
      // One exchanged before the user last authenticated (a step-up) speaks of the old level.
      const current = held && held.obtainedAt >= Number(session.claims.auth_time ?? 0) * 1000
      if (!force && current && asSession && freshness(asSession, deps.now(), deps.refresh) === 'fresh') return held
      return exchanges.run(`${session.id} ${name}${force ? '!' : ''}`, async () => {
        const subject = await freshAccessToken(session)
        const obtainedAt = deps.now()
        // Bound, when the app binds tokens, to the session's key: one key proves every token of a session.
        const grant = await deps
          .oidcFor(session.app)
          .exchange(subject, { requested: 'access_token', ...want, dpopKey: session.tokens.dpopKey })
        const got: UpstreamToken = {
          accessToken: grant.accessToken,
          expiresAt: obtainedAt + grant.expiresIn * 1000,
          obtainedAt,
          ...(grant.dpopKey ? { dpopKey: grant.dpopKey } : {}),
        }
        await deps.tokenSessions.keepUpstreamToken(session.id, name, got).catch((err: unknown) => {
          // Not kept: the next request exchanges again. The token itself is good for this one.
          deps.log.warn({ app: session.app, upstream: name, error: errorFields(err) }, 'upstream token not kept')
        })
        return got
      })
    },

    /** Refreshes even a fresh token (an upstream refused it), unless another refresh got there first. */
    forceRefresh: (session: TokenSession): Promise<TokenSession> => refresh(session, { force: true, minValidityMs: 0 }),

    /**
     * Resolves once the refreshes under way have finished. Shutdown waits for this before closing
     * Redis: a background refresh whose rotated token is never stored would end its session.
     */
    idle: (): Promise<void> => flights.settled(),
  }
}

export type TokenService = ReturnType<typeof createTokenService>
