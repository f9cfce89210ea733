import { decodeJwt, type JWTPayload } from 'jose'
import type { ServerResponse } from 'node:http'
import type { AppConfig } from '../config/types'
import type { DPoPKey, TokenSession } from '../domain/token-session'
import { clearSessionCookie } from '../http/browser-cookie'
import type { Caller } from '../http/caller'
import { KeywardError, toProblem } from '../http/problem'
import { safeReturnTo } from '../http/return-to'
import { logout, type SessionEndDeps } from '../sessions/session-end'
import type { TokenService } from '../sessions/token-service'
import { dpopProof } from '../domain/dpop-proof'
import type { AccessTokenOptions, KeywardContext, SessionInfo, UserClaims } from './api'
import { holdsAnyRole } from '../domain/access'

export interface ContextDeps {
  app: AppConfig
  tokens: Pick<TokenService, 'currentSession' | 'upstreamToken'>
  ends: SessionEndDeps
}

const date = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms))

const sessionInfo = (s: TokenSession): SessionInfo => ({
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
  ...(s.appData ? { data: s.appData } : {}),
})

/**
 * `req.keyward` of one request: `me`, the caller the request's credential opened, if any; or
 * `unavailable`, why none could be looked for (Redis away: guards answer 503, `isAuthenticated()` says false).
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
    return (await this.token(options)).accessToken
  }

  async authorization(
    call: { method: string; url: string | URL; nonce?: string },
    options: AccessTokenOptions = {},
  ): Promise<Record<string, string>> {
    const { accessToken, dpopKey } = await this.token(options)
    if (!dpopKey) return { authorization: `Bearer ${accessToken}` }
    const proof = { method: call.method.toUpperCase(), url: String(call.url), accessToken, nonce: call.nonce }
    return { authorization: `DPoP ${accessToken}`, dpop: await dpopProof(dpopKey, proof) }
  }

  /** The access token `options` ask for, and the key it is bound to (DPoP), if any. */
  private async token(options: AccessTokenOptions): Promise<{ accessToken: string; dpopKey?: DPoPKey }> {
    const me = this.caller()
    try {
      if (options.audience) {
        const want = { audience: options.audience, scope: options.scope }
        return await this.deps.tokens.upstreamToken(me.session, `aud:${options.audience}`, want)
      }
      const current = await this.deps.tokens.currentSession(me.session, (options.minValiditySeconds ?? 0) * 1000)
      this.me = { ...me, session: current }
      return current.tokens
    } catch (err) {
      const problem = toProblem(err)
      if (problem.code === 'session_expired') this.ended(me)
      throw problem
    }
  }

  /** The claims of the current access token (refreshed when due): what roles and claims gates read. */
  async accessTokenClaims(): Promise<JWTPayload> {
    return decodeJwt(await this.accessToken())
  }

  async hasRole(...roles: string[]): Promise<boolean> {
    return holdsAnyRole(await this.accessTokenClaims(), this.deps.app.clientId, roles)
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
