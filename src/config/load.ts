import type { z } from 'zod'
import { appsFromFile } from './app-file'
import { appFromEnv } from './apps'
import { httpsRule } from './checks'
import { redisTopologyFrom } from './redis'
import { APP_VARIABLES, appEnvSchema, envSchema, type Env } from './schema'
import type { AppConfig, Config, KeycloakConfig, UpstreamConfig } from './types'

export type { AppConfig, Config, CookieConfig, UpstreamConfig } from './types'

const SECRET_VARS = new Set([
  'OIDC_CLIENT_SECRET',
  'OIDC_CLIENT_SECRET_NEXT',
  'SESSION_SECRET',
  'TOKEN_ENCRYPTION_KEYS',
  'REDIS_URL',
  'REDIS_PASSWORD',
  'REDIS_SENTINEL_PASSWORD',
])

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
    this.name = 'ConfigError'
  }
}

/**
 * The environment checked against `schema`; each wrong variable is added to `problems`, named with
 * what a right value looks like. An empty variable (`NAME=` in an env file) counts as unset.
 */
function parseEnv<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv, problems: string[]): z.infer<S> | undefined {
  const parsed = schema.safeParse(Object.fromEntries(Object.entries(env).filter(([, v]) => v !== '')))
  if (parsed.success) return parsed.data
  problems.push(
    ...parsed.error.issues.map((issue) => {
      const name = String(issue.path[0] ?? '')
      const given = env[name]
      const shown = given === undefined ? 'not set' : SECRET_VARS.has(name) ? 'set' : `got ${JSON.stringify(given)}`
      return `${name}: ${issue.message} (${shown})`
    }),
  )
  return undefined
}

/** The apps: from the KEYWARD_CONFIG file when there is one, else the one app of the environment. */
function appsFrom(e: Env, env: NodeJS.ProcessEnv, problems: string[]): AppConfig[] {
  const rules = { devAllowHttp: e.DEV_ALLOW_HTTP, upstreams: Object.keys(e.UPSTREAMS) }
  if (!e.KEYWARD_CONFIG) {
    const appEnv = parseEnv(appEnvSchema, env, problems)
    return appEnv ? [appFromEnv(appEnv, rules, problems)] : []
  }
  for (const name of APP_VARIABLES.filter((v) => env[v])) {
    problems.push(`${name}: with KEYWARD_CONFIG, each app's settings are in that file; unset ${name}`)
  }
  return appsFromFile(e.KEYWARD_CONFIG, env, rules, problems)
}

function keycloakFrom(e: Env, problems: string[]): KeycloakConfig {
  const url = new URL(e.KEYCLOAK_URL.replace(/\/+$/, ''))
  problems.push(...httpsRule('KEYCLOAK_URL', e.KEYCLOAK_URL, url.protocol === 'https:' || e.DEV_ALLOW_HTTP))
  const backchannelUrl = e.KEYCLOAK_BACKCHANNEL_URL ? new URL(e.KEYCLOAK_BACKCHANNEL_URL) : undefined
  if (backchannelUrl) {
    const ok = backchannelUrl.protocol === 'https:' || e.DEV_ALLOW_HTTP
    problems.push(...httpsRule('KEYCLOAK_BACKCHANNEL_URL', e.KEYCLOAK_BACKCHANNEL_URL!, ok))
  }
  return {
    url,
    realm: e.KEYCLOAK_REALM,
    issuer: new URL(`${url.href.replace(/\/$/, '')}/realms/${encodeURIComponent(e.KEYCLOAK_REALM)}`),
    backchannelUrl,
    timeoutSeconds: e.OIDC_TIMEOUT_SECONDS,
    allowHttp: e.DEV_ALLOW_HTTP,
  }
}

/** Rules between variables: each timeout must outlast what it waits for. */
function timingProblems(e: Env): string[] {
  const problems: string[] = []
  if (e.REFRESH_LOCK_TTL_MS <= e.OIDC_TIMEOUT_SECONDS * 1000) {
    problems.push(
      `REFRESH_LOCK_TTL_MS: must exceed OIDC_TIMEOUT_SECONDS (${e.OIDC_TIMEOUT_SECONDS} s), so a refresh times out ` +
        `before its lock does; e.g. ${e.OIDC_TIMEOUT_SECONDS * 1000 + 5000} (got ${e.REFRESH_LOCK_TTL_MS})`,
    )
  }
  if (e.HTTP_HEADERS_TIMEOUT_SECONDS > e.HTTP_REQUEST_TIMEOUT_SECONDS) {
    problems.push(
      `HTTP_HEADERS_TIMEOUT_SECONDS: the headers come with the request, so at most HTTP_REQUEST_TIMEOUT_SECONDS ` +
        `(${e.HTTP_REQUEST_TIMEOUT_SECONDS}) (got ${e.HTTP_HEADERS_TIMEOUT_SECONDS})`,
    )
  }
  if (e.SHUTDOWN_GRACE_SECONDS * 1000 <= e.REFRESH_LOCK_TTL_MS) {
    problems.push(
      `SHUTDOWN_GRACE_SECONDS: must exceed REFRESH_LOCK_TTL_MS (${e.REFRESH_LOCK_TTL_MS} ms), so a refresh under way ` +
        `at shutdown can store its tokens; e.g. ${Math.ceil(e.REFRESH_LOCK_TTL_MS / 1000) + 5} (got ${e.SHUTDOWN_GRACE_SECONDS})`,
    )
  }
  return problems
}

