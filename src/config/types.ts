import type { RefreshSettings } from '../domain/freshness'
import type { Lifetimes, SessionCaps } from '../domain/token-session'
import type { HttpLimits } from '../ops/server'
import type { ReplicaWait } from '../store/redis'
import type { RedisTopology } from '../store/topology'
import type { Env } from './schema'

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
  /** `/auth/callback` on `publicUrl`: where Keycloak sends logins back. */
  callbackUrl: URL
  /** Origins allowed to send state-changing requests (CSRF defence), including `publicUrl`'s own. */
  allowedOrigins: ReadonlySet<string>
  clientId: string
  clientSecret: string
  /** During a secret rotation, the client's other secret, tried when Keycloak refuses the first. */
  nextClientSecret?: string
  scopes: string
  postLogoutPath: string
  cookie: CookieConfig
  /** Where a mobile login may send its one-time code: exact URIs (custom scheme or https). */
  mobileRedirectUris: ReadonlySet<string>
  /** The apps (ids) this app may hand its sessions to (POST /auth/handoff). */
  handoffTargets: ReadonlySet<string>
  /** The upstreams (names) this app's callers may reach under /api. */
  upstreams: ReadonlySet<string>
  /** Where Keycloak sends this app's back-channel logout: `/auth/backchannel-logout` on `publicUrl` unless set. */
  backchannelLogoutUrl: URL
  /** How Keycloak lets this app's client take handed-over sessions: Standard Token Exchange, or legacy (V1). */
  tokenExchange: 'standard' | 'legacy'
  /** Set for an app another keyward deployment serves: handoffs to and from it go through `redeemUrl`. */
  remote?: { redeemUrl: URL }
}

export interface UpstreamConfig {
  url: URL
  timeoutMs: number
  /** When set, the upstream gets a token of its own: the session's exchanged for this audience (and scope). */
  exchange?: { audience: string; scope?: string }
  /** The methods forwarded to it; any other is 405. */
  methods: ReadonlySet<string>
}

export interface KeycloakConfig {
  url: URL
  realm: string
  issuer: URL
  /** Where keyward itself calls Keycloak, when that is not `url` (a private network address). */
  backchannelUrl?: URL
  timeoutSeconds: number
  allowHttp: boolean
}

/** keyward's whole configuration, by area; `loadConfig` builds it from the environment. */
export interface Config {
  host: string
  port: number
  /** Worker processes (node:cluster) sharing the port; 1 runs keyward in this process alone. */
  workers: number
  trustProxy: number | false
  staticDir?: string
  shutdownGraceSeconds: number
  /** What one process lets its clients hold of it. */
  http: HttpLimits
  keycloak: KeycloakConfig
  apps: AppConfig[]
  upstreams: ReadonlyMap<string, UpstreamConfig>
  refresh: RefreshSettings
  redis: {
    topology: RedisTopology
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
  /** The role of each app's client that a Keycloak token must carry to use the /admin routes. */
  adminRole: string
  /** Logins a client address may start per minute (each stores a transaction for a while); 0 is no limit. */
  loginsPerMinute: number
  logLevel: Env['LOG_LEVEL']
  /** Where GET /metrics is served (METRICS_HOST, METRICS_PORT), apart from the app; unset: no metrics. */
  metrics?: { host: string; port: number }
}
