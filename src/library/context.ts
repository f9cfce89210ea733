import type { ServerResponse } from 'node:http'
import type { AppConfig } from '../config/types'
import type { TokenSession } from '../domain/token-session'
import { clearSessionCookie } from '../http/browser-cookie'
import type { Caller } from '../http/caller'
import { KeywardError, toProblem } from '../http/problem'
import { safeReturnTo } from '../http/return-to'
import { logout, type SessionEndDeps } from '../sessions/session-end'
import type { TokenService } from '../sessions/token-service'

/**
 * Who is logged in: the profile claims of the session's ID token, never a token.
 * @public
 */
export interface UserClaims {
  /** Keycloak's id of the user. */
  sub: string
  name?: string
  preferred_username?: string
  given_name?: string
  family_name?: string
  email?: string
  email_verified?: boolean
  locale?: string
  /** The authentication level Keycloak reported at login. */
  acr?: string
  auth_time?: number
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
  createdAt: Date
  /** When the tokens were last refreshed. */
  refreshedAt: Date
  accessTokenExpiresAt: Date
  /** When Keycloak stops honouring the refresh token, when it set a limit. */
  refreshTokenExpiresAt?: Date
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
   * token's lifetime, so that no margin makes every call refresh. Default: the refresh window
   * (`refresh.skewSeconds`), in which keyward refreshes in the background.
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

export interface ContextDeps {
  app: AppConfig
  tokens: Pick<TokenService, 'currentSession' | 'upstreamToken'>
  ends: SessionEndDeps
}

const date = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms))

export const sessionInfo = (s: TokenSession): SessionInfo => ({
  id: s.id,
  app: s.app,
  kind: s.kind,
  client: s.client,
  keycloakSessionId: s.sid,
  createdAt: new Date(s.createdAt),
  refreshedAt: new Date(s.refreshedAt),
  accessTokenExpiresAt: new Date(s.accessExpiresAt),
  refreshTokenExpiresAt: date(s.refreshExpiresAt),
  expiresAt: new Date(s.expiresAt),
})

/**
 * `req.keyward` of one request. `found` is the caller the request's credential opened, if any, or why
 * none could be looked for (Redis away: guards answer 503, `isAuthenticated()` says false).
 */
export class RequestContext implements KeywardContext {
  constructor(
    private readonly deps: ContextDeps,
    private readonly res: ServerResponse,
    private me: Caller | undefined,
    /** Why the request's credential could not be looked up (Redis away), if so. */
    readonly unavailable?: KeywardError,
  ) {}

  isAuthenticated(): boolean {
    return this.me !== undefined
  }

  get user(): UserClaims | undefined {
    return this.me && { ...this.me.session.claims, sub: this.me.session.sub }
  }

  get session(): SessionInfo | undefined {
    return this.me && sessionInfo(this.me.session)
  }

  /** The caller, or the reason there is none (what a guard answers). */
  caller(): Caller {
    if (this.me) return this.me
    throw this.unavailable ?? new KeywardError('not_authenticated', 'Not logged in.')
  }

  async accessToken(options: AccessTokenOptions = {}): Promise<string> {
    const me = this.caller()
    try {
      if (options.audience) {
        const want = { audience: options.audience, scope: options.scope }
        return (await this.deps.tokens.upstreamToken(me.session, `aud:${options.audience}`, want)).accessToken
      }
      const current = await this.deps.tokens.currentSession(me.session, (options.minValiditySeconds ?? 0) * 1000)
      this.me = { ...me, session: current }
      return current.tokens.accessToken
    } catch (err) {
      const problem = toProblem(err)
      if (problem.code === 'session_expired') this.ended(me)
      throw problem
    }
  }

  async logout(options: { returnTo?: string } = {}): Promise<{ endSessionUrl?: string }> {
    const { app } = this.deps
    const returnTo = safeReturnTo(options.returnTo, app.publicUrl, app.postLogoutPath)
    if (!this.me) return {}
    const me = this.me
    const url = await logout(this.deps.ends, me.session, new URL(returnTo, app.publicUrl).href).catch(
      (err: unknown) => {
        throw toProblem(err)
      },
    )
    this.ended(me)
    return { endSessionUrl: url.href }
  }

  /** The session is over: no longer this request's, and a browser's cookie is cleared. */
  private ended(me: Caller): void {
    this.me = undefined
    if (me.via === 'cookie' && !this.res.headersSent) clearSessionCookie(this.res, this.deps.app.cookie)
  }
}
