import type { ServerResponse } from 'node:http'
import { Failure, type FailureKind } from '../domain/failures'

/**
 * The codes of keyward's errors and problem answers: stable, so clients branch on them; none is ever
 * renamed. docs/routes.md says what each means.
 * @public
 */
export type KeywardErrorCode =
  | 'invalid_request'
  | 'invalid_return_to'
  | 'invalid_state'
  | 'invalid_grant'
  | 'invalid_token'
  | 'login_failed'
  | 'not_authenticated'
  | 'session_expired'
  | 'step_up_required'
  | 'csrf_required'
  | 'admin_role_required'
  | 'forbidden'
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

/** Each code's status, and its title: a short summary for people (a page may show it as it is). */
const PROBLEMS: Record<KeywardErrorCode, { status: number; title: string }> = {
  invalid_request: { status: 400, title: 'The request is not valid' },
  invalid_return_to: { status: 400, title: 'That return address is not allowed' },
  invalid_state: { status: 400, title: 'This login is unknown or already finished' },
  invalid_grant: { status: 400, title: 'This code is not valid' },
  invalid_token: { status: 401, title: 'This token or session handle is not valid' },
  login_failed: { status: 400, title: 'The login did not succeed' },
  not_authenticated: { status: 401, title: 'You are not logged in' },
  session_expired: { status: 401, title: 'Your session has ended' },
  step_up_required: { status: 401, title: 'A stronger authentication is needed' },
  csrf_required: { status: 403, title: 'The X-CSRF header is missing' },
  admin_role_required: { status: 403, title: 'The admin role is required' },
  forbidden: { status: 403, title: 'You are not allowed to do this' },
  origin_not_allowed: { status: 403, title: 'This origin is not allowed' },
  not_found: { status: 404, title: 'Not found' },
  misdirected_request: { status: 421, title: 'This host is not served here' },
  unknown_upstream: { status: 404, title: 'There is no such API' },
  method_not_allowed: { status: 405, title: 'This method is not allowed here' },
  handoff_not_allowed: { status: 403, title: 'This session cannot be handed to that app' },
  exchange_refused: { status: 403, title: 'Keycloak refused the token exchange' },
  too_many_requests: { status: 429, title: 'Too many requests' },
  upstream_unavailable: { status: 502, title: 'The API cannot be reached' },
  upstream_timeout: { status: 504, title: 'The API did not answer in time' },
  refresh_timeout: { status: 503, title: 'The session is being refreshed: try again' },
  keycloak_unavailable: { status: 503, title: 'Keycloak cannot be reached' },
  client_misconfigured: { status: 503, title: "Keycloak refused keyward's client credentials" },
  store_unavailable: { status: 503, title: 'The session store cannot be reached' },
  shutting_down: { status: 503, title: 'keyward is shutting down' },
  internal_error: { status: 500, title: 'Something went wrong' },
}

/**
 * What keyward answers with, or throws to a handler: an error with a stable `code`, its HTTP `status`,
 * and a `detail` for people, which becomes an RFC 9457 `application/problem+json` answer. The detail
 * is shown to the client, so it never holds a token or a secret.
 *
 * @example
 * ```ts
 * try {
 *   token = await req.keyward.accessToken()
 * } catch (err) {
 *   if (err instanceof KeywardError && err.code === 'session_expired') return res.redirect('/auth/login')
 *   throw err
 * }
 * ```
 * @public
 */
