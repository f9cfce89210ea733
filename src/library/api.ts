/**
 * The public types of keyward's package, and nothing else (the options' are in api-options.ts): these
 * modules import only what an application already has (Express's types, pino's), so the package's
 * declarations never bring in keyward's internals.
 */
import type { Server } from 'node:http'
import type { ErrorRequestHandler, RequestHandler, Response } from 'express'

/**
 * Who is logged in: the profile claims of the session's ID token, never a token.
 * @public
 */
export interface UserClaims {
  /** Keycloak's id of the user. */
  sub: string
  /** The user's full name. */
  name?: string
  /** The user name they log in with. */
  preferred_username?: string
  /** First name. */
  given_name?: string
  /** Last name. */
  family_name?: string
  /** E-mail address. */
  email?: string
  /** Whether Keycloak verified `email`. */
  email_verified?: boolean
  /** The user's language, e.g. `en`. */
  locale?: string
  /** The authentication level Keycloak reported at login. */
  acr?: string
  /** When the user authenticated (seconds since the epoch). */
  auth_time?: number
  /** Any other claim of those keyward keeps. */
  [claim: string]: unknown
}

/**
 * The session behind a request, as keyward keeps it (times as `Date`s); never a token.
 * @public
 */
export interface SessionInfo {
  /** The session's id, as `GET <prefix>/sessions` lists it. Not a credential. */
  id: string
  /** The app (`appId`) it belongs to. */
  app: string
  /** `offline` for a "remember me" session (an offline token), else `online`. */
  kind: 'online' | 'offline'
  /** Who holds it: a browser (cookie) or a mobile app (session handle). */
  client: 'web' | 'mobile'
  /** Keycloak's id of the user session it belongs to (`sid`), as Keycloak's admin console shows it. */
  keycloakSessionId?: string
  /** When the session began (the login, or the handoff that made it). */
  createdAt: Date
  /** When the tokens were last refreshed. */
  refreshedAt: Date
  /** When the access token held now expires (keyward refreshes it before). */
  accessTokenExpiresAt: Date
  /** When Keycloak stops honouring the refresh token, when it set a limit. */
  refreshTokenExpiresAt?: Date
  /** What the application's `onLogin` kept with the session, if anything. */
  data?: Record<string, unknown>
  /** When the session is over unless refreshed before. */
  expiresAt: Date
}

/**
 * What {@link KeywardContext.accessToken} is asked for.
 * @public
 */
export interface AccessTokenOptions {
  /**
   * The token must be good for this many seconds more, or it is refreshed first. Capped at half the
   * token's lifetime, so that no margin makes every call refresh. Default 0: a token still valid is
   * returned (one within the refresh window, `refresh.skewSeconds`, with a refresh started behind it).
   */
  minValiditySeconds?: number
  /** A token for this audience instead: the session's exchanged (RFC 8693) for one with only this audience. */
  audience?: string
  /** The scope asked for with `audience`. */
  scope?: string
}

/**
 * keyward's view of a request, on `req.keyward`: set by the middleware on every request it passes.
 * @public
 */
export interface KeywardContext {
  /** Whether the request comes with a live keyward session (a browser's cookie or a mobile app's handle). */
  isAuthenticated(): boolean
  /** The user's profile claims, when authenticated. */
  readonly user: UserClaims | undefined
  /** The session, when authenticated. */
  readonly session: SessionInfo | undefined
  /**
   * An access token for the user, to call an API with: refreshed before it expires, by the same
   * engine as keyward's proxy, so exactly once per session however many requests and processes ask
   * at once. Rejects with a {@link KeywardError}: `not_authenticated` or `session_expired` (401, the
   * session is over; its cookie is cleared), `keycloak_unavailable` or `store_unavailable` (503, the
   * session is kept: retry).
   */
  accessToken(options?: AccessTokenOptions): Promise<string>
  /**
   * The headers that carry the user's access token (as {@link KeywardContext.accessToken} gets it) on
   * one call to an API: `Authorization: Bearer …`; with `keycloak.dpop`, `Authorization: DPoP …` and a
   * `DPoP` proof for this method and URL, made with the session's key, which never leaves keyward;
   * `nonce`: the API's last `DPoP-Nonce`, when it asks for one (401 `use_dpop_nonce`: call again with it).
   * Rejects as {@link KeywardContext.accessToken} does.
   */
  authorization(
    call: { method: string; url: string | URL; nonce?: string },
    options?: AccessTokenOptions,
  ): Promise<Record<string, string>>
  /**
   * Whether the user holds one of `roles` (as {@link Keyward.requireRole} names them), by the current
   * access token, refreshed when due. Rejects as {@link KeywardContext.accessToken} does.
   */
  hasRole(...roles: string[]): Promise<boolean>
  /**
   * Ends the session at Keycloak and here, and clears its cookie. Resolves with Keycloak's
   * end-session URL, where a browser goes so that Keycloak clears its own cookies and sends it back to
   * `returnTo` (a path on the app; `postLogoutPath` when left out); none when there was no session.
   */
  logout(options?: { returnTo?: string }): Promise<{ endSessionUrl?: string }>
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Request {
      /** keyward's view of this request: set by the keyward middleware. */
      keyward: KeywardContext
    }
  }
}

