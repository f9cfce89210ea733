import { ClientError, ResponseBodyError } from 'openid-client'

/**
 * How a failed call to Keycloak should be treated:
 * - `rejected`: Keycloak answered with an OAuth error (`invalid_grant`, `access_denied`, …): final.
 * - `transient`: Keycloak was unreachable, timed out or failed (5xx): retry later, keep state.
 * - `invalid`: the answer failed validation (issuer, signature, nonce, …): final, and suspicious.
 */
export type Failure = { kind: 'rejected'; error: string; status: number } | { kind: 'transient' } | { kind: 'invalid' }

export function classifyError(err: unknown): Failure {
  if (err instanceof ResponseBodyError) {
    return err.status >= 500 ? { kind: 'transient' } : { kind: 'rejected', error: err.error, status: err.status }
  }
  if (err instanceof TypeError && err.message === 'fetch failed') return { kind: 'transient' }
  if (err instanceof ClientError) {
    if (err.code === 'OAUTH_TIMEOUT' || err.code === 'OAUTH_ABORT') return { kind: 'transient' }
    if (err.cause instanceof Response && err.cause.status >= 500) return { kind: 'transient' }
  }
  if (err instanceof DOMException && (err.name === 'TimeoutError' || err.name === 'AbortError')) return { kind: 'transient' }
  return { kind: 'invalid' }
}
