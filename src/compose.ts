import type { RequestListener } from 'node:http'
import type { Config } from './config/types'
import { callerOf } from './http/caller'
import { createHandler, type AppRoutesDeps } from './http/app'
import { createApiProxy } from './http/proxy/proxy'
import { forwardedOf } from './http/proxy/forwarded'
import { perClientLimit } from './http/rate-limit'
import { createLogger, type Logger } from './log'
import { noMetrics, type Metrics } from './domain/metrics'
import { createOidcClient, type OidcClient } from './oidc/client'
import { adminTokenVerifier } from './oidc/admin-token'
import { CLOCK_TOLERANCE_SECONDS, LOGOUT_TOKEN_MAX_AGE_SECONDS, logoutTokenVerifier } from './oidc/logout-token'
import { keysState, realmKeys } from './oidc/realm-keys'
import { observedOidcClient } from './oidc/observed'
import { serviceTokenVerifier } from './oidc/service-token'
import { healthRoutes } from './ops/health'
import { createHandoffPeer } from './peer/handoff-peer'
import type { Stoppable } from './ops/shutdown'
import type { HandoffDeps } from './sessions/handoff'
import type { KeycloakLogoutDeps } from './sessions/keycloak-logout'
import type { LoginDeps } from './sessions/login'
import type { SessionEndDeps } from './sessions/session-end'
import { createTokenService } from './sessions/token-service'
import { createCookieSessionStore } from './store/cookie-sessions'
import { createHandoffCodeStore } from './store/handoff-codes'
import { redisKeys } from './store/keys'
import { createLoginTransactionStore } from './store/login-transactions'
import { createLogoutTokenLog } from './store/logout-tokens'
import { createMobileCodeStore } from './store/mobile-codes'
import { createRateLimits } from './store/rate-limits'
import { observeRedisCommands, replicaWaiter } from './store/redis'
import { closeRedis, createRedis, redisState } from './store/topology'
import { createRefreshLocks } from './store/refresh-locks'
import { createSealer } from './store/seal'
import { createSessionCache } from './store/session-cache'
import { createTokenSessionStore } from './store/token-sessions'
import { createForwarder } from './upstream/forward'

export interface Composed extends Stoppable {
  /** keyward's request handler, for `http.createServer` (tests listen on port 0). */
  handler: RequestListener
  log: Logger
}

/** The composition root: builds every client and store once and wires them together. */
export function compose(
  config: Config,
  options: { log?: Logger; now?: () => number; metrics?: Metrics } = {},
): Composed {
  const log = options.log ?? createLogger(config.logLevel)
  const now = options.now ?? Date.now
  const metrics = options.metrics ?? noMetrics

  const { topology } = config.redis
  const redis = createRedis(topology, log, metrics)
  const unobserveRedis = metrics === noMetrics ? () => undefined : observeRedisCommands(metrics)
  const keys = redisKeys(config.redis.prefix)
  const sealer = createSealer(config.tokenKeys)
  // Not with a Redis Cluster: CLIENT TRACKING is per server (see README, "Redis topologies").
  const cache =
    config.redis.sessionCacheMs > 0 && topology.kind !== 'cluster'
      ? createSessionCache({
          topology,
          keyOf: keys.tokenSession,
          read: (connection, id) => tokenSessions.read(connection, id),
          maxAgeMs: config.redis.sessionCacheMs,
          maxEntries: 10_000,
          log,
          now,
        })
      : undefined
  const tokenSessions = createTokenSessionStore(redis, keys, sealer, {
    now,
    onChange: (id) => cache?.forget(id),
    replicated: replicaWaiter(redis, config.redis.replicas, log),
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
        clientSecret: app.clientSecret,
        nextClientSecret: app.nextClientSecret,
        timeoutSeconds: config.keycloak.timeoutSeconds,
        allowHttp: config.keycloak.allowHttp,
      },
      log.child({ app: app.id }),
    )
    client.start()
    oidcByApp.set(app.id, observedOidcClient(client, metrics))
  }
  // Each session talks to Keycloak as its own app's client; apps come from the same configuration.
  const oidcFor = (app: string): OidcClient => oidcByApp.get(app)!

  const tokens = createTokenService({
    tokenSessions,
    locks: createRefreshLocks(redis, keys, config.refresh.lockTtlMs),
    oidcFor,
    refresh: config.refresh,
    lifetimes: config.session.lifetimes,
    metrics,
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
  }
  const ends: SessionEndDeps = { tokenSessions, oidcFor, metrics, log }
  const appsById = new Map(config.apps.map((app) => [app.id, app]))
  const handoff: HandoffDeps = {
    handoffCodes: createHandoffCodeStore(redis, keys, config.session.handoffCodeTtlSeconds),
    tokenSessions,
    tokens,
    oidcFor,
    apps: appsById,
    peer: createHandoffPeer({
      credentialsOf: (app) => oidcFor(app).clientCredentials(),
      timeoutMs: config.keycloak.timeoutSeconds * 1000,
    }),
    codeTtlSeconds: config.session.handoffCodeTtlSeconds,
    lifetimes: config.session.lifetimes,
    caps: config.session.caps,
    metrics,
    log,
    now,
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
    offlineRecheckMs: [1000, 3000, 10_000],
    stopping: stopping.signal,
    metrics,
    log,
  }
  const adminOf = adminTokenVerifier(realm)
  const serviceClientOf = serviceTokenVerifier(realm)
  const apps: AppRoutesDeps[] = served.map((app) => ({
    app,
    apps: appsById,
    caller: callerOf({ app, secrets: config.session.secrets, sessions: callerSessions, now }),
    login,
    ends,
    handoff,
    serviceClientOf,
    adminOf,
    adminRole: config.adminRole,
    cookieSessionStore,
    secrets: config.session.secrets,
    loginTxTtlSeconds: config.session.loginTxTtlSeconds,
    admitLogin,
  }))

  const forwarder = createForwarder()
  const { host, clientIp } = forwardedOf(config.trustProxy)
  let isDraining = false
  const handler = createHandler({
    apps,
    apiProxy: createApiProxy({
      upstreams: config.upstreams,
      tokens,
      forwarder,
      clientIp,
      isDraining: () => isDraining,
      metrics,
      log,
      now,
    }),
    keycloakLogout,
    opsRoutes: healthRoutes({
      redis: () => redisState(redis, topology.kind),
      keycloak: () => [...oidcByApp.values()].every((client) => client.isReady()),
      jwks: () => keysState(realm.keys),
    }),
    trustProxy: config.trustProxy,
    hostOf: host,
    staticDir: config.staticDir,
    isDraining: () => isDraining,
    metrics,
    log,
  })

  return {
    handler,
    log,
    startDraining: () => {
      isDraining = true
    },
    async dispose() {
      stopping.abort()
      for (const client of oidcByApp.values()) client.stop()
      await tokens.idle() // each is bounded by the Keycloak timeout and the refresh lock's TTL
      await forwarder.close()
      await cache?.close()
      await closeRedis(redis)
      unobserveRedis()
    },
  }
}