/**
 * What a claims rule asks: each claim equal to the value given, or, for a list claim (`groups`),
 * holding it; a list of values asks for each of them, `{ anyOf }` for one of them, `{ endsWith }` a
 * text ending so (an e-mail domain). Or a function of the access token's claims. The same rules as an
 * upstream's `requireClaims`.
 * @public
 */
export type ClaimsRule =
  | Record<
      string,
      | string
      | number
      | boolean
      | readonly (string | number | boolean)[]
      | { anyOf: readonly (string | number | boolean)[] }
      | { endsWith: string }
    >
  | ((claims: Record<string, unknown>) => boolean)

/**
 * How {@link Keyward.requireSession} treats a request.
 * @public
 */
export interface RequireSessionOptions {
  /**
   * Apply the CSRF check (header `X-CSRF: 1`, an allowed `Origin`) to a browser's state-changing
   * request (any method but GET, HEAD, OPTIONS). Default true.
   */
  csrf?: boolean
  /** What the login a page without a session is sent to asks Keycloak for (within the `login` option's allow-list). */
  login?: Omit<LoginOptions, 'returnTo'>
}

/**
 * How strongly the user must have authenticated, for {@link Keyward.requireAuthLevel}.
 * @public
 */
export interface AuthLevelOptions {
  /** An `acr` at least this level, by the realm's `acr.loa.map` (`keycloak.acrLevels`), e.g. `gold`; or a level, e.g. `2`. */
  acr?: string
  /** An authentication no older than this many seconds. */
  maxAgeSeconds?: number
}

/**
 * What a login asks Keycloak for. Each but `returnTo` and `offline` must be allowed by the `login`
 * option (e.g. `login: { prompts: ['login', 'none'], idpHints: ['google'] }`); a value outside it is a
 * 400 `invalid_request`, never passed on.
 * @public
 */
export interface LoginOptions {
  /** Where the browser comes back to: a path on the application (default `/`). */
  returnTo?: string
  /** Ask for an offline token ("remember me"). */
  offline?: boolean
  /** `login` (always ask again), `none` (silent: back with `?error=login_required` when Keycloak has no session), `consent`, `create` (registration). */
  prompt?: 'login' | 'none' | 'consent' | 'create'
  /** Prefills the user name (`login_hint`). */
  loginHint?: string
  /** Goes straight to this identity provider of the realm (`kc_idp_hint`). */
  idpHint?: string
  /** The login page's languages, by preference (`ui_locales`). */
  uiLocales?: readonly string[]
  /** Authentication levels asked for (`acr_values`). */
  acrValues?: readonly string[]
  /** The user must have authenticated within this many seconds (`max_age`). */
  maxAge?: number
  /** Scopes added to the application's own. */
  scopes?: readonly string[]
}

/**
 * One application's keyward, made by {@link keyward}: Express middleware (`app.use(kw)`) that serves
 * keyward's routes under its prefix and sets `req.keyward` on every other request, with guards and an
 * API proxy to mount where the application wants them.
 *
 * A guard's refusal is a {@link KeywardError} passed to `next(err)`: `kw.errorHandler()` answers it
 * as problem+json, and an error handler of the application's own, mounted before it, may answer a
 * browser with a page instead (keycloak-connect's `accessDenied`).
 * @public
 */
