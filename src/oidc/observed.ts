import { outcomeOf, type KeycloakOperation, type Metrics } from '../domain/metrics'
import type { OidcClient } from './client'

/**
 * The client with its calls to Keycloak counted: each failure by operation and the domain failure it
 * became (`keycloak_unavailable`, `client_refused`, `session_ended`, …; `error`: an answer that failed
 * validation), and each token exchange by purpose and outcome. Kept apart from client.ts, which
 * reads Keycloak's answers; this only watches what they come to.
 */
export function observedOidcClient(client: OidcClient, metrics: Pick<Metrics, 'keycloakError' | 'exchange'>) {
  const watch = <R>(operation: KeycloakOperation, call: Promise<R>): Promise<R> =>
    call.catch((err: unknown) => {
      metrics.keycloakError(operation, outcomeOf(err))
      throw err
    })
  return {
    ...client,
    codeGrant: (callbackUrl, checks) => watch('code', client.codeGrant(callbackUrl, checks)),
    logoutAtKeycloak: (refreshToken, dpopKey?) => watch('logout', client.logoutAtKeycloak(refreshToken, dpopKey)),
    refresh: (refreshToken, dpopKey?) => watch('refresh', client.refresh(refreshToken, dpopKey)),
    async exchange(subjectToken, params) {
      const purpose = params.requested === 'refresh_token' ? 'handoff' : 'upstream'
      try {
        const grant = await watch('exchange', client.exchange(subjectToken, params))
        metrics.exchange(purpose, 'ok')
        return grant
      } catch (err) {
        metrics.exchange(purpose, outcomeOf(err))
        throw err
      }
    },
    clientCredentials: () => watch('client_credentials', client.clientCredentials()),
    revoke: (token, dpopKey?) => watch('revoke', client.revoke(token, dpopKey)),
    honours: (refreshToken) => watch('introspect', client.honours(refreshToken)),
  } satisfies OidcClient
}
