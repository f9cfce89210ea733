/**
 * The shapes of keyward's settings, owned by the configuration that checks them: the modules that
 * act on a setting import its shape from here. This file imports nothing of the project.
 */
import type { JsonWebKey } from 'node:crypto'
import type { Cluster, Redis } from 'ioredis'

/** When to refresh, and how refreshes across instances wait for each other. */
export interface RefreshSettings {
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

/** How long a record lives when Keycloak gives no refresh limit (unlimited offline tokens). */
export interface Lifetimes {
  onlineFallbackSeconds: number
  /** Keycloak's Offline Session Idle: an unused offline token dies after this long. */
  offlineIdleSeconds: number
  /**
   * The realm's SSO Session Idle, when set (SSO_SESSION_IDLE_SECONDS): an online session unused this
   * long is over, whatever `refresh_expires_in` says. (Keycloak reports the SSO max there when a
   * client's Client Session Idle is above the realm's SSO Session Idle, yet ends the session at the latter.)
   */
  onlineIdleSeconds?: number
}

/** How many sessions may live at once, per user and per Keycloak user session (`sid`); 0: no cap. */
export interface SessionCaps {
  perUser: number
  perKeycloakSession: number
}

/** What one keyward process lets its clients hold of it (HTTP_* in the configuration). */
export interface HttpLimits {
  /** A client must have sent its headers by then (slow-loris), … */
  headersTimeoutMs: number
  /** … and its whole request, body included. */
  requestTimeoutMs: number
  /** Request line and headers together; past it, 431. */
  maxHeaderBytes: number
  /** Open connections at once; more are closed as they come. */
  maxConnections: number
  /** WebSockets open at once through the proxy; more are refused with 503. */
  maxWebSockets: number
}

export interface RedisNode {
  host: string
  port: number
}

export interface RedisAuth {
  username?: string
  password?: string
}

/** TLS towards Redis (and Sentinels): off, or on with the system's CAs or these. */
export type RedisTls = false | { ca?: Buffer }

/** Where keyward's Redis is: one server, a primary found through Sentinels, or a Redis Cluster. */
export type RedisTopology =
  | { kind: 'standalone'; url: string; tls: RedisTls }
  | {
      kind: 'sentinel'
      sentinels: RedisNode[]
      master: string
      sentinelAuth: RedisAuth
      auth: RedisAuth
      tls: RedisTls
    }
  | { kind: 'cluster'; nodes: RedisNode[]; auth: RedisAuth; tls: RedisTls }

/** Replicas a write must reach before keyward answers (`count` 0: none), and how long it waits. */
export interface ReplicaWait {
  count: number
  timeoutMs: number
}

export interface CookieConfig {
  /** `__Host-<COOKIE_NAME>` on https; the bare name only for local http development. */
  name: string
  secure: boolean
  sameSite: 'lax' | 'strict'
}

/** The `prompt` values a login may ask Keycloak for. */
export type LoginPrompt = 'login' | 'none' | 'consent' | 'create'

/**
 * What a login may ask Keycloak for beyond keyward's own parameters (`GET <authPath>/login?…`,
 * `kw.login()`): each allowed by the app's configuration, each value within its rule. Nothing else of
 * the query reaches Keycloak.
 */
export interface LoginParamRules {
  prompts: ReadonlySet<LoginPrompt>
  loginHint: boolean
  /** Identity provider aliases `kc_idp_hint` may name. */
  idpHints: ReadonlySet<string>
  uiLocales: ReadonlySet<string>
  acrValues: ReadonlySet<string>
  maxAge: boolean
  /** Scopes a login may add to the app's own. */
  scopes: ReadonlySet<string>
}

/**
 * Roles an access token must grant: any of them, or all. Named as keycloak-connect's `protect()` named
 * them: `realm:<role>`, `<client>:<role>`, or `<role>` for the app's own client's.
 */
export type RoleRule = { anyOf: readonly string[] } | { allOf: readonly string[] }

/** What one claim must be: a value (or one the claim's list holds), all of a list, any of a list, or a suffix. */
export type ClaimValue = string | number | boolean
export type ClaimRule = ClaimValue | readonly ClaimValue[] | { anyOf: readonly ClaimValue[] } | { endsWith: string }

/**
 * How strongly the user must have authenticated: an `acr` at least this level (by the realm's
 * `acr.loa.map`, see `KeycloakConfig.acrLevels`), and/or an authentication no older than this.
 */
export interface AuthLevelRule {
  acr?: string
  maxAgeSeconds?: number
}

/** What a client assertion may be signed with (private_key_jwt). */
export type ClientKeyAlg =
  'ES256' | 'ES384' | 'ES512' | 'PS256' | 'PS384' | 'PS512' | 'RS256' | 'RS384' | 'RS512' | 'EdDSA'

/** A key an app signs client assertions with (config/client-keys.ts); the private part is never logged or shown. */
export type ClientKey = { kid: string; alg: ClientKeyAlg; privateJwk: JsonWebKey; publicJwk: JsonWebKey }

/** One browser-facing application (an origin with its own Keycloak client). */
export interface AppConfig {
  id: string
  publicUrl: URL
  /** The path keyward's routes are under on `publicUrl` (`/auth`; a library mount may choose another). */
  authPath: string
  /** `<authPath>/callback` on `publicUrl`: where Keycloak sends logins back. */
  callbackUrl: URL
  /** Origins allowed to send state-changing requests (CSRF defence), including `publicUrl`'s own. */
  allowedOrigins: ReadonlySet<string>
  clientId: string
  /** How keyward authenticates as the client: its secret, or an assertion signed by `clientKeys[0]`. */
  clientAuth: 'client_secret_basic' | 'private_key_jwt'
  /** `client_secret_basic`: the client's secret ('' otherwise). */
  clientSecret: string
  /** During a secret rotation, the client's other secret, tried when Keycloak refuses the first. */
  nextClientSecret?: string
  /** `private_key_jwt`: the signing key, then a rotation's other one (tried when refused); served at `<authPath>/jwks`. */
  clientKeys: readonly ClientKey[]
  /** Logins are pushed to Keycloak first (PAR, RFC 9126): the browser carries only `request_uri`. */
  par: boolean
  /** Tokens bound to a key of each session (DPoP, RFC 9449): every grant and upstream call carries a proof. */
  dpop: boolean
  scopes: string
  postLogoutPath: string
  cookie: CookieConfig
  /** Where a mobile login may send its one-time code: exact URIs (custom scheme or https). */
  mobileRedirectUris: ReadonlySet<string>
  /** The apps (ids) this app may hand its sessions to (POST <authPath>/handoff). */
  handoffTargets: ReadonlySet<string>
  /** The upstreams (names) this app's callers may reach under /api. */
  upstreams: ReadonlySet<string>
  /** Where Keycloak sends this app's back-channel logout: `<authPath>/backchannel-logout` on `publicUrl` unless set. */
  backchannelLogoutUrl: URL
  /** How Keycloak lets this app's client take handed-over sessions: Standard Token Exchange, or legacy (V1). */
  tokenExchange: 'standard' | 'legacy'
  /** Set for an app another keyward deployment serves: handoffs to and from it go through `redeemUrl`. */
  remote?: { redeemUrl: URL }
  /** What a login may ask Keycloak for. */
  login: LoginParamRules
}

export interface UpstreamConfig {
  url: URL
  timeoutMs: number
  /** When set, the upstream gets a token of its own: the session's exchanged for this audience (and scope). */
  exchange?: { audience: string; scope?: string }
  /** The methods forwarded to it; any other is 405. */
  methods: ReadonlySet<string>
  /**
   * What it gets: the user's access token (`user`), the app's own client-credentials token (`client`),
   * or the user's when there is a session and no `Authorization` otherwise (`userOrNone`).
   */
  token: 'user' | 'client' | 'userOrNone'
  /** Callers without a session may call it (`userOrNone`, or `client` when configured so). */
  anonymous: boolean
  /** Roles the user's access token must grant, else 403 and the upstream is never called. */
  requireRoles?: RoleRule
  /** Claims the user's access token must hold, else 403 and the upstream is never called. */
  requireClaims?: Readonly<Record<string, ClaimRule>>
  /** The authentication the user's access token must show, else 401 `step_up_required`. */
  authLevel?: AuthLevelRule
  /** WebSockets to it through the proxy, with their limits; none when absent. */
  websocket?: WebSocketPolicy
}

/** How keyward carries one upstream's WebSockets. */
export interface WebSocketPolicy {
  /**
   * When the access token a socket opened with expires: `keep` it open (the upstream's choice), or
   * `close` it (4002) so that the client opens a new one, with a fresh token.
   */
  onTokenExpiry: 'keep' | 'close'
  /** Closed (4003) after this long without a message either way. */
  idleTimeoutMs: number
  /** A bigger message, either way, closes the socket (1009). */
  maxMessageBytes: number
  /** Open at once per session, on one keyward process; more are refused with 429. */
  maxPerSession: number
}

export interface KeycloakConfig {
  url: URL
  realm: string
  issuer: URL
  /** Where keyward itself calls Keycloak, when that is not `url` (a private network address). */
  backchannelUrl?: URL
  timeoutSeconds: number
  allowHttp: boolean
  /** The realm's `acr.loa.map`: each `acr` name's level; an `acr` not named here is its own number, if it is one. */
  acrLevels: Readonly<Record<string, number>>
}

/** An ioredis client, or Cluster, that the host application made and keeps: keyward never closes it. */
export type GivenRedisClient = Redis | Cluster

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'

/** What the engine runs on: the same for the standalone server and for the middleware (`keyward()`). */
export interface Config {
  keycloak: KeycloakConfig
  apps: AppConfig[]
  upstreams: ReadonlyMap<string, UpstreamConfig>
  refresh: RefreshSettings
  redis: {
    /** Where Redis is, when keyward connects itself; absent when the host application gave its client. */
    topology?: RedisTopology
    /** The host application's own client: used, never closed. */
    client?: GivenRedisClient
    prefix: string
    /** How long a process may reuse a session it read (Redis tells it when one changes); 0: never. */
    sessionCacheMs: number
    /** How many replicas must have a session's write (created, refreshed, ended) before keyward answers. */
    replicas: ReplicaWait
  }
  session: {
    secrets: string[]
    lifetimes: Lifetimes
    loginTxTtlSeconds: number
    mobileCodeTtlSeconds: number
    handoffCodeTtlSeconds: number
    caps: SessionCaps
  }
  tokenKeys: { kid: string; key: Buffer }[]
  /** The role of each app's client that a Keycloak token must carry to use the admin routes. */
  adminRole: string
  /** Logins a client address may start per minute (each stores a transaction for a while); 0 is no limit. */
  loginsPerMinute: number
  logLevel: LogLevel
}

/** The standalone server's configuration: the engine's, and what only a server of its own has. */
export interface ServerConfig extends Config {
  /** The server connects to Redis itself (its environment cannot hand it a client). */
  redis: Config['redis'] & { topology: RedisTopology }
  host: string
  port: number
  /** Worker processes (node:cluster) sharing the port; 1 runs keyward in this process alone. */
  workers: number
  trustProxy: number | false
  staticDir?: string
  /** A host that is no app's on which a browser's page gets links to the apps (the demo's localhost:3000). */
  appsIndexHost?: string
  shutdownGraceSeconds: number
  /** What one process lets its clients hold of it. */
  http: HttpLimits
  /** Where GET /metrics is served (METRICS_HOST, METRICS_PORT), apart from the app; unset: no metrics. */
  metrics?: { host: string; port: number }
  /** The forward-auth check for nginx, Caddy or Traefik (FORWARD_AUTH_*), on a listener of its own; unset: off. */
  forwardAuth?: ForwardAuthConfig
}

/** What `GET /auth/check` answers a reverse proxy with, and where it listens. */
export interface ForwardAuthConfig {
  host: string
  port: number
  /** Header name → what it carries: a claim of the access token, or `roles` (as `requireRoles` names them). */
  headers: Readonly<Record<string, string>>
  /** Whether a 2xx carries `Authorization: Bearer <access token>` for the proxy to pass on. */
  accessToken: boolean
}
