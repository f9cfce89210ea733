/**
 * What can go wrong below the HTTP layer, said without HTTP: the adapters (Redis, Keycloak, upstreams)
 * and the use cases throw these, and only http/problem.ts turns one into a status and a problem code.
 * `message` is written for the person calling keyward: it never holds a token or a secret.
 */
export type FailureKind =
  /** Redis cannot serve now (down, full, loading, failing over): state is kept, retry later. */
  | 'store_unavailable'
  /** Keycloak is unreachable, timed out or failed (5xx): state is kept, retry later. */
  | 'keycloak_unavailable'
  /**
   * Keycloak refused keyward's own client credentials (`invalid_client`, `unauthorized_client`): a
   * secret rotated in Keycloak and not in keyward, a client disabled. keyward's fault, not the user's:
   * sessions are kept, and work again once the configuration is mended.
   */
  | 'client_refused'
  /** Keycloak refused to continue a session (`invalid_grant` at refresh), or the session is gone. */
  | 'session_ended'
  /** Another instance is refreshing this session and did not finish in time. */
  | 'refresh_busy'
  /** A login transaction that is unknown, expired, finished, or not this browser's or app's. */
  | 'login_unknown'
  /** Keycloak ended the login with an error, refused the code, or answered what fails validation. */
  | 'login_refused'
  /** The application's login hook refused this user: no session was kept, Keycloak's was revoked. */
  | 'login_forbidden'
  /** The application's login hook failed (threw, or kept too much): no session was kept, Keycloak's was revoked. */
  | 'login_hook_failed'
  /** Keycloak issued a session that Redis would not store: the login must start again. */
  | 'login_not_kept'
  /** A one-time code (mobile login, handoff) that is unknown, expired, used, or shown with the wrong proof. */
  | 'code_invalid'
  /** A back-channel logout token that fails a check, or was received before: nothing is ended. */
  | 'logout_token_refused'
  /** An admin route's bearer token that is not a current access token of the realm for the app's client. */
  | 'admin_token_refused'
  /** An admin route's bearer token, good but without the admin role. */
  | 'admin_role_missing'
  /** A handoff to an app that the session's app may not hand sessions to. */
  | 'handoff_not_allowed'
  /** Keycloak refused a token exchange (its setup does not allow it): nothing was created. */
  | 'exchange_refused'
  /** The upstream could not be reached, or broke off. */
  | 'upstream_unavailable'
  /** The upstream did not answer in time. */
  | 'upstream_timeout'

export class Failure extends Error {
  constructor(
    readonly kind: FailureKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'Failure'
  }
}

export const isFailure = (err: unknown, kind?: FailureKind): err is Failure =>
  err instanceof Failure && (kind === undefined || err.kind === kind)

export const storeUnavailable = (cause: unknown) =>
  new Failure('store_unavailable', 'The session store could not be reached; try again shortly.', { cause })

export const keycloakUnavailable = (cause: unknown) =>
  new Failure('keycloak_unavailable', 'Keycloak could not be reached; try again shortly.', { cause })

export const sessionEnded = () => new Failure('session_ended', 'Keycloak ended this session; log in again.')
