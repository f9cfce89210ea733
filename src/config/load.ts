/**
 * The standalone server's configuration, from its environment: the options of the middleware, each
 * spelled as a variable (config/names.ts), checked the same way, plus what only a server has.
 */
import { appsFromFile } from './app-file'
import { appFromOptions, type AppRules } from './apps'
import { engineConfig, parseOptions } from './build'
import { ConfigError } from './error'
import { ENV_OPTIONS, envNaming, optionsFromEnv } from './names'
import { APP_OPTIONS, oneAppSchema, sharedSchema, type SharedOptions } from './schema'
import { serverEnvSchema, type ServerEnv } from './server-env'
import type { AppConfig, ServerConfig } from './types'

export { ConfigError } from './error'
export type { AppConfig, ServerConfig } from './types'

/** Rules between server variables: each timeout must outlast what it waits for. */
function serverTimingProblems(s: ServerEnv, refreshLockTtlMs: number): string[] {
  const problems: string[] = []
  if (s.HTTP_HEADERS_TIMEOUT_SECONDS > s.HTTP_REQUEST_TIMEOUT_SECONDS) {
    problems.push(
      `HTTP_HEADERS_TIMEOUT_SECONDS: the headers come with the request, so at most HTTP_REQUEST_TIMEOUT_SECONDS ` +
        `(${s.HTTP_REQUEST_TIMEOUT_SECONDS}) (got ${s.HTTP_HEADERS_TIMEOUT_SECONDS})`,
    )
  }
  if (s.SHUTDOWN_GRACE_SECONDS * 1000 <= refreshLockTtlMs) {
    problems.push(
      `SHUTDOWN_GRACE_SECONDS: must exceed REFRESH_LOCK_TTL_MS (${refreshLockTtlMs} ms), so a refresh under way ` +
        `at shutdown can store its tokens; e.g. ${Math.ceil(refreshLockTtlMs / 1000) + 5} (got ${s.SHUTDOWN_GRACE_SECONDS})`,
    )
  }
  return problems
}

/** The metrics listener, which must never be the app's. */
function metricsFrom(s: ServerEnv, problems: string[]): ServerConfig['metrics'] {
  if (s.METRICS_PORT === undefined) return undefined
  if (s.METRICS_PORT === s.PORT) {
    problems.push(
      `METRICS_PORT: must differ from PORT, so metrics never reach the app's listener (got ${s.METRICS_PORT})`,
    )
  }
  return { host: s.METRICS_HOST, port: s.METRICS_PORT }
}

/** The forward-auth listener, which hands out identities (and tokens) to the proxy alone, never the app's. */
function forwardAuthFrom(s: ServerEnv, problems: string[]): ServerConfig['forwardAuth'] {
  if (s.FORWARD_AUTH_PORT === undefined) return undefined
  if (s.FORWARD_AUTH_PORT === s.PORT || s.FORWARD_AUTH_PORT === s.METRICS_PORT) {
    problems.push(
      `FORWARD_AUTH_PORT: must differ from PORT and METRICS_PORT, so only the reverse proxy reaches it (got ${s.FORWARD_AUTH_PORT})`,
    )
  }
  return {
    host: s.FORWARD_AUTH_HOST,
    port: s.FORWARD_AUTH_PORT,
    headers: s.FORWARD_AUTH_HEADERS,
    accessToken: s.FORWARD_AUTH_ACCESS_TOKEN,
  }
}

const rulesOf = (o: SharedOptions): AppRules => ({
  devAllowHttp: o.devAllowHttp,
  upstreams: Object.keys(o.upstreams),
  naming: envNaming,
})

/**
 * The options the variables set, and the apps: the one app the variables describe, or those of the
 * KEYWARD_CONFIG file (whose app variables are then refused, so none is thought to be used).
 */
function optionsAndApps(
  file: string | undefined,
  env: NodeJS.ProcessEnv,
  problems: string[],
): { options?: SharedOptions; apps: AppConfig[]; raw: Record<string, unknown> } {
  const raw = optionsFromEnv(env)
  if (!file) {
    const one = parseOptions(oneAppSchema, raw, envNaming, problems)
    return { options: one, apps: one ? [appFromOptions(one, rulesOf(one), problems)] : [], raw }
  }
  const appVariables = Object.entries(ENV_OPTIONS).filter(([, path]) =>
    APP_OPTIONS.some((option) => path === option || path.startsWith(`${option}.`)),
  )
  for (const [name] of appVariables.filter(([name]) => env[name])) {
    problems.push(`${name}: with KEYWARD_CONFIG, each app's settings are in that file; unset ${name}`)
  }
  const shared = parseOptions(sharedSchema, raw, envNaming, problems)
  return { options: shared, apps: shared ? appsFromFile(file, env, rulesOf(shared), problems) : [], raw }
}

/** Reads and checks the environment (and the KEYWARD_CONFIG file); throws a `ConfigError` naming every wrong variable and a right value. */
export function loadConfig(env: NodeJS.ProcessEnv): ServerConfig {
  const problems: string[] = []
  const set = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== '')) // `NAME=` counts as unset
  const server = parseOptions(serverEnvSchema, set, (name) => name, problems)
  const { options, apps, raw } = optionsAndApps(env.KEYWARD_CONFIG || undefined, env, problems)
  if (!server || !options) throw new ConfigError(problems)
  const config = engineConfig(options, apps, raw, envNaming, problems)
  problems.push(...serverTimingProblems(server, options.refresh.lockTtlMs))
  const metrics = metricsFrom(server, problems)
  const forwardAuth = forwardAuthFrom(server, problems)
  const bound = apps.filter((app) => app.dpop && !app.remote).map((app) => app.id)
  if (forwardAuth?.accessToken && bound.length) {
    problems.push(
      `FORWARD_AUTH_ACCESS_TOKEN: must be false while an app binds its tokens to keys (DPoP: ${bound.join(', ')}), as the proxy cannot make the proofs they need`,
    )
  }
  if (server.APPS_INDEX_HOST && apps.some((app) => app.publicUrl.host === server.APPS_INDEX_HOST)) {
    problems.push(
      `APPS_INDEX_HOST: must be a host no app has, as each app's host shows that app (got ${JSON.stringify(server.APPS_INDEX_HOST)})`,
    )
  }
  if (problems.length) throw new ConfigError(problems)
  return {
    ...config,
    redis: { ...config.redis, topology: config.redis.topology! },
    host: server.HOST,
    port: server.PORT,
    workers: server.WORKERS,
    trustProxy: server.TRUST_PROXY === 'false' ? false : Number(server.TRUST_PROXY),
    staticDir: server.STATIC_DIR,
    appsIndexHost: server.APPS_INDEX_HOST,
    shutdownGraceSeconds: server.SHUTDOWN_GRACE_SECONDS,
    http: {
      headersTimeoutMs: server.HTTP_HEADERS_TIMEOUT_SECONDS * 1000,
      requestTimeoutMs: server.HTTP_REQUEST_TIMEOUT_SECONDS * 1000,
      maxHeaderBytes: server.HTTP_MAX_HEADER_BYTES,
      maxConnections: server.HTTP_MAX_CONNECTIONS,
      maxWebSockets: server.WEBSOCKET_MAX_CONNECTIONS,
    },
    metrics,
    forwardAuth,
  }
}
