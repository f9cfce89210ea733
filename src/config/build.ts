/**
 * The checks every configuration goes through, the middleware's options and the server's environment
 * alike, and the engine's `Config` built from what passed. A problem names the option the way its
 * reader wrote it (`Naming`), shows what was given (never a secret), and says what a right value is.
 */
import type { z } from 'zod'
import { httpsRule, shown } from './checks'
import { SECRET_OPTIONS, valueAt, type Naming } from './names'
import { redisFrom } from './redis'
import type { SharedOptions } from './schema'
import type { AppConfig, Config, KeycloakConfig, UpstreamConfig } from './types'

/** `raw` checked against `schema`; each problem is added to `problems`, named by `naming`. */
export function parseOptions<S extends z.ZodType>(
  schema: S,
  raw: unknown,
  naming: Naming,
  problems: string[],
): z.infer<S> | undefined {
  const parsed = schema.safeParse(raw)
  if (parsed.success) return parsed.data
  for (const issue of parsed.error.issues) {
    const path = issue.path.map(String).join('.')
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        problems.push(`${naming(path ? `${path}.${key}` : key)}: not an option of keyward (a misspelling?)`)
      }
      continue
    }
    const given = valueAt(raw, path)
    const note = given === undefined ? 'not set' : SECRET_OPTIONS.has(path) ? 'set' : `got ${shown(given)}`
    problems.push(`${path ? naming(path) : 'options'}: ${issue.message} (${note})`)
  }
  return undefined
}

function keycloakFrom(o: SharedOptions, raw: unknown, naming: Naming, problems: string[]): KeycloakConfig {
  const url = new URL(o.keycloak.url.href.replace(/\/+$/, ''))
  const dev = naming('devAllowHttp')
  const { backchannelUrl } = o.keycloak
  problems.push(
    ...httpsRule(
      naming('keycloak.url'),
      valueAt(raw, 'keycloak.url'),
      url.protocol === 'https:' || o.devAllowHttp,
      dev,
    ),
  )
  if (backchannelUrl) {
    const ok = backchannelUrl.protocol === 'https:' || o.devAllowHttp
    problems.push(...httpsRule(naming('keycloak.backchannelUrl'), valueAt(raw, 'keycloak.backchannelUrl'), ok, dev))
  }
  return {
    url,
    realm: o.keycloak.realm,
    issuer: new URL(`${url.href.replace(/\/$/, '')}/realms/${encodeURIComponent(o.keycloak.realm)}`),
    backchannelUrl,
    timeoutSeconds: o.keycloak.timeoutSeconds,
    allowHttp: o.devAllowHttp,
  }
}

/** A refresh must time out before its lock does. */
function lockProblems(o: SharedOptions, naming: Naming): string[] {
  const { lockTtlMs } = o.refresh
  const { timeoutSeconds } = o.keycloak
  if (lockTtlMs > timeoutSeconds * 1000) return []
  return [
    `${naming('refresh.lockTtlMs')}: must exceed ${naming('keycloak.timeoutSeconds')} (${timeoutSeconds} s), so a refresh ` +
      `times out before its lock does; e.g. ${timeoutSeconds * 1000 + 5000} (got ${lockTtlMs})`,
  ]
}

/** What an API call may use unless its upstream says otherwise: never TRACE, which echoes the token. */
const DEFAULT_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']

const upstreamsFrom = (o: SharedOptions): ReadonlyMap<string, UpstreamConfig> =>
  new Map(
    Object.entries(o.upstreams).map(([name, u]) => {
      const seconds = 'timeoutSeconds' in u && u.timeoutSeconds ? u.timeoutSeconds : o.upstreamTimeoutSeconds
      const exchange = 'audience' in u && u.audience ? { audience: u.audience, scope: u.scope } : undefined
      const methods = new Set('methods' in u && u.methods ? u.methods : DEFAULT_METHODS)
      return [name, { url: new URL(u.url), timeoutMs: seconds * 1000, exchange, methods }]
    }),
  )

/**
 * The engine's configuration from checked options and the apps made of them. Adds what is wrong
 * between options to `problems`; the caller throws a `ConfigError` when there is any.
 */
export function engineConfig(
  o: SharedOptions,
  apps: AppConfig[],
  raw: unknown,
  naming: Naming,
  problems: string[],
): Config {
  const keycloak = keycloakFrom(o, raw, naming, problems)
  const redis = redisFrom(o.redis, (path) => valueAt(raw, path) !== undefined, naming, problems)
  problems.push(...lockProblems(o, naming))
  return {
    keycloak,
    apps,
    upstreams: upstreamsFrom(o),
    refresh: o.refresh,
    redis: {
      ...redis,
      prefix: o.redis.prefix,
      sessionCacheMs: o.redis.sessionCacheMs,
      replicas: { count: o.redis.waitReplicas, timeoutMs: o.redis.waitTimeoutMs },
    },
    session: {
      secrets: o.secrets.session,
      lifetimes: {
        onlineFallbackSeconds: o.sessions.fallbackTtlSeconds,
        offlineIdleSeconds: o.sessions.offlineIdleSeconds,
        onlineIdleSeconds: o.sessions.ssoIdleSeconds,
      },
      loginTxTtlSeconds: o.sessions.loginTtlSeconds,
      mobileCodeTtlSeconds: o.sessions.mobileCodeTtlSeconds,
      handoffCodeTtlSeconds: o.sessions.handoffCodeTtlSeconds,
      caps: { perUser: o.sessions.maxPerUser, perKeycloakSession: o.sessions.maxPerKeycloakSession },
    },
    tokenKeys: o.secrets.tokenEncryptionKeys,
    adminRole: o.adminRole,
    loginsPerMinute: o.loginRateLimit,
    logLevel: o.logLevel,
  }
}
