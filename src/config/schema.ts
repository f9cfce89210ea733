import { availableParallelism } from 'node:os'
import { z } from 'zod'

const bool = z
  .enum(['true', 'false', '1', '0'], { error: 'use true or false' })
  .transform((v) => v === 'true' || v === '1')

/** A positive whole number of `unit`, with an example in every message. */
const count = (unit: string, example: number) => (fallback: number) => {
  const message = `a whole number of ${unit} above 0, e.g. ${example}`
  return z.coerce.number({ error: message }).int(message).positive(message).default(fallback)
}
const seconds = count('seconds', 600)
/** How many sessions may live at once; 0: no cap. */
const cap = (fallback: number) => {
  const message = `a whole number of sessions, e.g. ${fallback}; 0 sets no cap`
  return z.coerce.number({ error: message }).int(message).min(0, message).max(1000, 'at most 1000').default(fallback)
}
const millis = count('milliseconds', 5000)

export const origin = z.url({ error: 'an absolute URL such as https://app.example.com' }).transform((v, ctx) => {
  const url = new URL(v)
  if (url.pathname !== '/' || url.search || url.hash) {
    ctx.addIssue({ code: 'custom', message: `an origin without a path, e.g. ${url.origin}` })
  }
  return url
})

/** A 32-byte AES key as `kid:base64`, e.g. `k1:` followed by the output of `openssl rand -base64 32`. */
const encryptionKeys = z.string().transform((v, ctx) => {
  const keys = v.split(',').map((entry) => {
    const [kid, b64, ...rest] = entry.trim().split(':')
    const key = Buffer.from(b64 ?? '', 'base64')
    if (!kid || !/^[A-Za-z0-9_-]{1,16}$/.test(kid) || rest.length || key.length !== 32) {
      ctx.addIssue({
        code: 'custom',
        message:
          'comma-separated kid:base64 entries, each a 32-byte key, e.g. k1:$(openssl rand -base64 32); the first encrypts',
      })
    }
    return { kid: kid ?? '', key }
  })
  return keys
})

const secrets = z
  .string()
  .transform((v) => v.split(',').map((s) => s.trim()))
  .refine(
    (list) => list.every((s) => s.length >= 32),
    'comma-separated secrets of at least 32 characters each; the first signs',
  )

const upstreamName = /^[a-z0-9][a-z0-9-]{0,31}$/
const upstreamUrl = z
  .url()
  .refine((u) => /^https?:$/.test(new URL(u).protocol) && !new URL(u).search && !new URL(u).hash)

/** `{"orders": "https://orders.internal/api", "billing": {"url": "…", "timeoutSeconds": 5}}` */
const upstreams = z.string().transform((v, ctx) => {
  const example =
    '{"orders":"https://orders.internal/api","billing":{"url":"https://billing.internal","timeoutSeconds":5}}'
  let parsed: unknown
  try {
    parsed = JSON.parse(v)
  } catch {
    ctx.addIssue({ code: 'custom', message: `a JSON object of upstream name → base URL, e.g. ${example}` })
    return z.NEVER
  }
  const entry = z.union([
    upstreamUrl.transform((url) => ({ url })),
    z
      .object({
        url: upstreamUrl,
        timeoutSeconds: z.number().positive().optional(),
        // A token of its own: the session's access token exchanged for one with only this audience.
        audience: z.string().min(1).max(255).optional(),
        scope: z.string().min(1).max(1024).optional(),
        // The methods forwarded (with the token); others are 405. TRACE and CONNECT never are.
        methods: z
          .array(
            z
              .string()
              .regex(/^[A-Z][A-Z-]{0,19}$/)
              .refine((m) => !['TRACE', 'TRACK', 'CONNECT'].includes(m)),
          )
          .min(1)
          .optional(),
      })
      .strict(),
  ])
  const result = z.record(z.string().regex(upstreamName), entry).safeParse(parsed)
  if (!result.success) {
    ctx.addIssue({
      code: 'custom',
      message: `names of lower-case letters, digits and dashes, each an http(s) URL without query or an object {url, timeoutSeconds, audience, scope, methods} (methods in capitals, never TRACE or CONNECT), e.g. ${example}`,
    })
    return z.NEVER
  }
  return result.data
})

// Environment variables by area; `loadConfig` turns them into a `Config` of the same areas.

