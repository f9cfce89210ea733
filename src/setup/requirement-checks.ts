import type { CheckedApp, Finding } from './findings'
import { REQUIRE_DPOP, REQUIRE_PAR, type ClientState } from './realm-state'

/** Something a client can require of every request, which keyward does when configured to. */
interface Requirement {
  attribute: string
  does: (app: CheckedApp) => boolean
  /** What Keycloak refuses when the client requires it and keyward does not do it. */
  refused: string
  /** The keyward setting that does it. */
  setting: string
  /** What a client that does not require it still accepts. */
  accepted: string
  /** Where the setting is in Keycloak's admin console. */
  console: string
}

const REQUIREMENTS: Requirement[] = [
  {
    attribute: REQUIRE_PAR,
    does: (app) => app.par,
    refused:
      'the client requires pushed authorization requests (PAR), and keyward does not push its logins: Keycloak refuses every login',
    setting: 'set OIDC_PAR=true (the middleware: keycloak.par; a KEYWARD_CONFIG app: "par": true)',
    accepted:
      'keyward pushes its logins (PAR), but the client does not require it: a login sent without the push is still accepted',
    console: 'turn on "Pushed authorization request required" (Advanced tab)',
  },
  {
    attribute: REQUIRE_DPOP,
    does: (app) => app.dpop,
    refused:
      'the client requires DPoP-bound tokens, and keyward sends no DPoP proofs: Keycloak refuses every login and refresh',
    setting: 'set OIDC_DPOP=true (the middleware: keycloak.dpop; a KEYWARD_CONFIG app: "dpop": true)',
    accepted:
      'keyward binds its tokens to keys (DPoP), but the client does not require it: a grant without a proof still gets bearer tokens',
    console: `turn on "Require DPoP bound tokens" (${REQUIRE_DPOP})`,
  },
]

/**
 * A client that requires a kind of request (PAR, DPoP) refuses every other; one keyward makes them for
 * should require them, so that none can be made without.
 */
export function requirementFindings(app: CheckedApp, c: ClientState): Finding[] {
  const subject = `app ${app.id} (client ${app.clientId})`
  return REQUIREMENTS.flatMap((r): Finding[] => {
    const required = c.attributes[r.attribute] === 'true'
    if (required && !r.does(app)) return [{ severity: 'problem', subject, problem: r.refused, fix: r.setting }]
    if (!required && r.does(app)) {
      return [
        {
          severity: 'advice',
          subject,
          problem: r.accepted,
          fix: r.console,
          change: { kind: 'set-attributes', clientId: app.clientId, attributes: { [r.attribute]: 'true' } },
        },
      ]
    }
    return []
  })
}
