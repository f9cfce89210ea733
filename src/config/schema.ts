/**
 * keyward's options, by area, as the middleware takes them (`keyward({ … })`) and as the standalone
 * server reads them from its environment (config/names.ts spells each option as a variable).
 */
import { availableParallelism } from 'node:os'
import { z } from 'zod'
import {
  bool,
  cap,
  count,
  encryptionKeys,
  identityHeaders,
  listOf,
  millis,
  origin,
  redisNodes,
  acrLevels,
  secrets,
  seconds,
  upstreams,
  url,
} from './values'

const whole = (message: string, min: number, max?: number, maxMessage?: string) => {
  const n = z.coerce.number({ error: message }).int(message).min(min, message)
  return max === undefined ? n : n.max(max, maxMessage)
}

// One app's rules, the same in the options, the environment and a KEYWARD_CONFIG file (config/app-file.ts).
export const appId = z.string().regex(/^[a-z0-9-]{1,32}$/, 'lower-case letters, digits and dashes, e.g. web')
export const cookieName = z
  .string()
  .regex(/^[A-Za-z0-9_-]+$/, 'a cookie name without prefix, e.g. keyward')
  .default('keyward')
export const cookieSameSite = z.enum(['lax', 'strict'], { error: 'lax or strict' }).default('lax')
export { origin }

/** Where Keycloak reaches an app's back-channel logout route, when not on its public URL. */
export const backchannelLogoutUrl = url(
  'an absolute URL Keycloak reaches keyward at, e.g. http://keyward:3000/auth/backchannel-logout',
)

const keycloakShared = {
  url: url('the Keycloak base URL, e.g. https://sso.example.com'),
  realm: z.string({ error: 'the realm name, e.g. keyward' }).min(1, 'the realm name, e.g. keyward'),
  backchannelUrl: url('the base URL keyward itself uses to reach Keycloak, e.g. http://keycloak:8080').optional(),
  timeoutSeconds: seconds(10),
  acrLevels: acrLevels.default({}),
}

const keycloakApp = {
  clientId: z
    .string({ error: 'the Keycloak client id, e.g. keyward-web' })
    .min(1, 'the Keycloak client id, e.g. keyward-web'),
  clientSecret: z
    .string({ error: "the Keycloak client's secret (Credentials tab)" })
    .min(1, "the Keycloak client's secret (Credentials tab)"),
  nextClientSecret: z.string().optional(),
  scopes: z.string().default('openid profile email'),
}

/** The path keyward's routes are under: `/auth`, or where the middleware is mounted. */
export const authPath = z
  .string()
  .regex(/^\/[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*$/, 'a path such as /auth, without a slash at its end')
  .refine((p) => !p.split('/').some((s) => s === '.' || s === '..'), 'a path such as /auth, without dot segments')

const LOCALE = /^[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8}){0,3}$/
const SCOPE = /^[\x21\x23-\x5b\x5d-\x7e]{1,128}$/ // RFC 6749's scope-token

/**
 * What a login may ask Keycloak for (config/types.ts `LoginParamRules`): nothing unless allowed here.
 * The same in the options, the environment (LOGIN_*) and each app of a KEYWARD_CONFIG file.
 */
export const loginRules = z
  .strictObject({
    prompts: listOf(
      z.enum(['login', 'none', 'consent', 'create'], { error: 'prompts among login, none, consent, create' }),
    ).default([]),
    loginHint: bool.default(false),
    idpHints: listOf(
      z.string().regex(/^[\w.-]{1,64}$/, 'identity provider aliases as Keycloak names them, e.g. google,github'),
    ).default([]),
    uiLocales: listOf(z.string().regex(LOCALE, 'language tags, e.g. en,de,fr-CA')).default([]),
    acrValues: listOf(z.string().regex(/^[\w.:-]{1,64}$/, 'acr values, e.g. silver,gold')).default([]),
    maxAge: bool.default(false),
    scopes: listOf(
      z
        .string()
        .regex(SCOPE, 'scope names, e.g. orders:read,phone')
        .refine(
          (s) => s !== 'openid' && s !== 'offline_access',
          'scopes other than openid and offline_access (ask for offline_access with offline=1)',
        ),
    ).default([]),
  })
  .prefault({})