/** What an API call may use unless its upstream says otherwise: never TRACE, which echoes the token. */
const DEFAULT_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']

const upstreamsFrom = (e: Env): ReadonlyMap<string, UpstreamConfig> =>
  new Map(
    Object.entries(e.UPSTREAMS).map(([name, u]) => {
      const seconds = 'timeoutSeconds' in u && u.timeoutSeconds ? u.timeoutSeconds : e.UPSTREAM_TIMEOUT_SECONDS
      const exchange = 'audience' in u && u.audience ? { audience: u.audience, scope: u.scope } : undefined
      const methods = new Set('methods' in u && u.methods ? u.methods : DEFAULT_METHODS)
      return [name, { url: new URL(u.url), timeoutMs: seconds * 1000, exchange, methods }]
    }),
  )

/** The metrics listener, which must never be the app's. */
function metricsFrom(e: Env, problems: string[]): Config['metrics'] {
  if (e.METRICS_PORT === undefined) return undefined
  if (e.METRICS_PORT === e.PORT) {
    problems.push(
      `METRICS_PORT: must differ from PORT, so metrics never reach the app's listener (got ${e.METRICS_PORT})`,
    )
  }
  return { host: e.METRICS_HOST, port: e.METRICS_PORT }
}

/** Reads and checks the environment (and the KEYWARD_CONFIG file); throws a `ConfigError` naming every wrong variable and a right value. */
export function loadConfig(env: NodeJS.ProcessEnv): Config {
  const problems: string[] = []
  const e = parseEnv(envSchema, env, problems)
  if (!e) {
    if (!env.KEYWARD_CONFIG) parseEnv(appEnvSchema, env, problems) // one run names every wrong variable
    throw new ConfigError(problems)
  }
  const keycloak = keycloakFrom(e, problems)
  const apps = appsFrom(e, env, problems)
  const topology = redisTopologyFrom(e, env, problems)
  problems.push(...timingProblems(e))
  const metrics = metricsFrom(e, problems)
  if (problems.length) throw new ConfigError(problems)
  return {
    host: e.HOST,
    port: e.PORT,
    workers: e.WORKERS,
    trustProxy: e.TRUST_PROXY === 'false' ? false : Number(e.TRUST_PROXY),
    staticDir: e.STATIC_DIR,
    shutdownGraceSeconds: e.SHUTDOWN_GRACE_SECONDS,
    http: {
      headersTimeoutMs: e.HTTP_HEADERS_TIMEOUT_SECONDS * 1000,
      requestTimeoutMs: e.HTTP_REQUEST_TIMEOUT_SECONDS * 1000,
      maxHeaderBytes: e.HTTP_MAX_HEADER_BYTES,
      maxConnections: e.HTTP_MAX_CONNECTIONS,
    },
    keycloak,
    apps,
    upstreams: upstreamsFrom(e),
    refresh: {
      skewSeconds: e.REFRESH_SKEW_SECONDS,
      skewFraction: e.REFRESH_SKEW_FRACTION,
      lockTtlMs: e.REFRESH_LOCK_TTL_MS,
      waitMs: e.REFRESH_WAIT_MS,
      pollMs: e.REFRESH_POLL_MS,
    },
    redis: {
      topology,
      prefix: e.REDIS_PREFIX,
      sessionCacheMs: e.SESSION_CACHE_MS,
      replicas: { count: e.REDIS_WAIT_REPLICAS, timeoutMs: e.REDIS_WAIT_TIMEOUT_MS },
    },
    session: {
      secrets: e.SESSION_SECRET,
      lifetimes: {
        onlineFallbackSeconds: e.SESSION_FALLBACK_TTL_SECONDS,
        offlineIdleSeconds: e.OFFLINE_SESSION_IDLE_SECONDS,
        onlineIdleSeconds: e.SSO_SESSION_IDLE_SECONDS,
      },
      loginTxTtlSeconds: e.LOGIN_TX_TTL_SECONDS,
      mobileCodeTtlSeconds: e.MOBILE_CODE_TTL_SECONDS,
      handoffCodeTtlSeconds: e.HANDOFF_CODE_TTL_SECONDS,
      caps: { perUser: e.MAX_SESSIONS_PER_USER, perKeycloakSession: e.MAX_SESSIONS_PER_KEYCLOAK_SESSION },
    },
    tokenKeys: e.TOKEN_ENCRYPTION_KEYS,
    adminRole: e.ADMIN_ROLE,
    loginsPerMinute: e.LOGIN_RATE_LIMIT,
    logLevel: e.LOG_LEVEL,
    metrics,
  }
}
