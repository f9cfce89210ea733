import type { AppConfig, AuthLevelRule } from '../config/types'
import { missingAuthLevel, stepUpParams } from '../domain/auth-level'
import { KeywardError } from './problem'

/** The path of `app`'s login that asks Keycloak for `rule` (the caller adds `&returnTo=`). */
export const stepUpLoginUrl = (app: AppConfig, rule: AuthLevelRule): string =>
  `${app.authPath}/login?${new URLSearchParams(stepUpParams(rule))}`

/**
 * Throws 401 `step_up_required` when the access token's `claims` fall short of `rule`, with the login
 * that raises them (problem+json `loginUrl`, and RFC 9470's `WWW-Authenticate` challenge).
 */
export function checkAuthLevel(
  claims: Record<string, unknown>,
  rule: AuthLevelRule,
  app: AppConfig,
  levels: Readonly<Record<string, number>>,
  now: number,
): void {
  const missing = missingAuthLevel(claims, rule, levels, now)
  if (!missing) return
  throw new KeywardError('step_up_required', missing, {
    stepUp: { loginUrl: stepUpLoginUrl(app, rule), acrValues: rule.acr, maxAge: rule.maxAgeSeconds },
  })
}
