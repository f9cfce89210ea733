/**
 * Who may call what, read from an access token's claims: the role and claim rules of upstreams
 * (configuration) and of the middleware's guards, one implementation. Each check answers what is
 * missing, said for people (it becomes a 403's detail), or undefined when nothing is.
 */
import type { ClaimRule, ClaimValue, RoleRule } from '../config/types'

type Claims = Record<string, unknown>

/**
 * The roles an access token of `clientId`'s grants, as keycloak-connect's `protect()` named them:
 * `realm:<role>` for the realm's, `<client>:<role>` for a client's, and `<role>` alone for `clientId`'s own.
 */
function rolesOf(claims: Claims, clientId: string): Set<string> {
  const roles = new Set<string>()
  const realm = (claims.realm_access as { roles?: unknown } | undefined)?.roles
  for (const role of Array.isArray(realm) ? realm : []) roles.add(`realm:${String(role)}`)
  const clients = (claims.resource_access ?? {}) as Record<string, { roles?: unknown }>
  for (const [client, access] of Object.entries(clients)) {
    for (const role of Array.isArray(access?.roles) ? access.roles : []) {
      roles.add(`${client}:${String(role)}`)
      if (client === clientId) roles.add(String(role)) // the app's own client's role, by its name alone
    }
  }
  return roles
}

/** The roles an access token of `clientId`'s grants, each once: the app's own by their name alone. */
export function grantedRoles(claims: Claims, clientId: string): string[] {
  return [...rolesOf(claims, clientId)].filter((role) => !role.startsWith(`${clientId}:`))
}

/** Whether an access token of `clientId`'s grants any of `roles` (named as `rolesOf` names them). */
export function holdsAnyRole(claims: Claims, clientId: string, roles: readonly string[]): boolean {
  const held = rolesOf(claims, clientId)
  return roles.some((role) => held.has(role))
}

/** What `rule` finds missing among the roles the token grants. */
export function missingRoles(claims: Claims, clientId: string, rule: RoleRule): string | undefined {
  const held = rolesOf(claims, clientId)
  if ('anyOf' in rule) {
    if (rule.anyOf.some((role) => held.has(role))) return undefined
    return rule.anyOf.length === 1
      ? `The role ${rule.anyOf[0]} is required.`
      : `One of the roles ${rule.anyOf.join(', ')} is required.`
  }
  const lacking = rule.allOf.filter((role) => !held.has(role))
  if (!lacking.length) return undefined
  return `The role${lacking.length > 1 ? 's' : ''} ${lacking.join(', ')} ${lacking.length > 1 ? 'are' : 'is'} required.`
}

const shown = (values: readonly ClaimValue[]) => values.map((v) => JSON.stringify(v)).join(', ')

/** What one claim's `rule` finds missing in `has` (the claim's value), said for people. */
function missingClaim(name: string, has: unknown, rule: ClaimRule): string | undefined {
  const holds = (value: ClaimValue) => (Array.isArray(has) ? has.includes(value) : has === value)
  if (typeof rule === 'object' && !Array.isArray(rule)) {
    if ('endsWith' in rule) {
      return typeof has === 'string' && has.endsWith(rule.endsWith)
        ? undefined
        : `The claim ${name} must end with ${JSON.stringify(rule.endsWith)}.`
    }
    const { anyOf } = rule as { anyOf: readonly ClaimValue[] }
    return anyOf.some(holds)
      ? undefined
      : `The claim ${name} must ${Array.isArray(has) ? 'hold' : 'be'} one of ${shown(anyOf)}.`
  }
  const wanted = (Array.isArray(rule) ? rule : [rule]) as readonly ClaimValue[]
  return wanted.every(holds)
    ? undefined
    : `The claim ${name} must ${Array.isArray(has) ? 'hold' : 'be'} ${shown(wanted)}.`
}

/** What `rules` (claim name → rule) find missing in `claims`: the first claim that fails. */
export function missingClaims(claims: Claims, rules: Readonly<Record<string, ClaimRule>>): string | undefined {
  for (const [name, rule] of Object.entries(rules)) {
    const missing = missingClaim(name, claims[name], rule)
    if (missing) return missing
  }
  return undefined
}
