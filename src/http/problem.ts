import type { ServerResponse } from 'node:http'
import { Failure, type FailureKind } from '../domain/failures'

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
  | 'admin_role_required'
  | 'origin_not_allowed'
  | 'not_found'
  | 'misdirected_request'
  | 'unknown_upstream'
  | 'method_not_allowed'
  | 'handoff_not_allowed'
  | 'exchange_refused'
  | 'too_many_requests'
  | 'upstream_unavailable'
  | 'upstream_timeout'
  | 'refresh_timeout'
  | 'keycloak_unavailable'
  | 'client_misconfigured'
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
  admin_role_required: 403,
  origin_not_allowed: 403,
  not_found: 404,
  misdirected_request: 421,
  unknown_upstream: 404,
  method_not_allowed: 405,
  handoff_not_allowed: 403,
  exchange_refused: 403,
  too_many_requests: 429,
  upstream_unavailable: 502,
  upstream_timeout: 504,
  refresh_timeout: 503,
  keycloak_unavailable: 503,
  client_misconfigured: 503,
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

/** How each domain failure answers: its problem code, and how soon a retry may work. */
const FAILURES: Record<FailureKind, { code: ProblemCode; retryAfterSeconds?: number }> = {
  store_unavailable: { code: 'store_unavailable', retryAfterSeconds: 2 },
  keycloak_unavailable: { code: 'keycloak_unavailable', retryAfterSeconds: 2 },
  client_refused: { code: 'client_misconfigured', retryAfterSeconds: 30 },
  session_ended: { code: 'session_expired' },
  refresh_busy: { code: 'refresh_timeout', retryAfterSeconds: 1 },
  login_unknown: { code: 'invalid_state' },
  login_refused: { code: 'login_failed' },
  login_not_kept: { code: 'store_unavailable', retryAfterSeconds: 2 },
  code_invalid: { code: 'invalid_grant' },
  logout_token_refused: { code: 'invalid_request' },
  admin_token_refused: { code: 'invalid_token' },
  admin_role_missing: { code: 'admin_role_required' },
  handoff_not_allowed: { code: 'handoff_not_allowed' },
  exchange_refused: { code: 'exchange_refused' },
  upstream_unavailable: { code: 'upstream_unavailable' },
  upstream_timeout: { code: 'upstream_timeout' },
}

/**
 * Any error as a Problem: a Problem as it is, a domain failure by the table above, a body Express
 * could not parse as the client's fault (400), anything else as a 500 that says nothing of its cause.
 */
export function toProblem(err: unknown): Problem {
  if (err instanceof Problem) return err
  if (err instanceof Failure) {
    const { code, retryAfterSeconds } = FAILURES[err.kind]
    return new Problem(code, err.message, { cause: err.cause ?? err, retryAfterSeconds })
  }
  const status = (err as { status?: unknown } | undefined)?.status
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new Problem('invalid_request', 'The request could not be read.', { cause: err })
  }
  return new Problem('internal_error', 'Something went wrong inside keyward.', { cause: err })
}

/** Writes `problem` as the whole answer (plain node:http, so the hot path can use it too). */
export function sendProblem(res: ServerResponse, problem: Problem): void {
  const body = JSON.stringify({
    type: `https://github.com/keyward/keyward#problem-${problem.code}`,
    title: problem.code.replaceAll('_', ' '),
    status: problem.status,
    code: problem.code,
    detail: problem.detail,
  })
  if (problem.retryAfterSeconds) res.setHeader('Retry-After', String(problem.retryAfterSeconds))
  res.setHeader('Content-Type', 'application/problem+json; charset=utf-8')
  res.setHeader('Content-Length', Buffer.byteLength(body))
  res.statusCode = problem.status
  res.end(body)
}