const serverEnv = {
  HOST: z.string().default('127.0.0.1'),
  WORKERS: z.coerce
    .number({ error: 'how many worker processes serve requests, e.g. 4; 1 serves from one process' })
    .int('a whole number, e.g. 4')
    .min(1, 'at least 1, e.g. 4')
    .max(256, 'at most 256')
    .default(() => availableParallelism()),
  PORT: z.coerce.number({ error: 'a TCP port, e.g. 3000' }).int().min(0).max(65535).default(3000),
  TRUST_PROXY: z
    .string()
    .regex(/^(false|\d+)$/, 'false, or the number of proxy hops in front of keyward, e.g. 1')
    .default('false'),
  STATIC_DIR: z.string().optional(),
  SHUTDOWN_GRACE_SECONDS: seconds(20),
  HTTP_HEADERS_TIMEOUT_SECONDS: seconds(10),
  HTTP_REQUEST_TIMEOUT_SECONDS: seconds(120),
  HTTP_MAX_HEADER_BYTES: count('bytes', 16384)(16384),
  HTTP_MAX_CONNECTIONS: count('connections', 10000)(10000),
}

const keycloakEnv = {
  KEYCLOAK_URL: z.url({ error: 'the Keycloak base URL, e.g. https://sso.example.com' }),
  KEYCLOAK_REALM: z.string().min(1, 'the realm name, e.g. keyward'),
  KEYCLOAK_BACKCHANNEL_URL: z
    .url({ error: 'the base URL keyward itself uses to reach Keycloak, e.g. http://keycloak:8080' })
    .optional(),
  OIDC_TIMEOUT_SECONDS: seconds(10),
  DEV_ALLOW_HTTP: bool.default(false),
}

// One app's rules, the same in the environment and in a KEYWARD_CONFIG file (config/app-file.ts).
export const appId = z.string().regex(/^[a-z0-9-]{1,32}$/, 'lower-case letters, digits and dashes, e.g. web')
export const cookieName = z
  .string()
  .regex(/^[A-Za-z0-9_-]+$/, 'a cookie name without prefix, e.g. keyward')
  .default('keyward')
export const cookieSameSite = z.enum(['lax', 'strict'], { error: 'lax or strict' }).default('lax')

/** Where Keycloak reaches an app's back-channel logout route, when not on its public URL. */
export const backchannelLogoutUrl = z
  .url({ error: 'an absolute URL Keycloak reaches keyward at, e.g. http://keyward:3000/auth/backchannel-logout' })
  .transform((v) => new URL(v))

/** One app (an origin with its own Keycloak client) from the environment, when there is no KEYWARD_CONFIG file. */
const appEnv = {
  PUBLIC_URL: origin,
  APP_ID: appId.default('web'),
  OIDC_CLIENT_ID: z.string().min(1, 'the Keycloak client id, e.g. keyward-web'),
  OIDC_CLIENT_SECRET: z.string().min(1, "the Keycloak client's secret (Credentials tab)"),
  OIDC_CLIENT_SECRET_NEXT: z.string().optional(),
  BACKCHANNEL_LOGOUT_URL: backchannelLogoutUrl.optional(),
  OIDC_SCOPES: z.string().default('openid profile email'),
  ALLOWED_ORIGINS: z.string().default(''),
  MOBILE_REDIRECT_URIS: z.string().default(''),
  POST_LOGOUT_PATH: z.string().startsWith('/', 'a path on PUBLIC_URL, e.g. /').default('/'),
  COOKIE_NAME: cookieName,
  COOKIE_SAMESITE: cookieSameSite,
}

/** The variables of `appEnv`: with KEYWARD_CONFIG they belong in the file, and setting them is an error. */
export const APP_VARIABLES = Object.keys(appEnv)

const upstreamEnv = {
  UPSTREAMS: upstreams.default({}),
  UPSTREAM_TIMEOUT_SECONDS: seconds(30),
}

const refreshEnv = {
  REFRESH_SKEW_SECONDS: seconds(30),
  REFRESH_SKEW_FRACTION: z.coerce
    .number({ error: 'a fraction of the token lifespan, e.g. 0.25' })
    .gt(0)
    .lt(1)
    .default(0.25),
  REFRESH_LOCK_TTL_MS: millis(15_000),
  REFRESH_WAIT_MS: millis(5_000),
  REFRESH_POLL_MS: millis(25),
}

/** `host:port,host:port`: Sentinels, or seed nodes of a Redis Cluster. */
const redisNodes = (example: string) =>
  z.string().transform((v, ctx) => {
    const nodes = v.split(',').map((part) => /^\s*([\w.-]+|\[[\da-fA-F:]+\]):(\d{1,5})\s*$/.exec(part))
    if (nodes.some((n) => !n || Number(n[2]) < 1 || Number(n[2]) > 65535)) {
      ctx.addIssue({ code: 'custom', message: `comma-separated host:port pairs, e.g. ${example}` })
      return z.NEVER
    }
    return nodes.map((n) => ({ host: n![1].replace(/^\[|\]$/g, ''), port: Number(n![2]) }))
  })

