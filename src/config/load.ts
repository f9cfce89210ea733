import type { Lifetimes } from '../tokens/token-session'
import { envSchema, isLocalHttp, type Env } from './schema'

export interface CookieConfig {
  /** `__Host-<COOKIE_NAME>` on https; the bare name only for local http development. */
  name: string
  secure: boolean
  sameSite: 'lax' | 'strict'
}

/** One browser-facing application (an origin with its own Keycloak client). */
export interface AppConfig {
  id: string
  publicUrl: URL
  /** Origins allowed to send state-changing requests (CSRF defence), including `publicUrl`'s own. */
  allowedOrigins: ReadonlySet<string>
  clientId: string
  clientSecret: string
  scopes: string
  postLogoutPath: string
  cookie: CookieConfig
  /** Where a mobile login may send its one-time code: exact URIs (custom scheme or https). */
  mobileRedirectUris: ReadonlySet<string>
}

export interface UpstreamConfig {
  url: URL
  timeoutMs: number
}

export interface RefreshConfig {
  /** Refresh when less than this is left of the access token's lifetime… */
  skewSeconds: number
  /** …or less than this fraction of it, whichever is smaller (for very short tokens). */
  skewFraction: number
  /** How long one instance may hold a session's refresh lock; more than a Keycloak call may take. */
  lockTtlMs: number
  /** How long a request with an expired token waits for another instance's refresh. */
  waitMs: number
  pollMs: number
}

export interface Config {
  host: string
  port: number
  keycloak: { url: URL; realm: string; issuer: URL; backchannelUrl?: URL; timeoutSeconds: number; allowHttp: boolean }
  apps: AppConfig[]
  upstreams: ReadonlyMap<string, UpstreamConfig>
  refresh: RefreshConfig
  redis: { url: string; prefix: string }
  session: { secrets: string[]; lifetimes: Lifetimes; loginTxTtlSeconds: number; mobileCodeTtlSeconds: number }
  /** Logins a client address may start per minute (each stores a transaction for a while); 0 is no limit. */
  loginsPerMinute: number
  tokenKeys: { kid: string; key: Buffer }[]
  trustProxy: number | false
  staticDir?: string
  logLevel: Env['LOG_LEVEL']
  shutdownGraceSeconds: number
}

const SECRET_VARS = new Set(['OIDC_CLIENT_SECRET', 'SESSION_SECRET', 'TOKEN_ENCRYPTION_KEYS', 'REDIS_URL'])

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
    this.name = 'ConfigError'
  }
}

