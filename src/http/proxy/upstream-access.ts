import { decodeJwt } from 'jose'
import type { ServerResponse } from 'node:http'
import type { AppConfig, UpstreamConfig } from '../../config/types'
import { missingClaims, missingRoles } from '../../domain/access'
import type { DPoPKey, TokenSession } from '../../domain/token-session'
import type { ClientTokens } from '../../sessions/client-tokens'
import type { TokenService } from '../../sessions/token-service'
import { KeywardError } from '../problem'
import { checkAuthLevel } from '../step-up'

export interface UpstreamAccessDeps {
  upstreams: ReadonlyMap<string, UpstreamConfig>
  tokens: Pick<TokenService, 'currentSession' | 'forceRefresh' | 'upstreamToken'>
  /** The realm's `acr.loa.map`, for upstreams that require a level. */
  acrLevels: Readonly<Record<string, number>>
  /** The app's own token, for upstreams with token `client`. */
  clientTokens: Pick<ClientTokens, 'token'>
  now: () => number
}

/** A token for an upstream, and when it was obtained; none for a caller without a session at a `userOrNone` upstream. */
export interface UpstreamCredential {
  accessToken?: string
  obtainedAt: number
  /** The key the token is bound to (DPoP), for the proof each call carries. */
  dpopKey?: DPoPKey
}

/**
 * Who may reach an upstream and with what token: the same for an API call and a WebSocket through
 * keyward's proxy.
 */
export function upstreamAccess(deps: UpstreamAccessDeps) {
  return {
    /** The upstream `name` of `app`, if `method` may be sent to it; else the 404 or 405 (with `Allow` set on `res`). */
    upstream(app: AppConfig, name: string, method: string, res: ServerResponse): UpstreamConfig {
      const upstream = app.upstreams.has(name) ? deps.upstreams.get(name) : undefined
      if (!upstream) throw new KeywardError('unknown_upstream', `No upstream is called ${JSON.stringify(name)}.`)
      if (!upstream.methods.has(method)) {
        res.setHeader('Allow', [...upstream.methods].join(', '))
        throw new KeywardError('method_not_allowed', `${method} is not forwarded to ${name}.`)
      }
      return upstream
    },

    /**
     * The session after the upstream's gates: its current access token (refreshed when due) must show
     * the authentication (else 401 `step_up_required`), and grant the roles and hold the claims (else
     * 403) the upstream requires; the upstream is never called for a refusal.
     */
    async admitted(session: TokenSession, upstream: UpstreamConfig, app: AppConfig): Promise<TokenSession> {
      if (!upstream.requireRoles && !upstream.requireClaims && !upstream.authLevel) return session
      const current = await deps.tokens.currentSession(session)
      const claims = decodeJwt(current.tokens.accessToken)
      if (upstream.authLevel) checkAuthLevel(claims, upstream.authLevel, app, deps.acrLevels, deps.now())
      const missing =
        (upstream.requireRoles && missingRoles(claims, app.clientId, upstream.requireRoles)) ||
        (upstream.requireClaims && missingClaims(claims, upstream.requireClaims))
      if (missing) throw new KeywardError('forbidden', missing)
      return current
    },

    /**
     * What the upstream `name` gets (see UpstreamConfig.token) for `session` (none: a caller without
     * one); `force`: the upstream refused the one it got, so a fresh one, and the session refreshed
     * with it (returned, for the next call).
     */
    async credential(
      app: AppConfig,
      name: string,
      upstream: UpstreamConfig,
      session: TokenSession | undefined,
      force: boolean,
    ): Promise<{ credential: UpstreamCredential; session: TokenSession | undefined }> {
      if (upstream.token === 'client') return { credential: await deps.clientTokens.token(app.id, force), session }
      if (!session) return { credential: { obtainedAt: deps.now() }, session }
      const current = force ? await deps.tokens.forceRefresh(session) : session
      if (upstream.exchange) {
        return {
          credential: await deps.tokens.upstreamToken(current, name, upstream.exchange, force),
          session: current,
        }
      }
      const { tokens, refreshedAt } = force ? current : await deps.tokens.currentSession(current)
      const credential = { accessToken: tokens.accessToken, obtainedAt: refreshedAt }
      return { credential: tokens.dpopKey ? { ...credential, dpopKey: tokens.dpopKey } : credential, session: current }
    },
  }
}

export type UpstreamAccess = ReturnType<typeof upstreamAccess>
