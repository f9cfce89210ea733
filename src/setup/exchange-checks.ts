import type { CheckedApp, Finding } from './findings'
import type { Change, ClientState, RealmState } from './realm-state'

// What token exchange needs of the realm: handoffs (into the target's client) and per-upstream tokens.

const V2 = 'standard.token.exchange.enabled'
const V2_REFRESH = 'standard.token.exchange.enableRefreshRequestedTokenType'

/** Standard Token Exchange (V2) into `to`: its switch, refresh tokens within the same session. */
function standardFindings(
  to: CheckedApp,
  toClient: ClientState,
  needs: (problem: string, fix: string, change?: Change) => void,
): void {
  if (toClient.attributes[V2] !== 'true') {
    needs(
      `Standard token exchange is off on ${to.clientId}`,
      `turn on "Standard token exchange" (${V2}) on ${to.clientId}`,
      {
        kind: 'set-attributes',
        clientId: to.clientId,
        attributes: { [V2]: 'true' },
      },
    )
  }
  if (toClient.attributes[V2_REFRESH] !== 'SAME_SESSION') {
    needs(
      `${to.clientId} may not get a refresh token by exchange, so its session could not refresh on its own`,
      `set "Allow refresh token in Standard Token Exchange" to "Same session" (${V2_REFRESH}=SAME_SESSION) on ${to.clientId}`,
      { kind: 'set-attributes', clientId: to.clientId, attributes: { [V2_REFRESH]: 'SAME_SESSION' } },
    )
  }
  if (toClient.attributes['use.refresh.tokens'] === 'false') {
    needs(`${to.clientId} does not use refresh tokens`, `turn on "Use refresh tokens" on ${to.clientId}`, {
      kind: 'set-attributes',
      clientId: to.clientId,
      attributes: { 'use.refresh.tokens': 'true' },
    })
  }
}

/**
 * What legacy token exchange (V1) into `to` needs: the feature, and `to`'s own V2 switch off (else V2
 * answers). Nothing else: V1 checks a token-exchange permission only for exchanges to another
 * audience (V1TokenExchangeProvider.validateAudience); a confidential client exchanging into itself
 * needs only to be in the subject token's audience, checked with the V2 ones.
 */
function legacyFindings(to: CheckedApp, toClient: ClientState, state: RealmState): [string, string, Change?][] {
  const out: [string, string, Change?][] = []
  if (state.legacyExchange === false) {
    out.push([
      "Keycloak's legacy token exchange (feature token-exchange) is off",
      'start Keycloak with --features=token-exchange (no fine-grained permission is needed), or use Standard Token Exchange (tokenExchange "standard")',
    ])
  }
  if (toClient.attributes[V2] === 'true') {
    out.push([
      `Standard token exchange is on for ${to.clientId}, so Keycloak answers with it rather than the legacy exchange`,
      `turn off "Standard token exchange" on ${to.clientId}, or set its tokenExchange to "standard"`,
      { kind: 'set-attributes', clientId: to.clientId, attributes: { [V2]: 'false' } },
    ])
  }
  return out
}

/** What a handoff from `from` to `to` needs of Keycloak: Standard Token Exchange (V2), or the legacy V1. */
export function handoffFindings(
  from: CheckedApp,
  fromClient: ClientState,
  to: CheckedApp,
  toClient: ClientState,
  state: RealmState,
): Finding[] {
  const out: Finding[] = []
  const subject = `handoff ${from.id} → ${to.id}`
  const needs = (problem: string, fix: string, change?: Change) =>
    out.push({ severity: 'problem', subject, problem, fix, change })
  if (to.tokenExchange === 'legacy') {
    for (const [problem, fix, change] of legacyFindings(to, toClient, state)) needs(problem, fix, change)
  } else {
    standardFindings(to, toClient, needs)
  }
  if (!fromClient.audiences.includes(to.clientId)) {
    needs(
      `${to.clientId} is not in the audience of ${from.clientId}'s access tokens, so Keycloak refuses the exchange ("Client is not within the token audience")`,
      `add an Audience mapper for ${to.clientId} to ${from.clientId} ("Client scopes" → dedicated scope → "Add mapper" → Audience)`,
      { kind: 'add-audience', clientId: from.clientId, audience: to.clientId },
    )
  }
  return out
}

/** What per-upstream tokens need of the app's client: the V2 switch (it exchanges its own tokens) and each audience. */
export function upstreamFindings(app: CheckedApp, c: ClientState, state: RealmState): Finding[] {
  if (app.upstreamAudiences.length === 0) return []
  const out: Finding[] = []
  const subject = `app ${app.id} (client ${app.clientId}): upstream tokens`
  if (c.attributes[V2] !== 'true') {
    out.push({
      severity: 'problem',
      subject,
      problem: `Standard token exchange is off on ${app.clientId}, so it cannot get tokens for its upstreams' audiences`,
      fix: `turn on "Standard token exchange" (${V2}) on ${app.clientId}`,
      change: { kind: 'set-attributes', clientId: app.clientId, attributes: { [V2]: 'true' } },
    })
  }
  for (const audience of app.upstreamAudiences) {
    if (!state.audienceClients.has(audience)) {
      out.push({
        severity: 'problem',
        subject,
        problem: `realm ${state.realm} has no client ${audience}, the audience an upstream asks for`,
        fix: `create a client ${audience} for the upstream (no flows needed), or correct the upstream's audience`,
      })
    } else if (!c.audiences.includes(audience)) {
      out.push({
        severity: 'problem',
        subject,
        problem: `${audience} is not in the audience of ${app.clientId}'s access tokens ("Requested audience not available")`,
        fix: `add an Audience mapper for ${audience} to ${app.clientId}`,
        change: { kind: 'add-audience', clientId: app.clientId, audience },
      })
    }
  }
  return out
}
