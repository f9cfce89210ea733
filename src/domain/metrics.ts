import { Failure, type FailureKind } from './failures'

/**
 * What keyward counts as it works, said without Prometheus: the use cases, the Keycloak client and
 * the HTTP layer report through this, and ops/metrics.ts alone turns it into metrics. Every label
 * value is from a closed set (these types, the configured app and upstream names, Express's route
 * patterns): never a session, a user, a path or an address.
 */
export interface Metrics {
  /** An answer sent: the route that took it (a pattern, never the path) and its status, or `aborted`. */
  request(route: string, status: string, seconds: number): void
  /** An upstream's answer (to its headers), by status class (`2xx`…), or its failure's kind. */
  upstream(name: string, outcome: string, seconds: number): void
  /**
   * A refresh at Keycloak, its rotated tokens stored or not; `no_slot`, one that waited in vain for a
   * turn (the process had its most refreshes at Keycloak at once) and sent nothing.
   */
  refresh(outcome: Outcome | 'no_slot', seconds: number): void
  /** How many refreshes this process now lets run at Keycloak at once (fewer while Keycloak is slow). */
  refreshSlots(limit: number): void
  /** A refresh that found another instance holding the session's lock, and waited. */
  lockWait(outcome: LockWaitOutcome, seconds: number): void
  keycloakError(operation: KeycloakOperation, kind: FailedOutcome): void
  /** A token exchange: for a handoff (a refresh token), or for an upstream's own audience. */
  exchange(purpose: 'handoff' | 'upstream', outcome: Outcome): void
  sessionCreated(app: string, kind: SessionKind, via: 'browser_login' | 'mobile_login' | 'handoff'): void
  sessionEnded(app: string, kind: SessionKind, reason: SessionEndReason): void
  handoff(step: 'started' | 'completed' | 'redeemed_for_peer'): void
  backchannelLogout(outcome: 'honoured' | 'refused' | 'failed'): void
  /** A WebSocket through the proxy to upstream `name` opened. */
  websocketOpened(name: string): void
  /** A WebSocket through the proxy closed, and why. */
  websocketClosed(name: string, reason: WebSocketCloseReason): void
  /** For store/redis.ts: one command's round trip, by command name. */
  redisCommand(command: string, seconds: number): void
  /** For store/redis.ts: a connection or command error, by a kind of its own naming. */
  redisError(kind: string): void
}

/** The kind of the domain failure a call ended with, or `error` for anything else. */
export type FailedOutcome = FailureKind | 'error'
export type Outcome = 'ok' | FailedOutcome

export const outcomeOf = (err: unknown): FailedOutcome => (err instanceof Failure ? err.kind : 'error')

type SessionKind = 'online' | 'offline'

export type LockWaitOutcome = 'acquired' | 'refreshed_elsewhere' | 'session_ended' | 'timeout'

export type KeycloakOperation =
  'code' | 'refresh' | 'exchange' | 'client_credentials' | 'revoke' | 'introspect' | 'logout'

/**
 * Why a keyward session ended: its user logged out (or logged out elsewhere in the same Keycloak
 * session), revoked it, an admin did, a session cap, a new login in the same browser, Keycloak at a
 * refresh, or Keycloak's back-channel logout. A record that simply expires in Redis is not seen.
 */
export type SessionEndReason =
  'logout' | 'revoked' | 'admin' | 'session_cap' | 'replaced' | 'keycloak_ended' | 'backchannel_logout'

/**
 * Why a WebSocket through the proxy closed: either side closed it (or went away), its session ended,
 * its access token expired (an upstream with `onTokenExpiry: "close"`), no message for the idle
 * timeout, a message over the size limit, keyward shutting down.
 */
export type WebSocketCloseReason =
  'client' | 'upstream' | 'session_ended' | 'token_expired' | 'idle' | 'too_big' | 'shutting_down'

/** Metrics off (no METRICS_PORT), and for tests: every report goes nowhere. */
export const noMetrics: Metrics = {
  request: () => undefined,
  upstream: () => undefined,
  refresh: () => undefined,
  refreshSlots: () => undefined,
  lockWait: () => undefined,
  keycloakError: () => undefined,
  exchange: () => undefined,
  sessionCreated: () => undefined,
  sessionEnded: () => undefined,
  handoff: () => undefined,
  backchannelLogout: () => undefined,
  websocketOpened: () => undefined,
  websocketClosed: () => undefined,
  redisCommand: () => undefined,
  redisError: () => undefined,
}

/** Seconds since `startedMs` (a `performance.now()` or `Date.now()` reading, as `now` gives). */
export const secondsSince = (startedMs: number, now: () => number = () => performance.now()): number =>
  (now() - startedMs) / 1000
