import type { CheckedApp, Finding } from './findings'
import type { RealmState } from './realm-state'

/** The Keycloak releases keyward is tested against in CI (test/serial/keycloak-versions.test.ts and the rest). */
export const TESTED_KEYCLOAK = { oldest: '26.4.0', newest: '26.7.3' } as const

/** Standard Token Exchange (V2), which handoffs and upstream audiences use unless `tokenExchange` is legacy. */
const STANDARD_EXCHANGE_SINCE = '26.2.0'

/** `a` against `b`, both `major.minor.patch` (anything after a `-` ignored): negative when older. */
export function compareVersions(a: string, b: string): number {
  const parts = (v: string) =>
    v
      .split('-', 1)[0]
      .split('.')
      .map((n) => Number(n) || 0)
  const [x, y] = [parts(a), parts(b)]
  for (let i = 0; i < 3; i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0)
  return 0
}

/**
 * What the server's version says (when the admin may read it): a feature keyward is configured for that
 * needs a newer Keycloak is a problem; a version outside what keyward is tested against, advice.
 */
export function versionFindings(apps: CheckedApp[], state: RealmState): Finding[] {
  const version = state.keycloakVersion
  if (!version) return []
  const out: Finding[] = []
  const subject = `Keycloak ${version}`
  const exchanging = apps.filter(
    (a) => !a.remote && a.tokenExchange === 'standard' && (a.handoffTargets.size > 0 || a.upstreamAudiences.length > 0),
  )
  if (exchanging.length && compareVersions(version, STANDARD_EXCHANGE_SINCE) < 0) {
    out.push({
      severity: 'problem',
      subject,
      problem: `Standard Token Exchange, used by ${exchanging.map((a) => a.id).join(', ')} (handoffs, upstream audiences), needs Keycloak ${STANDARD_EXCHANGE_SINCE} or newer`,
      fix: `upgrade Keycloak to ${TESTED_KEYCLOAK.newest}, or set tokenExchange "legacy" with the token-exchange feature`,
    })
  }
  const { oldest, newest } = TESTED_KEYCLOAK
  if (compareVersions(version, oldest) < 0 || compareVersions(version.split('.').slice(0, 2).join('.'), newest) > 0) {
    out.push({
      severity: 'advice',
      subject,
      problem: `keyward is tested against Keycloak ${oldest} to ${newest}`,
      fix: `run a Keycloak in that range, or run keyward's tests against this one (KEYCLOAK_VERSION=${version} npm test)`,
    })
  }
  return out
}
