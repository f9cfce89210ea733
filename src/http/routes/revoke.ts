import type { RequestHandler } from 'express'
import { sessionCookieOptions } from '../cookies'
import { destroySession, type AppContext } from '../context'

/**
 * POST /auth/revoke — revokes this session's refresh or offline token at Keycloak (RFC 7009) and
 * forgets the session. Unlike logout it leaves Keycloak's SSO session and its other clients alone;
 * for an offline token it is the way to end it. If Keycloak cannot be reached: 503, nothing changed.
 */
export function revoke(ctx: AppContext): RequestHandler {
  return async function revokeSession(req, res) {
    const s = res.locals.tokenSession!
    if (s.tokens.refreshToken) await ctx.oidc.revoke(s.tokens.refreshToken)
    await ctx.tokenSessions.delete(s)
    await destroySession(req)
    res.clearCookie(ctx.app.cookie.name, sessionCookieOptions(ctx.app.cookie))
    ctx.log.info({ app: ctx.app.id, sub: s.sub, kind: s.kind }, 'revoked')
    res.set('Cache-Control', 'no-store').json({ revoked: true })
  }
}
