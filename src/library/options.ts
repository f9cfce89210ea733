import type { Logger } from 'pino'
import { appFromOptions, withSiblings } from '../config/apps'
import { engineConfig, parseOptions } from '../config/build'
import { ConfigError } from '../config/error'
import { optionNaming } from '../config/names'
import { oneAppSchema } from '../config/schema'
import type { Config } from '../config/types'
import type { KeywardOptions } from './api-options'

/**
 * The engine's configuration from the middleware's options: the server's schema and rules, each
 * problem named by the option's path (`keycloak.url: …`). Throws a `ConfigError` naming them all.
 */
export function configFromOptions(options: KeywardOptions): {
  config: Config
  logger?: Logger
  onLogin?: KeywardOptions['onLogin']
} {
  const problems: string[] = []
  const { logger, onLogin, redis, ...rest } = options as KeywardOptions & Record<string, unknown>
  if (onLogin !== undefined && typeof onLogin !== 'function') problems.push('onLogin: a function of the login')
  const raw = { ...rest, ...(redis === undefined ? {} : { redis: typeof redis === 'string' ? { url: redis } : redis }) }
  const parsed = parseOptions(oneAppSchema, raw, optionNaming, problems)
  if (!parsed) throw new ConfigError(problems)
  const rules = { devAllowHttp: parsed.devAllowHttp, upstreams: Object.keys(parsed.upstreams), naming: optionNaming }
  const apps = withSiblings(appFromOptions(parsed, rules, problems), parsed, rules, problems)
  const config = engineConfig(parsed, apps, raw, optionNaming, problems)
  if (problems.length) throw new ConfigError(problems)
  return { config, logger, onLogin }
}