export class KeywardError extends Error {
  /** Which error this is: stable, so a client or a handler may branch on it. */
  readonly code: KeywardErrorCode
  /** What happened, for people; never a token or a secret. */
  readonly detail: string
  /** The HTTP status this error answers with (e.g. 401 for `session_expired`). */
  readonly status: number
  /** Seconds after which a retry may succeed, for errors that pass (Redis or Keycloak away). */
  readonly retryAfterSeconds?: number
  /**
   * For `step_up_required`: what the login must ask for (`acr_values`, `max_age`), and the path of
   * keyward's login that asks for it (add `&returnTo=<path>`).
   */
  readonly stepUp?: { loginUrl: string; acrValues?: string; maxAge?: number }
  /**
   * @param code - which error this is
   * @param detail - what happened, for people
   * @param options - the error's cause, when a retry may succeed, and what a step-up asks for
   */
  constructor(
    code: KeywardErrorCode,
    detail: string,
    options?: { cause?: unknown; retryAfterSeconds?: number; stepUp?: KeywardError['stepUp'] },
  ) {
    super(detail, { cause: options?.cause })
    this.name = 'KeywardError'
    this.code = code
    this.detail = detail
    this.status = PROBLEMS[code].status
    this.retryAfterSeconds = options?.retryAfterSeconds
    this.stepUp = options?.stepUp
  }

  /** A short summary for people, the same for every error of this code (a page may show it as it is). */
  get title(): string {
    return PROBLEMS[this.code].title
  }
}

/** How each domain failure answers: its problem code, and how soon a retry may work. */
const FAILURES: Record<FailureKind, { code: KeywardErrorCode; retryAfterSeconds?: number }> = {
  store_unavailable: { code: 'store_unavailable', retryAfterSeconds: 2 },
  keycloak_unavailable: { code: 'keycloak_unavailable', retryAfterSeconds: 2 },
  client_refused: { code: 'client_misconfigured', retryAfterSeconds: 30 },
  session_ended: { code: 'session_expired' },
  refresh_busy: { code: 'refresh_timeout', retryAfterSeconds: 1 },
  login_unknown: { code: 'invalid_state' },
  login_refused: { code: 'login_failed' },
  login_forbidden: { code: 'forbidden' },
  login_hook_failed: { code: 'internal_error' },
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
 * Any error as a KeywardError: a KeywardError as it is, a domain failure by the table above, a body Express
 * could not parse as the client's fault (400), anything else as a 500 that says nothing of its cause.
 */
export function toProblem(err: unknown): KeywardError {
  if (err instanceof KeywardError) return err
  if (err instanceof Failure) {
    const { code, retryAfterSeconds } = FAILURES[err.kind]
    return new KeywardError(code, err.message, { cause: err.cause ?? err, retryAfterSeconds })
  }
  const status = (err as { status?: unknown } | undefined)?.status
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return new KeywardError('invalid_request', 'The request could not be read.', { cause: err })
  }
  return new KeywardError('internal_error', 'Something went wrong inside keyward.', { cause: err })
}

/** RFC 9470's challenge: which authentication would do, for a client that reads `WWW-Authenticate`. */
function stepUpChallenge({ acrValues, maxAge }: NonNullable<KeywardError['stepUp']>): string {
  const params = ['error="insufficient_user_authentication"']
  if (acrValues !== undefined) params.push(`acr_values="${acrValues}"`)
  if (maxAge !== undefined) params.push(`max_age=${maxAge}`)
  return `Bearer ${params.join(', ')}`
}

/** Writes `problem` as the whole answer (plain node:http, so the hot path can use it too). */
export function sendProblem(res: ServerResponse, problem: KeywardError): void {
  const body = JSON.stringify({
    type: `https://github.com/keyward/keyward/blob/main/docs/routes.md#problem-${problem.code}`,
    title: problem.title,
    status: problem.status,
    code: problem.code,
    detail: problem.detail,
    ...(problem.stepUp ? { loginUrl: problem.stepUp.loginUrl } : {}),
  })
  if (problem.stepUp) res.setHeader('WWW-Authenticate', stepUpChallenge(problem.stepUp))
  if (problem.retryAfterSeconds) res.setHeader('Retry-After', String(problem.retryAfterSeconds))
  res.setHeader('Content-Type', 'application/problem+json; charset=utf-8')
  res.setHeader('Content-Length', Buffer.byteLength(body))
  res.statusCode = problem.status
  res.end(body)
}
