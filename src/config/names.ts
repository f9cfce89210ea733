/**
 * One configuration model, two spellings: the middleware's options (`keycloak.url`) and the standalone
 * server's environment variables (`KEYCLOAK_URL`). Each variable names one option; a problem found in
 * an option is reported under the name the operator wrote.
 */
export const ENV_OPTIONS = {
  PUBLIC_URL: 'publicUrl',
  APP_ID: 'appId',
  KEYCLOAK_URL: 'keycloak.url',
  KEYCLOAK_REALM: 'keycloak.realm',
  KEYCLOAK_BACKCHANNEL_URL: 'keycloak.backchannelUrl',
  OIDC_TIMEOUT_SECONDS: 'keycloak.timeoutSeconds',
  KEYCLOAK_ACR_LEVELS: 'keycloak.acrLevels',
  OIDC_CLIENT_ID: 'keycloak.clientId',
  OIDC_CLIENT_SECRET: 'keycloak.clientSecret',
  OIDC_CLIENT_SECRET_NEXT: 'keycloak.nextClientSecret',
  OIDC_CLIENT_AUTH: 'keycloak.clientAuth',
  OIDC_CLIENT_KEY_FILE: 'keycloak.clientKeyFile',
  OIDC_CLIENT_KEY_NEXT_FILE: 'keycloak.nextClientKeyFile',
  OIDC_PAR: 'keycloak.par',
  OIDC_DPOP: 'keycloak.dpop',
  OIDC_SCOPES: 'keycloak.scopes',
  DEV_ALLOW_HTTP: 'devAllowHttp',
  BACKCHANNEL_LOGOUT_URL: 'backchannelLogoutUrl',
  ALLOWED_ORIGINS: 'allowedOrigins',
  MOBILE_REDIRECT_URIS: 'mobileRedirectUris',
  POST_LOGOUT_PATH: 'postLogoutPath',
  COOKIE_NAME: 'cookie.name',
  COOKIE_SAMESITE: 'cookie.sameSite',
  LOGIN_PROMPTS: 'login.prompts',
  LOGIN_HINT: 'login.loginHint',
  LOGIN_IDP_HINTS: 'login.idpHints',
  LOGIN_UI_LOCALES: 'login.uiLocales',
  LOGIN_ACR_VALUES: 'login.acrValues',
  LOGIN_MAX_AGE: 'login.maxAge',
  LOGIN_SCOPES: 'login.scopes',
  UPSTREAMS: 'upstreams',
  UPSTREAM_TIMEOUT_SECONDS: 'upstreamTimeoutSeconds',
  REFRESH_SKEW_SECONDS: 'refresh.skewSeconds',
  REFRESH_SKEW_FRACTION: 'refresh.skewFraction',
  REFRESH_LOCK_TTL_MS: 'refresh.lockTtlMs',
  REFRESH_WAIT_MS: 'refresh.waitMs',
  REFRESH_POLL_MS: 'refresh.pollMs',
  REDIS_URL: 'redis.url',
  REDIS_SENTINELS: 'redis.sentinels',
  REDIS_SENTINEL_MASTER: 'redis.sentinelMaster',
  REDIS_SENTINEL_USERNAME: 'redis.sentinelUsername',
  REDIS_SENTINEL_PASSWORD: 'redis.sentinelPassword',
  REDIS_CLUSTER_NODES: 'redis.clusterNodes',
  REDIS_USERNAME: 'redis.username',
  REDIS_PASSWORD: 'redis.password',
  REDIS_TLS: 'redis.tls',
  REDIS_TLS_CA_FILE: 'redis.tlsCaFile',
  REDIS_WAIT_REPLICAS: 'redis.waitReplicas',
  REDIS_WAIT_TIMEOUT_MS: 'redis.waitTimeoutMs',
  REDIS_PREFIX: 'redis.prefix',
  SESSION_CACHE_MS: 'redis.sessionCacheMs',
  SESSION_SECRET: 'secrets.session',
  TOKEN_ENCRYPTION_KEYS: 'secrets.tokenEncryptionKeys',
  LOGIN_TX_TTL_SECONDS: 'sessions.loginTtlSeconds',
  MOBILE_CODE_TTL_SECONDS: 'sessions.mobileCodeTtlSeconds',
  HANDOFF_CODE_TTL_SECONDS: 'sessions.handoffCodeTtlSeconds',
  SESSION_FALLBACK_TTL_SECONDS: 'sessions.fallbackTtlSeconds',
  OFFLINE_SESSION_IDLE_SECONDS: 'sessions.offlineIdleSeconds',
  SSO_SESSION_IDLE_SECONDS: 'sessions.ssoIdleSeconds',
  MAX_SESSIONS_PER_USER: 'sessions.maxPerUser',
  MAX_SESSIONS_PER_KEYCLOAK_SESSION: 'sessions.maxPerKeycloakSession',
  LOGIN_RATE_LIMIT: 'loginRateLimit',
  ADMIN_ROLE: 'adminRole',
  LOG_LEVEL: 'logLevel',
} as const

/** How a problem names an option: by its path (`keycloak.url`) or by the variable that sets it. */
export type Naming = (path: string) => string

/** The options whose values are never shown in a problem, only whether they are set. */
export const SECRET_OPTIONS: ReadonlySet<string> = new Set([
  'keycloak.clientSecret',
  'keycloak.nextClientSecret',
  'secrets.session',
  'secrets.tokenEncryptionKeys',
  'redis.url',
  'redis.password',
  'redis.sentinelPassword',
])

const VARIABLE_OF = new Map<string, string>(Object.entries(ENV_OPTIONS).map(([name, path]) => [path, name]))

/** The middleware's naming: the option's path as written in `keyward({ … })`, e.g. `siblings[0].id`. */
export const optionNaming: Naming = (path) => path.replace(/\.(\d+)(?=\.|$)/g, '[$1]')

/** The server's naming: the variable that sets the option, or the one that sets the option it lies within. */
export const envNaming: Naming = (path) => {
  for (let p = path; p; p = p.slice(0, Math.max(0, p.lastIndexOf('.')))) {
    const name = VARIABLE_OF.get(p)
    if (name) return name
  }
  return path
}

/** The nested options the environment's variables spell (empty ones count as unset). */
export function optionsFromEnv(env: NodeJS.ProcessEnv): Record<string, unknown> {
  // The areas that have required options, so that each missing variable is named, not its area.
  const options: Record<string, unknown> = { keycloak: {}, secrets: {} }
  for (const [name, path] of Object.entries(ENV_OPTIONS)) {
    const value = env[name]
    if (value === undefined || value === '') continue
    const parts = path.split('.')
    let at = options
    for (const part of parts.slice(0, -1)) at = (at[part] ??= {}) as Record<string, unknown>
    at[parts.at(-1)!] = value
  }
  return options
}

/** The value at a dotted `path` of nested options. */
export function valueAt(options: unknown, path: string): unknown {
  let at = options
  for (const part of path.split('.')) {
    if (at === null || typeof at !== 'object') return undefined
    at = (at as Record<string, unknown>)[part]
  }
  return at
}
