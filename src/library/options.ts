import type { Cluster, Redis } from 'ioredis'
import type { Logger } from 'pino'
import { appFromOptions } from '../config/apps'
import { ConfigError, engineConfig, parseOptions } from '../config/build'
import { optionNaming } from '../config/names'
import { oneAppSchema } from '../config/schema'
import type { Config } from '../config/types'

/**
 * An upstream API that {@link Keyward.proxy} calls with the user's access token.
 * @public
 */
export interface UpstreamOptions {
  /** Its base URL (http or https, no query); a proxied path goes below it. */
  url: string
  /** How long it may take to answer; `upstreamTimeoutSeconds` when left out. */
  timeoutSeconds?: number
  /** When set, it gets a token of its own: the session's, exchanged (RFC 8693) for one with only this audience. */
  audience?: string
  /** The scope asked for with `audience`. */
  scope?: string
  /** The methods passed on to it (in capitals); others are 405. Never TRACE or CONNECT. */
  methods?: string[]
}

/**
 * Where keyward's Redis is, as a URL or a topology, or the host application's own client.
 * @public
 */
export interface RedisConnectionOptions {
  /** One server: `redis://user:password@host:6379`, `rediss://` for TLS. Default `redis://127.0.0.1:6379`. */
  url?: string
  /** Sentinels that name the primary: `"host:port,host:port"` or `[{ host, port }]`. */
  sentinels?: string | { host: string; port: number }[]
  /** The primary's name in the Sentinels' configuration. Default `mymaster`. */
  sentinelMaster?: string
  sentinelUsername?: string
  sentinelPassword?: string
  /** Seed nodes of a Redis Cluster: `"host:port,host:port"` or `[{ host, port }]`. */
  clusterNodes?: string | { host: string; port: number }[]
  /** Credentials of the data nodes, with `sentinels` or `clusterNodes`. */
  username?: string
  password?: string
  /** TLS to the data nodes (and Sentinels), with `sentinels` or `clusterNodes`. */
  tls?: boolean
  /** A PEM file of the CAs Redis's certificate chains to. */
  tlsCaFile?: string
  /** How many replicas must have a session's write before keyward answers (Redis `WAIT`). Default 0. */
  waitReplicas?: number
  /** How long to wait for them. Default 100. */
  waitTimeoutMs?: number
  /** The prefix of every key keyward writes. Default `kw:`. */
  prefix?: string
  /** How long a process may reuse a session it read, told by Redis when it changes; 0 turns it off. Default 1000. */
  sessionCacheMs?: number
  /**
   * The application's own ioredis client or Cluster, instead of `url`, `sentinels` or `clusterNodes`.
   * keyward uses it and never closes it. Give it `enableOfflineQueue: false`, so calls fail at once
   * (503) while Redis is away instead of waiting.
   */
  client?: Redis | Cluster
}

/**
 * The options of {@link keyward}: one application, its Keycloak client, Redis and secrets. The same
 * settings, and the same checks, as the standalone server's environment variables (in brackets).
 * @public
 */
