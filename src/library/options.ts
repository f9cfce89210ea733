import type { Logger } from 'pino'
import { appFromOptions } from '../config/apps'
import { engineConfig, parseOptions } from '../config/build'
import { ConfigError } from '../config/error'
import { optionNaming } from '../config/names'
import { oneAppSchema } from '../config/schema'
import type { Config } from '../config/types'
import type { KeywardOptions } from './api-options'

const PREFIX = /^\/[A-Za-z0-9._~-]+(\/[A-Za-z0-9._~-]+)*$/

/**
 * The engine's configuration from the middleware's options: the server's schema and rules, each
 * problem named by the option's path (`keycloak.url: …`). Throws a `ConfigError` naming them all.
 */
export function configFromOptions(options: KeywardOptions): { config: Config; logger?: Logger } {
  const problems: string[] = []
  const { routes, logger, redis, ...rest } = options as KeywardOptions & Record<string, unknown>
  const prefix = routes?.prefix ?? '/auth'
  if (!PREFIX.test(prefix) || prefix.split('/').some((s) => s === '.' || s === '..')) {
    problems.push(`routes.prefix: a path such as /auth, without a slash at its end (got ${JSON.stringify(prefix)})`)
  }
  const raw = { ...rest, ...(redis === undefined ? {} : { redis: typeof redis === 'string' ? { url: redis } : redis }) }
  const parsed = parseOptions(oneAppSchema, raw, optionNaming, problems)
  if (!parsed) throw new ConfigError(problems)
  const rules = { devAllowHttp: parsed.devAllowHttp, upstreams: Object.keys(parsed.upstreams), naming: optionNaming }
  const app = appFromOptions(parsed, rules, problems, prefix)
  const config = engineConfig(parsed, [app], raw, optionNaming, problems)
  if (problems.length) throw new ConfigError(problems)
  return { config, logger }
}
