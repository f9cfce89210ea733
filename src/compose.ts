import type { Express } from 'express'
import { buildApp } from './app'
import type { Config } from './config/load'
import type { AppContext } from './http/context'
import { perClientLimit } from './http/rate-limit'
import { createLogger, errorFields, type Logger } from './log'
import { createOidcClient } from './oidc/client'
import { createCookieSessionStore } from './store/cookie-sessions'
import { redisKeys } from './store/keys'
import { createLoginTransactionStore } from './store/login-transactions'
import { createMobileCodeStore } from './store/mobile-codes'
import { createRateLimits } from './store/rate-limits'
import { createRedis, pingRedis } from './store/redis'
import { createSealer } from './store/seal'
import { createRefreshLocks } from './store/refresh-locks'
import { createTokenSessionStore } from './store/token-sessions'
import { createTokenService } from './tokens/token-service'
import { createForwarder } from './upstream/forward'

export interface Composed {
  app: Express
  log: Logger
  /** New requests get 503 from now on (graceful shutdown). */
  startDraining(): void
  /** Lets refreshes under way finish and store their tokens, then closes what `compose` opened. */
  dispose(): Promise<void>
}

/** The composition root: builds every client and store once and wires them into the app. */
export function compose(config: Config, options: { log?: Logger; now?: () => number } = {}): Composed {
  const log = options.log ?? createLogger(config.logLevel)
  const now = options.now ?? Date.now

  const redis = createRedis(config.redis.url)
  let lastRedisWarning = 0
  redis.on('error', (err: unknown) => {
    // ioredis reports every failed reconnect; one line per 10 s is enough to see an outage.
    if (Date.now() - lastRedisWarning < 10_000) return
    lastRedisWarning = Date.now()
    log.warn({ error: errorFields(err) }, 'Redis connection error')
  })
  redis.on('ready', () => log.info('Redis connected'))

  const keys = redisKeys(config.redis.prefix)
  const sealer = createSealer(config.tokenKeys)
  const tokenSessions = createTokenSessionStore(redis, keys, sealer, now)
  const loginTransactions = createLoginTransactionStore(redis, keys, config.session.loginTxTtlSeconds)
  const cookieSessionStore = createCookieSessionStore(redis, keys, now)

  const mobileCodes = createMobileCodeStore(redis, keys, sealer, config.session.mobileCodeTtlSeconds)

  const oidcByApp = new Map(
    config.apps.map((app) => [
      app.id,
      createOidcClient(
        {
          issuer: config.keycloak.issuer,
          keycloakUrl: config.keycloak.url,
          backchannelUrl: config.keycloak.backchannelUrl,
          clientId: app.clientId,
          clientSecret: app.clientSecret,
          timeoutSeconds: config.keycloak.timeoutSeconds,
          allowHttp: config.keycloak.allowHttp,
        },
        log.child({ app: app.id }),
      ),
    ]),
  )
  const oidcFor = (app: string) => {
    const client = oidcByApp.get(app)
    if (!client) throw new Error(`no OIDC client for app ${JSON.stringify(app)}`)
    return client
  }
  for (const client of oidcByApp.values()) client.start()

  const admitLogin = perClientLimit('login', config.loginsPerMinute, createRateLimits(redis, keys))
  const apps: AppContext[] = config.apps.map((app) => ({
    app,
    oidc: oidcFor(app.id),
    oidcFor,
    tokenSessions,
    loginTransactions,
    mobileCodes,
    loginTxTtlSeconds: config.session.loginTxTtlSeconds,
    admitLogin,
    lifetimes: config.session.lifetimes,
    log,
    now,
  }))
  const tokens = createTokenService({
    tokenSessions,
    locks: createRefreshLocks(redis, keys, config.refresh.lockTtlMs),
    oidcFor,
    refresh: config.refresh,
    lifetimes: config.session.lifetimes,
    log,
    now,
  })
  const forwarder = createForwarder()

  let isDraining = false
  const app = buildApp({
    apps,
    proxy: { upstreams: config.upstreams, tokens, forwarder },
    cookieSessionStore,
    sessionSecrets: config.session.secrets,
    trustProxy: config.trustProxy,
    staticDir: config.staticDir,
    readiness: { redis: () => pingRedis(redis), keycloak: () => [...oidcByApp.values()].every((client) => client.isReady()) },
    isDraining: () => isDraining,
    log,
  })

  return {
    app,
    log,
    startDraining: () => {
      isDraining = true
    },
    async dispose() {
      for (const client of oidcByApp.values()) client.stop()
      await tokens.idle() // each is bounded by the Keycloak timeout and the refresh lock's TTL
      await forwarder.close()
      await redis.quit().catch(() => redis.disconnect())
    },
  }
}