export interface KeywardOptions {
  /** The application's public origin, e.g. `https://app.example.com` (PUBLIC_URL). */
  publicUrl: string | URL
  /** The Keycloak realm and the application's client in it. */
  keycloak: {
    /** Keycloak's base URL, e.g. `https://sso.example.com` (KEYCLOAK_URL). */
    url: string | URL
    /** The realm (KEYCLOAK_REALM). */
    realm: string
    /** The application's confidential client (OIDC_CLIENT_ID). */
    clientId: string
    /** Its secret (OIDC_CLIENT_SECRET). */
    clientSecret: string
    /** During a secret rotation, the other one, tried when Keycloak refuses the first (OIDC_CLIENT_SECRET_NEXT). */
    nextClientSecret?: string
    /** Where keyward itself reaches Keycloak, when not at `url` (KEYCLOAK_BACKCHANNEL_URL). */
    backchannelUrl?: string | URL
    /** The scopes a login asks for. Default `openid profile email` (OIDC_SCOPES). */
    scopes?: string
    /** How long a call to Keycloak may take. Default 10 (OIDC_TIMEOUT_SECONDS). */
    timeoutSeconds?: number
  }
  /** The secrets: each a list, the first in use, the others still accepted (for a rotation). */
  secrets: {
    /** Sign the session cookie: 32 characters or more each (SESSION_SECRET). */
    session: string | string[]
    /** Encrypt tokens at rest: `kid:base64` of 32 random bytes each, e.g. `k1:$(openssl rand -base64 32)` (TOKEN_ENCRYPTION_KEYS). */
    tokenEncryptionKeys: string | string[]
  }
  /** Redis: a URL, where it is, or the application's own client. Default `redis://127.0.0.1:6379`. */
  redis?: string | RedisConnectionOptions
  /** Where keyward's routes are mounted (login, callback, logout, session…). Default `/auth`. */
  routes?: { prefix?: string }
  /** This application's id among keyward apps (sessions lists, metrics). Default `web` (APP_ID). */
  appId?: string
  /** Further origins whose pages may call this app with the user's cookie (ALLOWED_ORIGINS). */
  allowedOrigins?: string[]
  /** Where a mobile app's login may end: exact redirect URIs (MOBILE_REDIRECT_URIS). */
  mobileRedirectUris?: string[]
  /** Where the browser lands after logout, a path on `publicUrl`. Default `/` (POST_LOGOUT_PATH). */
  postLogoutPath?: string
  /** Where Keycloak reaches back-channel logout, when not on `publicUrl` (BACKCHANNEL_LOGOUT_URL). */
  backchannelLogoutUrl?: string | URL
  /** The session cookie: `__Host-<name>` on https. Defaults `keyward`, `lax` (COOKIE_NAME, COOKIE_SAMESITE). */
  cookie?: { name?: string; sameSite?: 'lax' | 'strict' }
  /** The upstream APIs {@link Keyward.proxy} may call, by name (UPSTREAMS). */
  upstreams?: Record<string, string | UpstreamOptions>
  /** How long an upstream may take to answer. Default 30 (UPSTREAM_TIMEOUT_SECONDS). */
  upstreamTimeoutSeconds?: number
  /** When to refresh, and how instances wait for each other's refresh (REFRESH_*). */
  refresh?: {
    /** Refresh when less than this is left of the access token. Default 30. */
    skewSeconds?: number
    /** …or less than this fraction of its lifetime, whichever is smaller. Default 0.25. */
    skewFraction?: number
    /** How long one instance holds a session's refresh lock. Default 15000. */
    lockTtlMs?: number
    /** How long a request waits for another instance's refresh. Default 5000. */
    waitMs?: number
    pollMs?: number
  }
  /** How long sessions and one-time codes live, and how many a user may have. */
  sessions?: {
    /** A login's time at Keycloak. Default 600 (LOGIN_TX_TTL_SECONDS). */
    loginTtlSeconds?: number
    mobileCodeTtlSeconds?: number
    handoffCodeTtlSeconds?: number
    /** A session's life when Keycloak gives none. Default 1800 (SESSION_FALLBACK_TTL_SECONDS). */
    fallbackTtlSeconds?: number
    /** The realm's Offline Session Idle. Default 2592000 (OFFLINE_SESSION_IDLE_SECONDS). */
    offlineIdleSeconds?: number
    /** The realm's SSO Session Idle, when a client's idle is longer (SSO_SESSION_IDLE_SECONDS). */
    ssoIdleSeconds?: number
    /** Sessions per user; the oldest ends. 0: no cap. Default 50 (MAX_SESSIONS_PER_USER). */
    maxPerUser?: number
    /** Sessions per Keycloak session. Default 10 (MAX_SESSIONS_PER_KEYCLOAK_SESSION). */
    maxPerKeycloakSession?: number
  }
  /** Logins one client address may start per minute; 0: no limit. Default 120 (LOGIN_RATE_LIMIT). */
  loginRateLimit?: number
  /** The client role an admin's token needs for the admin routes. Default `keyward-admin` (ADMIN_ROLE). */
  adminRole?: string
  /** Allow plain http to Keycloak and for a public URL that is not loopback: development only (DEV_ALLOW_HTTP). */
  devAllowHttp?: boolean
  /** Where keyward logs: a pino logger of the application's, or a level for its own (LOG_LEVEL). Default `info`. */
  logger?: Logger
  logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
}

const PREFIX = /^\/[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*$/

/**
 * The engine's configuration from the middleware's options: the server's schema and rules, each
 * problem named by the option's path (`keycloak.url: …`). Throws a `ConfigError` naming them all.
 */
export function configFromOptions(options: KeywardOptions): { config: Config; logger?: Logger } {
  const problems: string[] = []
  const { routes, logger, redis, ...rest } = options as KeywardOptions & Record<string, unknown>
  const prefix = routes?.prefix ?? '/auth'
  if (!PREFIX.test(prefix) || prefix.split('/').some((s) => s === '.' || s === '..')) {
    problems.push(`routes.prefix: a path such as /auth, without a slash at its end (got ${JSON.stringify(prefix)})`)
  }
  const raw = { ...rest, ...(redis === undefined ? {} : { redis: typeof redis === 'string' ? { url: redis } : redis }) }
  const parsed = parseOptions(oneAppSchema, raw, optionNaming, problems)
  if (!parsed) throw new ConfigError(problems)
  const rules = { devAllowHttp: parsed.devAllowHttp, upstreams: Object.keys(parsed.upstreams), naming: optionNaming }
  const app = appFromOptions(parsed, rules, problems, prefix)
  const config = engineConfig(parsed, [app], raw, optionNaming, problems)
  if (problems.length) throw new ConfigError(problems)
  return { config, logger }
}
