/**
 * How strongly a user authenticated, as the access token says (Keycloak's Level of Authentication):
 * its `acr`, ranked by the realm's `acr.loa.map`, and its `auth_time`. A step-up is the login that
 * raises them.
 */
import type { AuthLevelRule } from '../config/types'

/** An `acr`'s level: as the realm's map names it, else its own number ("0", "1"…); -1 for neither. */
export function levelOf(acr: unknown, levels: Readonly<Record<string, number>>): number {
  if (typeof acr !== 'string') return -1
  if (Object.hasOwn(levels, acr)) return levels[acr]
  return /^\d{1,3}$/.test(acr) ? Number(acr) : -1
}

/** What `claims` lack of `rule` at `nowMs`, said for people; undefined when they meet it. */
export function missingAuthLevel(
  claims: Record<string, unknown>,
  rule: AuthLevelRule,
  levels: Readonly<Record<string, number>>,
  nowMs: number,
): string | undefined {
  if (rule.acr !== undefined && levelOf(claims.acr, levels) < levelOf(rule.acr, levels)) {
    return `This needs a stronger authentication (acr ${rule.acr}); log in again with it.`
  }
  const authTime = claims.auth_time
  if (
    rule.maxAgeSeconds !== undefined &&
    !(typeof authTime === 'number' && nowMs / 1000 - authTime <= rule.maxAgeSeconds)
  ) {
    return `This needs an authentication within the last ${rule.maxAgeSeconds} seconds; log in again.`
  }
  return undefined
}

/** The login parameters that ask Keycloak for `rule`. */
export const stepUpParams = (rule: AuthLevelRule): Record<string, string> => ({
  ...(rule.acr !== undefined ? { acr_values: rule.acr } : {}),
  ...(rule.maxAgeSeconds !== undefined ? { max_age: String(rule.maxAgeSeconds) } : {}),
})
