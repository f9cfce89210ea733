import { collectDefaultMetrics, Counter, Gauge, Histogram, type Registry } from 'prom-client'
import type { Metrics } from '../domain/metrics'

// Lock waits last up to REFRESH_WAIT_MS (5 s by default); Redis commands take well under a millisecond.
const LOCK_WAIT_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]
const REDIS_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]

/**
 * keyward's metrics, kept in `registry`, with Node's own (event-loop lag, heap, GC, CPU) under their
 * usual unprefixed names, which ready-made dashboards expect. A histogram's `_count` is its count of
 * events: refreshes and lock waits by outcome are counted there, not twice.
 */
export function createMetrics(registry: Registry): Metrics {
  collectDefaultMetrics({ register: registry })
  const registers = [registry]
  const counter = <L extends string>(name: string, help: string, labelNames: L[]) =>
    new Counter<L>({ name, help, labelNames, registers })
  const histogram = <L extends string>(name: string, help: string, labelNames: L[], buckets?: number[]) =>
    new Histogram<L>({ name, help, labelNames, registers, ...(buckets ? { buckets } : {}) })

  const requests = counter('keyward_http_requests_total', 'Answers sent, by route pattern and status.', [
    'route',
    'status',
  ])
  const requestSeconds = histogram('keyward_http_request_duration_seconds', 'Time to answer, by route pattern.', [
    'route',
  ])
  const upstreamSeconds = histogram(
    'keyward_upstream_request_duration_seconds',
    "Time to an upstream's answer headers, by upstream and status class or failure.",
    ['upstream', 'outcome'],
  )
  const refreshSeconds = histogram(
    'keyward_refresh_duration_seconds',
    'Refreshes at Keycloak (the rotated tokens stored), by outcome.',
    ['outcome'],
  )
  const refreshSlots = new Gauge({
    name: 'keyward_refresh_slots',
    help: 'Refreshes this process lets run at Keycloak at once: 16, fewer while Keycloak answers slowly.',
    registers,
  })
  const lockWaitSeconds = histogram(
    'keyward_refresh_lock_wait_seconds',
    "Waits for another instance's refresh of a session, by outcome (timeout: answered refresh_timeout).",
    ['outcome'],
    LOCK_WAIT_BUCKETS,
  )
  const keycloakErrors = counter('keyward_keycloak_errors_total', 'Failed calls to Keycloak, by operation and kind.', [
    'operation',
    'kind',
  ])
  const exchanges = counter('keyward_token_exchanges_total', 'Token exchanges at Keycloak, by purpose and outcome.', [
    'purpose',
    'outcome',
  ])
  const created = counter('keyward_sessions_created_total', 'keyward sessions created, by app, kind and how.', [
    'app',
    'kind',
    'via',
  ])
  const ended = counter('keyward_sessions_ended_total', 'keyward sessions ended, by app, kind and reason.', [
    'app',
    'kind',
    'reason',
  ])
  const handoffs = counter('keyward_handoffs_total', 'Handoffs between apps, by step.', ['step'])
  const backchannel = counter('keyward_backchannel_logouts_total', "Keycloak's back-channel logouts, by outcome.", [
    'outcome',
  ])
  const websocketsOpen = new Gauge({
    name: 'keyward_websockets_open',
    help: 'WebSockets open through the proxy now, by upstream.',
    labelNames: ['upstream'],
    registers,
  })
  const websocketCloses = counter('keyward_websocket_closes_total', 'WebSockets closed, by upstream and reason.', [
    'upstream',
    'reason',
  ])
  const redisSeconds = histogram(
    'keyward_redis_command_duration_seconds',
    'Redis round trips, by command.',
    ['command'],
    REDIS_BUCKETS,
  )
  const redisErrors = counter('keyward_redis_errors_total', 'Redis errors, by kind.', ['kind'])

  return {
    request(route, status, seconds) {
      requests.inc({ route, status })
      requestSeconds.observe({ route }, seconds)
    },
    upstream: (upstream, outcome, seconds) => upstreamSeconds.observe({ upstream, outcome }, seconds),
    refresh: (outcome, seconds) => refreshSeconds.observe({ outcome }, seconds),
    refreshSlots: (limit) => refreshSlots.set(limit),
    lockWait: (outcome, seconds) => lockWaitSeconds.observe({ outcome }, seconds),
    keycloakError: (operation, kind) => keycloakErrors.inc({ operation, kind }),
    exchange: (purpose, outcome) => exchanges.inc({ purpose, outcome }),
    sessionCreated: (app, kind, via) => created.inc({ app, kind, via }),
    sessionEnded: (app, kind, reason) => ended.inc({ app, kind, reason }),
    handoff: (step) => handoffs.inc({ step }),
    backchannelLogout: (outcome) => backchannel.inc({ outcome }),
    websocketOpened: (upstream) => websocketsOpen.inc({ upstream }),
    websocketClosed(upstream, reason) {
      websocketsOpen.dec({ upstream })
      websocketCloses.inc({ upstream, reason })
    },
    redisCommand: (command, seconds) => redisSeconds.observe({ command }, seconds),
    redisError: (kind) => redisErrors.inc({ kind }),
  }
}
