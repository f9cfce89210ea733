import { ClientError, ResponseBodyError } from 'openid-client'

/**
 * How a failed call to Keycloak should be treated:
 * - `rejected`: Keycloak answered with an OAuth error (`invalid_grant`, `access_denied`, …): final.
 * - `transient`: Keycloak was unreachable, timed out or failed (5xx): retry later, keep state.
 * - `invalid`: the answer failed validation (issuer, signature, nonce, …): final, and suspicious.
 */
export type Failure =
  | { kind: 'rejected'; error: string; description?: string; status: number }
  | { kind: 'transient' }
  | { kind: 'invalid' }

export function classifyError(err: unknown): Failure {
  if (err instanceof ResponseBodyError) {
    if (err.status >= 500) return { kind: 'transient' }
    return { kind: 'rejected', error: err.error, description: err.error_description, status: err.status }
  }
  if (err instanceof ClientError) {
    if (err.code === 'OAUTH_TIMEOUT' || err.code === 'OAUTH_ABORT') return { kind: 'transient' }
    if (err.cause instanceof Response && err.cause.status >= 500) return { kind: 'transient' }
  }
  return networkFailure(err) ? { kind: 'transient' } : { kind: 'invalid' }
}

/**
 * fetch's own failures, anywhere in the cause chain (openid-client wraps some of them). Matched by
 * name, not instanceof: they may come from another realm (Node's internals, a test sandbox).
 */
function networkFailure(err: unknown): boolean {
  for (
    let e = err, depth = 0;
    typeof e === 'object' && e !== null && depth < 5;
    e = (e as { cause?: unknown }).cause, depth++
  ) {
    const { name, message } = e as { name?: unknown; message?: unknown }
    if (name === 'TypeError' && message === 'fetch failed') return true
    if (name === 'TimeoutError' || name === 'AbortError') return true
  }
  return false
}
