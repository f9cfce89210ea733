/** The public types of keyward's options (`keyward({ … })`): part of the package's API (see api.ts). */
import type { Logger } from 'pino'
import type { ClaimsRule } from './api'

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
  /**
   * What it gets: `user`, the user's access token (default); `client`, the application's own
   * client-credentials token (its client needs "Service accounts roles"); `userOrNone`, the user's
   * when there is a session, and no `Authorization` otherwise. */
  token?: 'user' | 'client' | 'userOrNone'
  /** A `client` upstream that callers without a session may call (the CSRF header is still needed). */
  anonymous?: boolean
  /**
   * Step-up: the `acr` the user's access token must reach (by `keycloak.acrLevels`), else 401
   * `step_up_required` with the login that asks for it. `login.acrValues` must hold it.
   */
  requireAcr?: string
  /** Step-up: an authentication no older than this; `login.maxAge` must be true. */
  maxAuthAgeSeconds?: number
  /**
   * Roles the user's access token must grant (named as {@link Keyward.requireRole} names them): a list
   * is any of them; `{ allOf }` asks for each. Else 403 `forbidden`, and the upstream is never called.
   */
  requireRoles?: string[] | { anyOf: string[] } | { allOf: string[] }
  /** Claims the user's access token must hold (as {@link ClaimsRule} says them, without a function). */
  requireClaims?: Exclude<ClaimsRule, (claims: Record<string, unknown>) => boolean>
  /**
   * WebSockets to it through {@link Keyward.proxyWebSockets}: `true`, or with its settings:
   * `onTokenExpiry` (`keep`, the default, or `close` the socket with 4002 when the access token it
   * opened with expires), `idleTimeoutSeconds` (600), `maxMessageBytes` (1048576), `maxPerSession`
   * (8 open per session in this process).
   */
  websocket?:
    | boolean
    | {
        onTokenExpiry?: 'keep' | 'close'
        idleTimeoutSeconds?: number
        maxMessageBytes?: number
        maxPerSession?: number
      }
}

/**
 * What {@link KeywardOptions.onLogin} is told of a login.
 * @public
 */
export interface LoginEvent {
  /** The ID token's claims, verified; for a session handed over, its new access token's. */
  claims: Record<string, unknown>
  /** The app (`appId`) the session is for. */
  app: string
  /** `offline` when the login asked for (and got) an offline token. */
  kind: 'online' | 'offline'
  /** A browser's login, or a mobile app's. */
  client: 'web' | 'mobile'
  /** A login at Keycloak, or a session handed over from a sibling app. */
  via: 'login' | 'handoff'
}

/**
 * What {@link KeywardOptions.onLogin} answers: nothing to let the user in, `{ refuse }` to turn them
 * away (the text is the 403's detail, shown to them), or `{ data }` to keep with the session.
 * @public
 */
export type LoginDecision = void | undefined | { refuse: string } | { data: Record<string, unknown> }

/**
 * What a login may ask Keycloak for: nothing unless allowed here (LOGIN_*). The query of
 * `GET <prefix>/login`, {@link Keyward.login} and `requireSession({ login })` are checked against it.
 * @public
 */
export interface LoginParamOptions {
  /** The `prompt` values allowed (LOGIN_PROMPTS); `none` makes silent login possible. */
  prompts?: ('login' | 'none' | 'consent' | 'create')[]
  /** Allow `login_hint` (LOGIN_HINT). */
  loginHint?: boolean
  /** The identity provider aliases `kc_idp_hint` may name (LOGIN_IDP_HINTS). */
  idpHints?: string[]
  /** The languages `ui_locales` may ask for (LOGIN_UI_LOCALES). */
  uiLocales?: string[]
  /** The `acr_values` a login may ask for (LOGIN_ACR_VALUES). */
  acrValues?: string[]
  /** Allow `max_age` (LOGIN_MAX_AGE). */
  maxAge?: boolean
  /** Scopes a login may add to `keycloak.scopes` (LOGIN_SCOPES). */
  scopes?: string[]
}

/**
 * An ioredis client or Cluster, as {@link RedisConnectionOptions.client} takes it.
 * @public
 */
export interface RedisClientLike {
  /** The connection's state, as ioredis reports it. */
  readonly status: string
  /** Runs a loaded Lua script; every ioredis client has it. */
  evalsha(...args: never[]): unknown
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
  /** The Sentinels' own user name, when they have one. */
  sentinelUsername?: string
  /** The Sentinels' own password, when they have one. */
  sentinelPassword?: string
  /** Seed nodes of a Redis Cluster: `"host:port,host:port"` or `[{ host, port }]`. */
  clusterNodes?: string | { host: string; port: number }[]
  /** The data nodes' user name, with `sentinels` or `clusterNodes` (a URL carries its own). */
  username?: string
  /** The data nodes' password, with `sentinels` or `clusterNodes`. */
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
   * The application's own ioredis (6) client or Cluster, instead of `url`, `sentinels` or
   * `clusterNodes`. keyward uses it and never closes it. Give it `enableOfflineQueue: false`, so calls
   * fail at once (503) while Redis is away instead of waiting. (Typed by what keyward checks of it, so
   * that keyward's types need not bring ioredis's.)
   */
  client?: RedisClientLike
}