/** An app another keyward serves, for handoffs to and from it (the middleware's `siblings`). */
const sibling = z.strictObject({
  id: appId,
  publicUrl: origin,
  clientId: z.string().min(1, 'the Keycloak client id, e.g. keyward-drivers'),
  redeemUrl: origin.optional(),
  authPath: authPath.default('/auth'),
  handoff: bool.default(true),
})

/** One app (an origin with its own Keycloak client): the middleware's, or the server's without a KEYWARD_CONFIG file. */
const appFields = {
  publicUrl: origin,
  appId: appId.default('web'),
  backchannelLogoutUrl: backchannelLogoutUrl.optional(),
  allowedOrigins: listOf().default([]),
  mobileRedirectUris: listOf().default([]),
  postLogoutPath: z.string().startsWith('/', 'a path on the public URL, e.g. /').default('/'),
  cookie: z.strictObject({ name: cookieName, sameSite: cookieSameSite }).prefault({}),
  siblings: z.array(sibling).default([]),
  routes: z.strictObject({ prefix: authPath.default('/auth') }).prefault({}),
  login: loginRules,
}

/** The options of one app: with a KEYWARD_CONFIG file, each app's are in the file and these are refused. */
export const APP_OPTIONS = [
  ...Object.keys(appFields),
  ...Object.keys(keycloakApp).map((name) => `keycloak.${name}`),
] as const

const redisOptions = z.preprocess(
  (v) => (typeof v === 'string' ? { url: v } : v),
  z.strictObject({
    url: z
      .string()
      .regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL')
      .optional(),
    sentinels: redisNodes('sentinel-1:26379,sentinel-2:26379,sentinel-3:26379').optional(),
    sentinelMaster: z
      .string()
      .regex(/^[\w.-]{1,64}$/, "the master's name in the Sentinels' configuration, e.g. mymaster")
      .default('mymaster'),
    sentinelUsername: z.string().optional(),
    sentinelPassword: z.string().optional(),
    clusterNodes: redisNodes('redis-1:6379,redis-2:6379,redis-3:6379').optional(),
    username: z.string().optional(),
    password: z.string().optional(),
    tls: bool.default(false),
    tlsCaFile: z.string().optional(),
    waitReplicas: whole(
      'how many replicas must have a session write before keyward answers, e.g. 1; 0: none',
      0,
      16,
      'at most 16',
    ).default(0),
    waitTimeoutMs: millis(100),
    prefix: z
      .string()
      .regex(/^[A-Za-z0-9:_-]*$/, 'letters, digits, ":", "_" and "-", e.g. kw:')
      .default('kw:'),
    sessionCacheMs: whole(
      'milliseconds a session read may be reused in a process, e.g. 1000; 0 turns the cache off',
      0,
      60_000,
      'at most 60000',
    ).default(1000),
    // The host application's own ioredis client (or Cluster): keyward uses it and never closes it.
    client: z
      .custom<object>(
        (v) => typeof v === 'object' && v !== null && typeof (v as { evalsha?: unknown }).evalsha === 'function',
        'an ioredis client or Cluster',
      )
      .optional(),
  }),
)

