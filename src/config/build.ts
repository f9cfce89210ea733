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
    // An item of a list the environment gave as text: the whole text is what was given.
    const given = valueAt(raw, path) ?? valueAt(raw, path.replace(/(\.\d+)+$/, ''))
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
    acrLevels: o.keycloak.acrLevels,
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

/** An upstream's WebSocket settings, with the defaults for what it leaves out. */
const webSocketPolicy = (w: Exclude<NonNullable<SharedOptions['upstreams'][string]['websocket']>, boolean>) => ({
  onTokenExpiry: w.onTokenExpiry ?? 'keep',
  idleTimeoutMs: (w.idleTimeoutSeconds ?? 600) * 1000,
  maxMessageBytes: w.maxMessageBytes ?? 1_048_576,
  maxPerSession: w.maxPerSession ?? 8,
})

const upstreamsFrom = (o: SharedOptions): ReadonlyMap<string, UpstreamConfig> =>
  new Map(
    Object.entries(o.upstreams).map(([name, u]): [string, UpstreamConfig] => {
      const token = u.token ?? 'user'
      const roles = u.requireRoles
      return [
        name,
        {
          url: new URL(u.url),
          timeoutMs: (u.timeoutSeconds || o.upstreamTimeoutSeconds) * 1000,
          exchange: u.audience ? { audience: u.audience, scope: u.scope } : undefined,
          methods: new Set(u.methods ?? DEFAULT_METHODS),
          token,
          anonymous: token === 'userOrNone' || (token === 'client' && u.anonymous === true),
          requireRoles: Array.isArray(roles) ? { anyOf: roles } : roles,
          requireClaims: u.requireClaims,
          authLevel:
            u.requireAcr || u.maxAuthAgeSeconds !== undefined
              ? { acr: u.requireAcr, maxAgeSeconds: u.maxAuthAgeSeconds }
              : undefined,
          websocket: u.websocket ? webSocketPolicy(u.websocket === true ? {} : u.websocket) : undefined,
        },
      ]
    }),
  )

/**
 * A step-up sends the user to a login that asks for the level: each app that may call an upstream
 * requiring one must allow that login (its `acr_values`, `max_age`), and the level must be one keyward
 * can compare (named in `keycloak.acrLevels`, or a number).
 */
function stepUpProblems(
  apps: AppConfig[],
  upstreams: ReadonlyMap<string, UpstreamConfig>,
  keycloak: KeycloakConfig,
  naming: Naming,
): string[] {
  const problems: string[] = []
  for (const [name, { authLevel }] of upstreams) {
    if (!authLevel) continue
    const { acr, maxAgeSeconds } = authLevel
    // What domain/auth-level.ts can rank: a name of the realm's map, or a level itself.
    if (acr !== undefined && !Object.hasOwn(keycloak.acrLevels, acr) && !/^\d{1,3}$/.test(acr)) {
      problems.push(
        `${naming('upstreams')}: "${name}": requireAcr ${JSON.stringify(acr)} is neither a level nor named in ${naming('keycloak.acrLevels')}`,
      )
    }
    for (const app of apps.filter((a) => !a.remote && a.upstreams.has(name))) {
      const which = apps.length > 1 ? ` (app ${app.id})` : ''
      if (acr !== undefined && !app.login.acrValues.has(acr)) {
        problems.push(
          `${naming('login.acrValues')}: must include ${JSON.stringify(acr)}, which upstream "${name}" requires (a step-up logs in with acr_values=${acr})${which}`,
        )
      }
      if (maxAgeSeconds !== undefined && !app.login.maxAge) {
        problems.push(
          `${naming('login.maxAge')}: must be true, as upstream "${name}" requires a recent authentication (a step-up logs in with max_age)${which}`,
        )
      }
    }
  }
  return problems
}

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
  const upstreams = upstreamsFrom(o)
  problems.push(...stepUpProblems(apps, upstreams, keycloak, naming))
  return {
    keycloak,
    apps,
    upstreams,
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