/** Reads and checks the environment; throws a `ConfigError` naming every wrong variable and a right value. */
export function loadConfig(env: NodeJS.ProcessEnv): Config {
  // An empty variable (`NAME=` in an env file) counts as unset.
  const parsed = envSchema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== '')))
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map((issue) => {
        const name = String(issue.path[0] ?? '')
        const given = env[name]
        const shown = given === undefined ? 'not set' : SECRET_VARS.has(name) ? 'set' : `got ${JSON.stringify(given)}`
        return `${name}: ${issue.message} (${shown})`
      }),
    )
  }
  const e = parsed.data
  const problems: string[] = []
  const keycloakUrl = new URL(e.KEYCLOAK_URL.replace(/\/+$/, ''))
  if (keycloakUrl.protocol !== 'https:' && !e.DEV_ALLOW_HTTP) {
    problems.push(`KEYCLOAK_URL: must be https; plain http only with DEV_ALLOW_HTTP=true (got ${JSON.stringify(e.KEYCLOAK_URL)})`)
  }
  if (e.KEYCLOAK_BACKCHANNEL_URL && new URL(e.KEYCLOAK_BACKCHANNEL_URL).protocol !== 'https:' && !e.DEV_ALLOW_HTTP) {
    problems.push(`KEYCLOAK_BACKCHANNEL_URL: must be https; plain http only with DEV_ALLOW_HTTP=true (got ${JSON.stringify(e.KEYCLOAK_BACKCHANNEL_URL)})`)
  }
  if (e.PUBLIC_URL.protocol !== 'https:' && !isLocalHttp(e.PUBLIC_URL) && !e.DEV_ALLOW_HTTP) {
    problems.push(`PUBLIC_URL: must be https unless it is http://localhost or http://127.0.0.1 (got ${JSON.stringify(e.PUBLIC_URL.origin)})`)
  }
  const extraOrigins = e.ALLOWED_ORIGINS.split(',').map((o) => o.trim()).filter(Boolean)
  for (const o of extraOrigins) {
    if (!URL.canParse(o) || new URL(o).origin !== o) {
      problems.push(`ALLOWED_ORIGINS: comma-separated origins such as https://app.example.com (got ${JSON.stringify(o)})`)
    } else if (new URL(o).protocol !== 'https:' && !isLocalHttp(new URL(o)) && !e.DEV_ALLOW_HTTP) {
      // These origins read answers with the user's cookie: a page served over plain http must not.
      problems.push(`ALLOWED_ORIGINS: must be https unless on localhost or with DEV_ALLOW_HTTP=true (got ${JSON.stringify(o)})`)
    }
  }
  const mobileRedirectUris = e.MOBILE_REDIRECT_URIS.split(',').map((u) => u.trim()).filter(Boolean)
  for (const u of mobileRedirectUris) {
    const url = URL.canParse(u) ? new URL(u) : undefined
    if (!url || url.hash || ['javascript:', 'data:', 'file:'].includes(url.protocol) || (url.protocol === 'http:' && !isLocalHttp(url))) {
      problems.push(`MOBILE_REDIRECT_URIS: comma-separated app URIs such as com.example.app:/auth or https://app.example.com/mobile (got ${JSON.stringify(u)})`)
    }
  }
  if (e.REFRESH_LOCK_TTL_MS <= e.OIDC_TIMEOUT_SECONDS * 1000) {
    problems.push(
      `REFRESH_LOCK_TTL_MS: must exceed OIDC_TIMEOUT_SECONDS (${e.OIDC_TIMEOUT_SECONDS} s), so a refresh times out before its lock does; e.g. ${e.OIDC_TIMEOUT_SECONDS * 1000 + 5000} (got ${e.REFRESH_LOCK_TTL_MS})`,
    )
  }
  if (e.SHUTDOWN_GRACE_SECONDS * 1000 <= e.REFRESH_LOCK_TTL_MS) {
    problems.push(
      `SHUTDOWN_GRACE_SECONDS: must exceed REFRESH_LOCK_TTL_MS (${e.REFRESH_LOCK_TTL_MS} ms), so a refresh under way at shutdown can store its tokens; e.g. ${Math.ceil(e.REFRESH_LOCK_TTL_MS / 1000) + 5} (got ${e.SHUTDOWN_GRACE_SECONDS})`,
    )
  }
  if (problems.length) throw new ConfigError(problems)

  const secure = e.PUBLIC_URL.protocol === 'https:'
  const app: AppConfig = {
    id: e.APP_ID,
    publicUrl: e.PUBLIC_URL,
    allowedOrigins: new Set([e.PUBLIC_URL.origin, ...extraOrigins]),
    clientId: e.OIDC_CLIENT_ID,
    clientSecret: e.OIDC_CLIENT_SECRET,
    scopes: e.OIDC_SCOPES,
    postLogoutPath: e.POST_LOGOUT_PATH,
    cookie: {
      name: secure ? `__Host-${e.COOKIE_NAME}` : e.COOKIE_NAME,
      secure,
      sameSite: e.COOKIE_SAMESITE,
    },
    mobileRedirectUris: new Set(mobileRedirectUris),
  }
  return {
    host: e.HOST,
    port: e.PORT,
    keycloak: {
      url: keycloakUrl,
      realm: e.KEYCLOAK_REALM,
      issuer: new URL(`${keycloakUrl.href.replace(/\/$/, '')}/realms/${encodeURIComponent(e.KEYCLOAK_REALM)}`),
      backchannelUrl: e.KEYCLOAK_BACKCHANNEL_URL ? new URL(e.KEYCLOAK_BACKCHANNEL_URL) : undefined,
      timeoutSeconds: e.OIDC_TIMEOUT_SECONDS,
      allowHttp: e.DEV_ALLOW_HTTP,
    },
    apps: [app],
    upstreams: new Map(
      Object.entries(e.UPSTREAMS).map(([name, u]) => [
        name,
        { url: new URL(u.url), timeoutMs: ('timeoutSeconds' in u && u.timeoutSeconds ? u.timeoutSeconds : e.UPSTREAM_TIMEOUT_SECONDS) * 1000 },
      ]),
    ),
    refresh: {
      skewSeconds: e.REFRESH_SKEW_SECONDS,
      skewFraction: e.REFRESH_SKEW_FRACTION,
      lockTtlMs: e.REFRESH_LOCK_TTL_MS,
      waitMs: e.REFRESH_WAIT_MS,
      pollMs: e.REFRESH_POLL_MS,
    },
    redis: { url: e.REDIS_URL, prefix: e.REDIS_PREFIX },
    session: {
      secrets: e.SESSION_SECRET,
      lifetimes: { onlineFallbackSeconds: e.SESSION_FALLBACK_TTL_SECONDS, offlineIdleSeconds: e.OFFLINE_SESSION_IDLE_SECONDS },
      loginTxTtlSeconds: e.LOGIN_TX_TTL_SECONDS,
      mobileCodeTtlSeconds: e.MOBILE_CODE_TTL_SECONDS,
    },
    loginsPerMinute: e.LOGIN_RATE_LIMIT,
    tokenKeys: e.TOKEN_ENCRYPTION_KEYS,
    trustProxy: e.TRUST_PROXY === 'false' ? false : Number(e.TRUST_PROXY),
    staticDir: e.STATIC_DIR,
    logLevel: e.LOG_LEVEL,
    shutdownGraceSeconds: e.SHUTDOWN_GRACE_SECONDS,
  }
}
