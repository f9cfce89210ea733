/** Stable error codes: clients branch on these, so never rename one. */
export type ProblemCode =
  | 'invalid_request'
  | 'invalid_return_to'
  | 'invalid_state'
  | 'invalid_grant'
  | 'invalid_token'
  | 'login_failed'
  | 'not_authenticated'
  | 'session_expired'
  | 'csrf_required'
  | 'origin_not_allowed'
  | 'not_found'
  | 'unknown_upstream'
  | 'too_many_requests'
  | 'upstream_unavailable'
  | 'upstream_timeout'
  | 'refresh_timeout'
  | 'keycloak_unavailable'
  | 'store_unavailable'
  | 'shutting_down'
  | 'internal_error'

const STATUS: Record<ProblemCode, number> = {
  invalid_request: 400,
  invalid_return_to: 400,
  invalid_state: 400,
  invalid_grant: 400,
  invalid_token: 401,
  login_failed: 400,
  not_authenticated: 401,
  session_expired: 401,
  csrf_required: 403,
  origin_not_allowed: 403,
  not_found: 404,
  unknown_upstream: 404,
  too_many_requests: 429,
  upstream_unavailable: 502,
  upstream_timeout: 504,
  refresh_timeout: 503,
  keycloak_unavailable: 503,
  store_unavailable: 503,
  shutting_down: 503,
  internal_error: 500,
}

/**
 * An error that becomes an RFC 9457 `application/problem+json` answer. `detail` is shown to the
 * client, so it must never hold a token or a secret.
 */
export class Problem extends Error {
  readonly status: number
  readonly retryAfterSeconds?: number
  constructor(
    readonly code: ProblemCode,
    readonly detail: string,
    options?: { cause?: unknown; retryAfterSeconds?: number },
  ) {
    super(detail, { cause: options?.cause })
    this.name = 'Problem'
    this.status = STATUS[code]
    this.retryAfterSeconds = options?.retryAfterSeconds
  }
}

/** Keycloak or Redis could not be reached: the session is kept and the client may retry. */
export const unavailable = (what: 'keycloak' | 'store', cause: unknown) =>
  new Problem(
    what === 'keycloak' ? 'keycloak_unavailable' : 'store_unavailable',
    what === 'keycloak' ? 'Keycloak could not be reached; try again shortly.' : 'The session store could not be reached; try again shortly.',
    { cause, retryAfterSeconds: 2 },
  )
