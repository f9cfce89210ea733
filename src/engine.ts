/**
 * keyward's engine, built once from a `Config`: Redis and its stores, one Keycloak client per app, the
 * refresh engine and the use cases, and what each app's routes are made of. The standalone server
 * (server/compose.ts) and the middleware (`keyward()`, library/keyward.ts) are both built on it: one
 * implementation, whichever way keyward runs.
 */
import type { Redis } from 'ioredis'
import type { AppConfig, Config, RedisTopology } from './config/types'
import type { LoginHook } from './domain/login'
import { noMetrics, type Metrics } from './domain/metrics'
import { sessionWatch, type SessionWatch } from './sessions/session-watch'
import { callerOf } from './http/caller'
import type { AppRoutesDeps } from './http/routes'
import { perClientLimit } from './http/rate-limit'
import { createLogger, type Logger } from './log'
import { adminTokenVerifier } from './oidc/admin-token'
import { createOidcClient, type OidcClient } from './oidc/client'
import { CLOCK_TOLERANCE_SECONDS, LOGOUT_TOKEN_MAX_AGE_SECONDS, logoutTokenVerifier } from './oidc/logout-token'
import { observedOidcClient } from './oidc/observed'
import { keysState, realmKeys } from './oidc/realm-keys'
import { serviceTokenVerifier } from './oidc/service-token'
import { createHandoffPeer } from './peer/handoff-peer'
import type { HandoffDeps } from './sessions/handoff'
import { runOfflineRechecks, type KeycloakLogoutDeps } from './sessions/keycloak-logout'
import type { LoginDeps } from './sessions/login'
import type { SessionEndDeps } from './sessions/session-end'
import { createSharedIdle } from './sessions/shared-idle'
import { createClientTokens, type ClientTokens } from './sessions/client-tokens'
import { createTokenService, type TokenService } from './sessions/token-service'
import { createClientTokenStore } from './store/client-tokens'
import { createCookieSessionStore } from './store/cookie-sessions'
import { createHandoffCodeStore } from './store/handoff-codes'
import { redisKeys } from './store/keys'
import { createLoginTransactionStore } from './store/login-transactions'
import { createLogoutTokenLog } from './store/logout-tokens'
import { createMobileCodeStore } from './store/mobile-codes'
import { createOfflineRecheckStore } from './store/offline-rechecks'
import { createRateLimits } from './store/rate-limits'
import { observeRedisCommands } from './store/redis'
import { replicaWaiter } from './store/replica-wait'
import { createRefreshLocks } from './store/refresh-locks'
import { createSealer } from './store/seal'
import { createSessionCache } from './store/session-cache'
import { createTokenSessionStore } from './store/token-sessions'
import {
  closeRedis,
  createRedis,
  openServer,
  redisState,
  topologyOf,
  watchRedis,
  type RedisClient,
} from './store/topology'
import { createForwarder, type Forwarder } from './upstream/forward'

/** What the engine's readiness is made of: Redis, Keycloak discovery of every app, the realm's keys. */
export interface Readiness {
  redis: () => ReturnType<typeof redisState>
  keycloak: () => boolean
  jwks: () => ReturnType<typeof keysState>
}

export interface Engine {
  config: Config
  log: Logger
  metrics: Metrics
  /** What each app keyward serves (not another deployment's) is made of, in the configuration's order. */
  apps: AppRoutesDeps[]
  tokens: TokenService
  /** Each app's own client-credentials token. */
  clientTokens: ClientTokens
  keycloakLogout: KeycloakLogoutDeps
  forwarder: Forwarder
  /** Tells when sessions end, wherever they end: what closes their WebSockets. */
  watch: SessionWatch
  readiness: Readiness
  /** Lets the refreshes under way finish, then closes what the engine opened (never a client it was given). */
  dispose(): Promise<void>
}

/** Where the session cache's own connections come from, when it can have them (not with a Cluster). */
function cacheConnections(topology: RedisTopology | undefined, given: RedisClient | undefined) {
  if (given) return topologyOf(given) === 'cluster' ? undefined : (extra = {}) => (given as Redis).duplicate(extra)
  if (!topology || topology.kind === 'cluster') return undefined
  return (extra = {}) => openServer(topology, extra)
}