const sharedFields = {
  devAllowHttp: bool.default(false),
  secrets: z.strictObject(
    { session: secrets, tokenEncryptionKeys: encryptionKeys },
    { error: 'an object { session, tokenEncryptionKeys }' },
  ),
  redis: redisOptions.prefault({}),
  upstreams: upstreams.default({}),
  upstreamTimeoutSeconds: seconds(30),
  refresh: z
    .strictObject({
      skewSeconds: seconds(30),
      skewFraction: z.coerce
        .number({ error: 'a fraction of the token lifespan, e.g. 0.25' })
        .gt(0, 'a fraction of the token lifespan, e.g. 0.25')
        .lt(1, 'a fraction of the token lifespan, e.g. 0.25')
        .default(0.25),
      lockTtlMs: millis(15_000),
      waitMs: millis(5_000),
      pollMs: millis(25),
    })
    .prefault({}),
  sessions: z
    .strictObject({
      loginTtlSeconds: seconds(600),
      mobileCodeTtlSeconds: seconds(60).refine((s) => s <= 60, 'at most 60 seconds, e.g. 60'),
      handoffCodeTtlSeconds: seconds(60).refine((s) => s <= 60, 'at most 60 seconds, e.g. 30'),
      fallbackTtlSeconds: seconds(1800),
      offlineIdleSeconds: seconds(2_592_000),
      ssoIdleSeconds: z.coerce
        .number({ error: "the realm's SSO Session Idle in seconds, e.g. 1800" })
        .int("the realm's SSO Session Idle in whole seconds, e.g. 1800")
        .positive("the realm's SSO Session Idle in seconds, e.g. 1800")
        .optional(),
      maxPerUser: cap(50),
      maxPerKeycloakSession: cap(10),
    })
    .prefault({}),
  loginRateLimit: z.coerce
    .number({ error: 'logins started per minute per client address, e.g. 120; 0 turns the limit off' })
    .int('a whole number, e.g. 120')
    .min(0, 'a whole number, e.g. 120; 0 turns the limit off')
    .default(120),
  adminRole: z
    .string()
    .regex(/^[\w.:-]{1,64}$/, "a client role's name, e.g. keyward-admin")
    .default('keyward-admin'),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
}

/** Everything of one app and the rest: the middleware's options, and the server's without a file. */
export const oneAppSchema = z.strictObject({
  ...sharedFields,
  ...appFields,
  keycloak: z.strictObject(
    { ...keycloakShared, ...keycloakApp },
    { error: 'an object { url, realm, clientId, clientSecret }' },
  ),
})

/** What is not one app's, when the apps come from a KEYWARD_CONFIG file (their options are refused apart). */
export const sharedSchema = z.object({ ...sharedFields, keycloak: z.object(keycloakShared) })

export type OneAppOptions = z.infer<typeof oneAppSchema>
export type SharedOptions = z.infer<typeof sharedSchema>

/** Named as oauth2-proxy names them (`--set-xauthrequest`), which nginx and Traefik examples already use. */
const DEFAULT_IDENTITY_HEADERS = {
  'X-Auth-Request-User': 'sub',
  'X-Auth-Request-Preferred-Username': 'preferred_username',
  'X-Auth-Request-Name': 'name',
  'X-Auth-Request-Email': 'email',
  'X-Auth-Request-Roles': 'roles',
}

/** The port of a listener of its own, which is off unless set. */
const listenerPort = (serves: string, example: number, unset: string) => {
  const message = `a TCP port, e.g. ${example}`
  return z.coerce
    .number({ error: `a TCP port for ${serves}, e.g. ${example}; unset: ${unset}` })
    .int(message)
    .min(1, message)
    .max(65535, message)
    .optional()
}

/** What only a server of its own has: these are environment variables alone. */
export const serverEnvSchema = z.object({
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
  APPS_INDEX_HOST: z
    .string()
    .regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$/, "a host and port that is no app's, e.g. localhost:3000")
    .optional(),
  SHUTDOWN_GRACE_SECONDS: seconds(20),
  HTTP_HEADERS_TIMEOUT_SECONDS: seconds(10),
  HTTP_REQUEST_TIMEOUT_SECONDS: seconds(120),
  HTTP_MAX_HEADER_BYTES: count('bytes', 16384)(16384),
  HTTP_MAX_CONNECTIONS: count('connections', 10000)(10000),
  WEBSOCKET_MAX_CONNECTIONS: count('WebSockets', 5000)(5000),
  KEYWARD_CONFIG: z.string().optional(),
  // Off unless set: a listener nobody asked for is one more port to firewall.
  METRICS_PORT: listenerPort('GET /metrics', 9464, 'no metrics'),
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  // Off unless set: it can hand out access tokens, so only the reverse proxy may reach it.
  FORWARD_AUTH_PORT: listenerPort('GET /auth/check', 3001, 'no forward-auth'),
  FORWARD_AUTH_HOST: z.string().min(1).default('127.0.0.1'),
  FORWARD_AUTH_HEADERS: identityHeaders.default(DEFAULT_IDENTITY_HEADERS),
  FORWARD_AUTH_ACCESS_TOKEN: bool.default(false),
})

export type ServerEnv = z.infer<typeof serverEnvSchema>