export interface Keyward extends RequestHandler {
  /**
   * Lets only requests with a session through. A browser's page without one (a GET asking for HTML)
   * goes to the login, which comes back to it; any other request is refused with 401
   * `not_authenticated` (503 while Redis cannot be reached). A browser's state-changing request must
   * also pass the CSRF check (403), unless `csrf: false`.
   */
  requireSession(options?: RequireSessionOptions): RequestHandler
  /**
   * Sends the browser to keyward's login, asking Keycloak for what `options` say, e.g. from the
   * application's own "log in with Google" route: `kw.login(res, { idpHint: 'google', returnTo: '/orders' })`.
   * Throws a {@link KeywardError} (400 `invalid_request` or `invalid_return_to`) for an option the
   * `login` option does not allow.
   */
  login(res: Response, options?: LoginOptions): void
  /**
   * Lets through a session whose access token holds one of `roles`: `realm:<role>` for a realm role,
   * `<client>:<role>` for a client's role, `<role>` for this app's client's own (as keycloak-connect's
   * `protect()` read them). Read from the current access token, refreshed when due: a role removed in
   * Keycloak is gone at the next refresh. Without one: 403 `forbidden`, naming what is missing. Needs
   * a session as `requireSession()` does.
   */
  requireRole(...roles: string[]): RequestHandler
  /** Lets through a session whose access token's claims pass `rule`; else 403 `forbidden`. */
  requireClaims(rule: ClaimsRule): RequestHandler
  /**
   * Step-up: lets through a session whose current access token shows the authentication `rule` asks
   * for (its `acr` and `auth_time`, as Keycloak's Level of Authentication sets them). A page without
   * it goes to the login that asks for it (`acr_values`, `max_age`) and back, keeping its session; any
   * other request gets 401 `step_up_required` with that login's path (`loginUrl`) and RFC 9470's
   * `WWW-Authenticate` challenge. The `login` option must allow that login (its `acrValues`, `maxAge`).
   */
  requireAuthLevel(rule: AuthLevelOptions): RequestHandler
  /**
   * The CSRF check for the application's own state-changing routes, which receive the session cookie
   * too: header `X-CSRF: 1` and, when the browser sends one, an allowed `Origin`; else 403.
   */
  csrf(): RequestHandler
  /**
   * The API proxy, for `app.use('/api/orders', kw.proxy('orders'))`: the request, below where it is
   * mounted, goes to that upstream with the user's access token (kept fresh), and its answer back.
   * Needs a session and the CSRF header, as keyward's own proxy does. Mount it before body parsers,
   * or keyward sends on what they parsed.
   */
  proxy(upstream: string): RequestHandler
  /**
   * WebSockets through the API proxy. Express never sees a WebSocket's handshake (an HTTP upgrade), so
   * keyward listens for them on the application's HTTP server: a handshake whose path is at or below
   * one of `mounts`' paths goes to that upstream, which needs `websocket` in its options, with the
   * checks and close codes of keyward's server (a session; with the cookie, an allowed `Origin`; the
   * access token, fresh, to the upstream; closed when the session ends anywhere). Other upgrades are
   * left to the server's other `upgrade` listeners. Returns what stops listening.
   *
   * @example
   * ```ts
   * const server = app.listen(3000)
   * kw.proxyWebSockets(server, { '/api/live': 'live' })
   * ```
   */
  proxyWebSockets(server: Server, mounts: Record<string, string>): () => void
  /**
   * Answers a {@link KeywardError} that reached Express (from `req.keyward.accessToken()`, say) as
   * keyward's problem+json; any other error goes on to the next error handler.
   */
  errorHandler(): ErrorRequestHandler
  /** Resolves once Redis answers and Keycloak's discovery is loaded; rejects after `timeoutMs` (30000). */
  ready(options?: { timeoutMs?: number }): Promise<void>
  /**
   * Lets the refreshes under way finish, then closes what keyward opened: its Redis connections (not a
   * client it was given), its Keycloak and upstream connections, its WebSockets (1001). Requests after
   * it get 503.
   */
  close(): Promise<void>
}