export function createEngine(
  config: Config,
  options: { log?: Logger; now?: () => number; metrics?: Metrics; onLogin?: LoginHook } = {},
): Engine {
  const log = options.log ?? createLogger(config.logLevel)
  const now = options.now ?? Date.now
  const metrics = options.metrics ?? noMetrics

  const given = config.redis.client
  const redis = given ?? createRedis(config.redis.topology!, log, metrics)
  const unwatchGiven = given ? watchRedis(given, log, metrics) : () => undefined
  const unobserveRedis = metrics === noMetrics ? () => undefined : observeRedisCommands(metrics)
  const keys = redisKeys(config.redis.prefix)
  const sealer = createSealer(config.tokenKeys)
  const open = cacheConnections(config.redis.topology, given)
  const cache =
    config.redis.sessionCacheMs > 0 && open
      ? createSessionCache({
          open,
          keyOf: keys.tokenSession,
          read: (connection, id) => tokenSessions.read(connection, id),
          direct: redis,
          maxAgeMs: config.redis.sessionCacheMs,
          maxEntries: 10_000,
          log,
          now,
        })
      : undefined
  const replicas = replicaWaiter(redis, config.redis.replicas, log)
  const tokenSessions = createTokenSessionStore(redis, keys, sealer, {
    now,
    onChange: (id) => cache?.forget(id),
    durably: replicas.durably,
    granted: createSharedIdle({ tokenSessions: () => tokenSessions, log }),
  })
  // Callers are found through the cache; the refresh engine and the use cases always read Redis.
  const callerSessions = {
    get: (id: string) => (cache ? cache.get(id) : tokenSessions.get(id)),
    noteCookieExpiry: (id: string, at: number) => tokenSessions.noteCookieExpiry(id, at),
  }
  const rateLimits = createRateLimits(redis, keys)

  // Apps another deployment serves take part in handoffs only: no client, routes or cookie here.
  const served = config.apps.filter((app) => !app.remote)
  const oidcByApp = new Map<string, OidcClient>()
  for (const app of served) {
    const client = createOidcClient(
      {
        issuer: config.keycloak.issuer,
        keycloakUrl: config.keycloak.url,
        backchannelUrl: config.keycloak.backchannelUrl,
        clientId: app.clientId,
        credentials:
          app.clientAuth === 'private_key_jwt'
            ? { keys: app.clientKeys }
            : { secrets: [app.clientSecret, ...(app.nextClientSecret ? [app.nextClientSecret] : [])] },
        timeoutSeconds: config.keycloak.timeoutSeconds,
        allowHttp: config.keycloak.allowHttp,
        par: app.par,
        dpop: app.dpop,
      },
      log.child({ app: app.id }),
    )
    client.start()
    oidcByApp.set(app.id, observedOidcClient(client, metrics))
  }
  // Each session talks to Keycloak as its own app's client; apps come from the same configuration.
  const oidcFor = (app: string): OidcClient => oidcByApp.get(app)!

  const locks = createRefreshLocks(redis, keys, config.refresh.lockTtlMs)
  const tokens = createTokenService({
    tokenSessions,
    locks,
    oidcFor,
    refresh: config.refresh,
    keycloakTimeoutMs: config.keycloak.timeoutSeconds * 1000,
    lifetimes: config.session.lifetimes,
    metrics,
    log,
    now,
  })
  const clientTokens = createClientTokens({
    store: createClientTokenStore(redis, keys, sealer),
    locks,
    oidcFor,
    refresh: config.refresh,
    log,
    now,
  })
  const login: LoginDeps = {
    loginTransactions: createLoginTransactionStore(redis, keys, config.session.loginTxTtlSeconds),
    mobileCodes: createMobileCodeStore(redis, keys, sealer, config.session.mobileCodeTtlSeconds),
    tokenSessions,
    oidcFor,
    lifetimes: config.session.lifetimes,
    caps: config.session.caps,
    metrics,
    log,
    now,
    onLogin: options.onLogin,
  }
  const ends: SessionEndDeps = { tokenSessions, oidcFor, metrics, log }
  const appsById = new Map<string, AppConfig>(config.apps.map((app) => [app.id, app]))
  const handoff: HandoffDeps = {
    handoffCodes: createHandoffCodeStore(redis, keys, config.session.handoffCodeTtlSeconds),
    tokenSessions,
    tokens,
    oidcFor,
    apps: appsById,
    peer: createHandoffPeer({
      credentialsOf: async (app) => (await clientTokens.token(app)).accessToken,
      timeoutMs: config.keycloak.timeoutSeconds * 1000,
    }),
    codeTtlSeconds: config.session.handoffCodeTtlSeconds,
    lifetimes: config.session.lifetimes,
    caps: config.session.caps,
    metrics,
    log,
    now,
    onLogin: options.onLogin,
  }
  const cookieSessionStore = createCookieSessionStore(redis, keys, now)
  const admitLogin = perClientLimit('login', config.loginsPerMinute, (name, windowMs) => rateLimits.hit(name, windowMs))
  const keycloakBase = (config.keycloak.backchannelUrl ?? config.keycloak.url).href.replace(/\/$/, '')
  const realm = {
    issuer: config.keycloak.issuer,
    keys: realmKeys({
      jwksUrl: new URL(
        `${keycloakBase}/realms/${encodeURIComponent(config.keycloak.realm)}/protocol/openid-connect/certs`,
      ),
      timeoutSeconds: config.keycloak.timeoutSeconds,
    }),
  }
  const stopping = new AbortController()
  const keycloakLogout: KeycloakLogoutDeps = {
    verify: logoutTokenVerifier(realm),
    // A token is refused once its age passes the window, so its jti need not be kept any longer.
    seen: createLogoutTokenLog(redis, keys, LOGOUT_TOKEN_MAX_AGE_SECONDS + 2 * CLOCK_TOLERANCE_SECONDS),
    issuer: config.keycloak.issuer,
    tokenSessions,
    oidcFor,
    serves: (app) => oidcByApp.has(app),
    offlineRecheckMs: [1000, 3000, 10_000],
    rechecks: createOfflineRecheckStore(redis, keys),
    stopping: stopping.signal,
    metrics,
    log,
  }
  const rechecking = runOfflineRechecks(keycloakLogout)
  const adminOf = adminTokenVerifier(realm)
  const serviceClientOf = serviceTokenVerifier(realm)
  const apps: AppRoutesDeps[] = served.map((app) => ({
    app,
    apps: appsById,
    caller: callerOf({ app, secrets: config.session.secrets, sessions: callerSessions, now }),
    login,
    ends,
    handoff,
    keycloakLogout,
    serviceClientOf,
    adminOf,
    adminRole: config.adminRole,
    cookieSessionStore,
    secrets: config.session.secrets,
    loginTxTtlSeconds: config.session.loginTxTtlSeconds,
    admitLogin,
  }))
  const forwarder = createForwarder()
  // Twice a second: a WebSocket is closed within a second of its session's end.
  const watch = sessionWatch({ existing: (ids) => tokenSessions.existing(ids), intervalMs: 500, log })

  return {
    config,
    log,
    metrics,
    apps,
    tokens,
    clientTokens,
    keycloakLogout,
    forwarder,
    watch,
    readiness: {
      redis: () => redisState(redis, topologyOf(redis)),
      keycloak: () => [...oidcByApp.values()].every((client) => client.isReady()),
      jwks: () => keysState(realm.keys),
    },
    async dispose() {
      stopping.abort()
      watch.stop()
      await rechecking // a check under way finishes; the loop sleeps no longer
      for (const client of oidcByApp.values()) client.stop()
      await tokens.idle() // each is bounded by the Keycloak timeout and the refresh lock's TTL
      await forwarder.close()
      await cache?.close()
      replicas.close()
      if (given) unwatchGiven()
      else await closeRedis(redis)
      unobserveRedis()
    },
  }
}
