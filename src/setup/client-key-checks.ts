import type { CheckedApp, Finding } from './findings'
import { JWKS_URL, USE_JWKS_URL, type ClientState } from './realm-state'

/** Where keyward serves a private_key_jwt app's public keys (`<authPath>/jwks`). */
export const jwksUrl = (app: CheckedApp): string => new URL(`${app.authPath}/jwks`, app.publicUrl).href

/** A private_key_jwt app: Keycloak takes signed assertions from the client, checked with the keys keyward serves. */
export function clientKeyFindings(app: CheckedApp, c: ClientState): Finding[] {
  const subject = `app ${app.id} (client ${app.clientId})`
  const url = jwksUrl(app)
  const out: Finding[] = []
  if (c.clientAuthenticatorType !== 'client-jwt') {
    out.push({
      severity: 'problem',
      subject,
      problem: `the client authenticates with ${c.clientAuthenticatorType}, but keyward signs its calls with a key (private_key_jwt)`,
      fix: 'set "Client Authenticator" to "Signed JWT" (Credentials tab)',
      change: { kind: 'set-client', clientId: app.clientId, fields: { clientAuthenticatorType: 'client-jwt' } },
    })
  }
  const registered = c.attributes['use.jwks.string'] === 'true'
  const signing = app.clientKeys[0]?.kid
  if (!registered && (c.attributes[USE_JWKS_URL] !== 'true' || c.attributes[JWKS_URL] !== url)) {
    out.push({
      severity: 'problem',
      subject,
      problem: `Keycloak does not fetch keyward's keys from ${url}, so it cannot check keyward's calls`,
      fix: `turn on "Use JWKS URL" and set "JWKS URL" to ${url} (Keys tab)`,
      change: {
        kind: 'set-attributes',
        clientId: app.clientId,
        attributes: { [USE_JWKS_URL]: 'true', [JWKS_URL]: url },
      },
    })
  } else if (c.jwksKids === undefined) {
    out.push({
      severity: 'advice',
      subject,
      problem: `the doctor could not read the client's keys${registered ? '' : ` at ${url}`}, so it cannot tell whether Keycloak knows keyward's key ${signing}`,
      fix: registered ? "check the client's JWKS (Keys tab)" : `start keyward, and let Keycloak reach ${url}`,
    })
  } else if (signing && !c.jwksKids.includes(signing)) {
    out.push({
      severity: 'problem',
      subject,
      problem: `the keys Keycloak checks the client's calls with (${c.jwksKids.join(', ') || 'none'}) lack keyward's signing key ${signing}`,
      fix: registered
        ? `add keyward's key ${signing} to the client's JWKS (Keys tab)`
        : `make ${url} serve keyward's keys`,
    })
  }
  return out
}
