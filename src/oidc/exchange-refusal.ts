/**
 * What Keycloak's refusal of a token exchange means, and the change that fixes it. Keycloak's words
 * (`error_description`) are matched as Keycloak 26 writes them (StandardTokenExchangeProvider,
 * AbstractTokenExchangeProvider, TokenExchangeGrantType); anything else is passed on as it came.
 */
export interface ExchangeRefusal {
  /** The subject token is no longer honoured: the session it came from has ended. */
  sessionEnded: boolean
  message: string
}

interface Clients {
  /** The client asking for the exchange: the app the session is handed to. */
  clientId: string
  /** The client the subject token was issued to: the app the session comes from. */
  subjectClientId: string
}

// The first match wins: "Public client is not allowed to exchange token" is not V1's "not allowed to exchange".
const FIXES: { match: RegExp; fix: (c: Clients) => string }[] = [
  {
    match: /standard token exchange is not enabled/i,
    fix: (c) => `turn on "Standard token exchange" (standard.token.exchange.enabled) on client ${c.clientId}`,
  },
  {
    match: /requested_token_type unsupported/i,
    fix: (c) =>
      `set "Allow refresh token in Standard Token Exchange" to "Same session" ` +
      `(standard.token.exchange.enableRefreshRequestedTokenType=SAME_SESSION) on client ${c.clientId}`,
  },
  {
    match: /not within the token audience/i,
    fix: (c) => `give client ${c.subjectClientId} an Audience mapper that puts ${c.clientId} in its access tokens' aud`,
  },
  {
    match: /requested audience not available/i,
    fix: (c) =>
      `give client ${c.clientId} an Audience mapper for the requested audience (an exchange narrows aud, never widens it)`,
  },
  {
    match: /public client/i,
    fix: (c) => `make client ${c.clientId} confidential ("Client authentication" on) and configure its secret`,
  },
  {
    match: /not allowed to exchange/i,
    fix: (c) =>
      `(legacy token exchange) give client ${c.clientId} the token-exchange permission on ${c.subjectClientId}`,
  },
  {
    match: /creating a new session is needed/i,
    fix: () => 'hand over from an online session: an offline session cannot be handed over',
  },
]

export function exchangeRefusal(
  refusal: { error: string; description?: string; status: number },
  clients: Clients,
): ExchangeRefusal {
  const words = refusal.description ? `${refusal.error}: ${refusal.description}` : refusal.error
  // "Invalid token": the subject token expired or its Keycloak session ended.
  if (/^invalid token$/i.test(refusal.description ?? '') || refusal.error === 'invalid_grant') {
    return { sessionEnded: true, message: 'Keycloak ended the session this one would be handed from; log in again.' }
  }
  if (refusal.error === 'unsupported_grant_type') {
    return {
      sessionEnded: false,
      message: `Keycloak refused the token exchange (${words}): token exchange is not enabled on this Keycloak.`,
    }
  }
  const fix = FIXES.find((f) => f.match.test(refusal.description ?? ''))?.fix(clients)
  return {
    sessionEnded: false,
    message: `Keycloak refused the token exchange as ${clients.clientId} (${words})${fix ? `; to fix: ${fix}` : ''}.`,
  }
}

/** Keycloak's refusal of a client-credentials grant: the client has no service account. */
export const serviceAccountRefusal = (clientId: string, refusal: { error: string; description?: string }): string =>
  `Keycloak gave client ${clientId} no token of its own (${refusal.error}: ${refusal.description ?? ''}); to fix: ` +
  'turn on "Service accounts roles" on it (no role needed), for handoffs between deployments and upstreams with token "client".'
