/**
 * keyward's options, by area, as the middleware takes them (`keyward({ … })`) and as the standalone
 * server reads them from its environment (config/names.ts spells each option as a variable).
 */
import { z } from 'zod'
import {
  bool,
  cap,
  encryptionKeys,
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

/** How keyward authenticates as a client at Keycloak: its secret, or an assertion signed with its key. */
export const clientAuth = z
  .enum(['client_secret_basic', 'private_key_jwt'], { error: 'client_secret_basic or private_key_jwt' })
  .default('client_secret_basic')

const keycloakApp = {
  clientId: z
    .string({ error: 'the Keycloak client id, e.g. keyward-web' })
    .min(1, 'the Keycloak client id, e.g. keyward-web'),
  clientAuth,
  clientSecret: z.string().optional(), // required with client_secret_basic: oneAppSchema says so
  nextClientSecret: z.string().optional(),
  clientKeyFile: z.string().min(1).optional(),
  nextClientKeyFile: z.string().min(1).optional(),
  par: bool.default(false), // logins pushed to Keycloak first (RFC 9126)
  dpop: bool.default(false), // tokens bound to a key of each session (RFC 9449)
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
  keycloak: z
    .strictObject({ ...keycloakShared, ...keycloakApp }, { error: 'an object { url, realm, clientId, clientSecret }' })
    .refine((k) => k.clientAuth === 'private_key_jwt' || Boolean(k.clientSecret), {
      path: ['clientSecret'],
      message: "the Keycloak client's secret (Credentials tab)",
      when: (payload) => typeof payload.value === 'object' && payload.value !== null, // beside other problems
    }),
})

/** What is not one app's, when the apps come from a KEYWARD_CONFIG file (their options are refused apart). */
export const sharedSchema = z.object({ ...sharedFields, keycloak: z.object(keycloakShared) })

export type OneAppOptions = z.infer<typeof oneAppSchema>
export type SharedOptions = z.infer<typeof sharedSchema>