/**
 * An application another keyward serves (the standalone server, or this middleware in another
 * application), to which sessions are handed without a new login, or from which they come. A
 * handoff between them goes through that keyward's `<authPath>/handoff/redeem`, server to server.
 * @public
 */
export interface SiblingApp {
  /** Its id, as its keyward knows it (`appId`, or its id in a KEYWARD_CONFIG file). */
  id: string
  /** Its public origin. */
  publicUrl: string | URL
  /** Its Keycloak client, which its sessions are exchanged into. */
  clientId: string
  /** Where its keyward takes server-to-server calls, when not at `publicUrl` (an internal address). */
  redeemUrl?: string | URL
  /** The path its keyward's routes are under. Default `/auth`. */
  authPath?: string
  /** Whether this application may hand its sessions to it. Default true. */
  handoff?: boolean
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
    /** How keyward authenticates as the client: `client_secret_basic` (the default) or `private_key_jwt` (OIDC_CLIENT_AUTH). */
    clientAuth?: 'client_secret_basic' | 'private_key_jwt'
    /** Its secret, for `client_secret_basic` (OIDC_CLIENT_SECRET). */
    clientSecret?: string
    /** During a secret rotation, the other one, tried when Keycloak refuses the first (OIDC_CLIENT_SECRET_NEXT). */
    nextClientSecret?: string
    /** For `private_key_jwt`: the signing key's file, PEM or JWK; its public key is served at `<prefix>/jwks` (OIDC_CLIENT_KEY_FILE). */
    clientKeyFile?: string
    /** During a key rotation, the other key's file: published too, and tried when Keycloak refuses the first (OIDC_CLIENT_KEY_NEXT_FILE). */
    nextClientKeyFile?: string
    /** Push each login to Keycloak first (PAR, RFC 9126), as a client that requires it needs. Default false (OIDC_PAR). */
    par?: boolean
    /** Bind the app's tokens to a key of each session (DPoP, RFC 9449): upstream calls carry `Authorization: DPoP` and a proof. Default false (OIDC_DPOP). */
    dpop?: boolean
    /** Where keyward itself reaches Keycloak, when not at `url` (KEYCLOAK_BACKCHANNEL_URL). */
    backchannelUrl?: string | URL
    /** The scopes a login asks for. Default `openid profile email` (OIDC_SCOPES). */
    scopes?: string
    /** How long a call to Keycloak may take. Default 10 (OIDC_TIMEOUT_SECONDS). */
    timeoutSeconds?: number
    /** The realm's `acr.loa.map`, e.g. `{ silver: 1, gold: 2 }`, to rank `acr` values (KEYCLOAK_ACR_LEVELS). */
    acrLevels?: Record<string, number>
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
  /**
   * Applications other keywards serve, for handoffs to and from them (`POST <prefix>/handoff`), as
   * the server's KEYWARD_CONFIG file lists them with `remote`.
   */
  siblings?: SiblingApp[]
  /** Where Keycloak reaches back-channel logout, when not on `publicUrl` (BACKCHANNEL_LOGOUT_URL). */
  backchannelLogoutUrl?: string | URL
  /** What a login may ask Keycloak for (prompt, login_hint, kc_idp_hint…): nothing unless allowed. */
  login?: LoginParamOptions
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
    /** How often a waiting request looks for the other instance's refresh. Default 25. */
    pollMs?: number
  }
  /** How long sessions and one-time codes live, and how many a user may have. */
  sessions?: {
    /** A login's time at Keycloak. Default 600 (LOGIN_TX_TTL_SECONDS). */
    loginTtlSeconds?: number
    /** A mobile login's one-time code, at most 60. Default 60 (MOBILE_CODE_TTL_SECONDS). */
    mobileCodeTtlSeconds?: number
    /** A handoff's one-time code, at most 60. Default 60 (HANDOFF_CODE_TTL_SECONDS). */
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
  /**
   * Runs after each login (and each session handed over from a sibling), before the session is kept:
   * return `{ refuse: 'why' }` to turn the user away (403 `forbidden` with that detail; Keycloak's new
   * client session is revoked; no session is kept), or `{ data }` to keep small data (at most 4096
   * bytes as JSON) with the session, on `req.keyward.session.data`. A hook that throws refuses too.
   */
  onLogin?: (login: LoginEvent) => LoginDecision | Promise<LoginDecision>
  /** Where keyward logs: a pino logger of the application's; its own, on stdout, when left out. */
  logger?: Logger
  /** The level of keyward's own logger. Default `info` (LOG_LEVEL). */
  logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent'
}