const redisEnv = {
  REDIS_URL: z
    .string()
    .regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL')
    .default('redis://127.0.0.1:6379'),
  REDIS_SENTINELS: redisNodes('sentinel-1:26379,sentinel-2:26379,sentinel-3:26379').optional(),
  REDIS_SENTINEL_MASTER: z
    .string()
    .regex(/^[\w.-]{1,64}$/, "the master's name in the Sentinels' configuration, e.g. mymaster")
    .default('mymaster'),
  REDIS_SENTINEL_USERNAME: z.string().optional(),
  REDIS_SENTINEL_PASSWORD: z.string().optional(),
  REDIS_CLUSTER_NODES: redisNodes('redis-1:6379,redis-2:6379,redis-3:6379').optional(),
  REDIS_USERNAME: z.string().optional(),
  REDIS_PASSWORD: z.string().optional(),
  REDIS_TLS: bool.default(false),
  REDIS_WAIT_REPLICAS: z.coerce
    .number({ error: 'how many replicas must have a session write before keyward answers, e.g. 1; 0: none' })
    .int('a whole number of replicas, e.g. 1')
    .min(0, 'a whole number of replicas, e.g. 1; 0: none')
    .max(16, 'at most 16')
    .default(0),
  REDIS_WAIT_TIMEOUT_MS: millis(100),
  REDIS_TLS_CA_FILE: z.string().optional(),
  REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9:_-]*$/, 'letters, digits, ":", "_" and "-", e.g. kw:')
    .default('kw:'),
}

const sessionEnv = {
  SESSION_SECRET: secrets,
  TOKEN_ENCRYPTION_KEYS: encryptionKeys,
  LOGIN_TX_TTL_SECONDS: seconds(600),
  MOBILE_CODE_TTL_SECONDS: seconds(60).refine((s) => s <= 60, 'at most 60 seconds, e.g. 60'),
  HANDOFF_CODE_TTL_SECONDS: seconds(60).refine((s) => s <= 60, 'at most 60 seconds, e.g. 30'),
  SESSION_FALLBACK_TTL_SECONDS: seconds(1800),
  SESSION_CACHE_MS: z.coerce
    .number({ error: 'milliseconds a session read may be reused in a process, e.g. 1000; 0 turns the cache off' })
    .int('a whole number of milliseconds, e.g. 1000')
    .min(0, 'a whole number of milliseconds, e.g. 1000; 0 turns the cache off')
    .max(60_000, 'at most 60000')
    .default(1000),
  OFFLINE_SESSION_IDLE_SECONDS: seconds(2_592_000),
  SSO_SESSION_IDLE_SECONDS: z.coerce
    .number({ error: "the realm's SSO Session Idle in seconds, e.g. 1800" })
    .int("the realm's SSO Session Idle in whole seconds, e.g. 1800")
    .positive("the realm's SSO Session Idle in seconds, e.g. 1800")
    .optional(),
  MAX_SESSIONS_PER_USER: cap(50),
  MAX_SESSIONS_PER_KEYCLOAK_SESSION: cap(10),
}

const limitsEnv = {
  LOGIN_RATE_LIMIT: z.coerce
    .number({ error: 'logins started per minute per client address, e.g. 120; 0 turns the limit off' })
    .int('a whole number, e.g. 120')
    .min(0, 'a whole number, e.g. 120; 0 turns the limit off')
    .default(120),
}

const adminEnv = {
  ADMIN_ROLE: z
    .string()
    .regex(/^[\w.:-]{1,64}$/, "a client role's name, e.g. keyward-admin")
    .default('keyward-admin'),
}

const opsEnv = {
  KEYWARD_CONFIG: z.string().optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  // Off unless set: a listener nobody asked for is one more port to firewall.
  METRICS_PORT: z.coerce
    .number({ error: 'a TCP port for GET /metrics, e.g. 9464; unset: no metrics' })
    .int('a TCP port, e.g. 9464')
    .min(1, 'a TCP port, e.g. 9464')
    .max(65535, 'a TCP port, e.g. 9464')
    .optional(),
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
}

/** Every variable but the app's: those come from `appEnvSchema`, or from the KEYWARD_CONFIG file. */
export const envSchema = z.object({
  ...serverEnv,
  ...keycloakEnv,
  ...upstreamEnv,
  ...refreshEnv,
  ...redisEnv,
  ...sessionEnv,
  ...limitsEnv,
  ...adminEnv,
  ...opsEnv,
})

export const appEnvSchema = z.object(appEnv)

export type Env = z.infer<typeof envSchema>
export type AppEnv = z.infer<typeof appEnvSchema>
