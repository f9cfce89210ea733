import type { RequestHandler } from 'express'
import { errorFields } from '../../log'
import { forgetEndedSession } from '../../tokens/session-end'
import { sessionCookieOptions } from '../cookies'
import { destroySession, type AppContext } from '../context'
import { safeReturnTo } from '../return-to'

/**
 * POST /auth/logout — ends the Keycloak session first (so Keycloak still knows the session and sends
 * back-channel logout to its other clients, keycloak#34234), then revokes the refresh token, then
 * deletes the local records. If Keycloak cannot be reached the session is kept and the answer is 503,
 * so the user can retry: a logout that only forgot the session locally would not be a logout.
 *
 * Answers `{ endSessionUrl }`: where the browser goes so Keycloak clears its own cookies and sends
 * it back to an allowlisted page. It carries `client_id` and no `id_token_hint`, because the session
 * is already over and an ID token must not leave keyward.
 */
export function logout(ctx: AppContext): RequestHandler {
  return async function endSession(req, res) {
    const returnTo = safeReturnTo(req.query.returnTo, ctx.app.publicUrl, ctx.app.postLogoutPath)
    const s = res.locals.tokenSession
    if (s?.tokens.refreshToken) {
      await ctx.oidc.endSession(s.tokens.refreshToken)
      await ctx.oidc.revoke(s.tokens.refreshToken).catch((err: unknown) => {
        // The session is already over at Keycloak; a failed revocation leaves nothing usable behind.
        ctx.log.warn({ error: errorFields(err) }, 'revocation after logout failed')
      })
    }
    if (s) await ctx.tokenSessions.delete(s)
    if (!res.locals.viaBearer) {
      if (req.session) await destroySession(req)
      res.clearCookie(ctx.app.cookie.name, sessionCookieOptions(ctx.app.cookie))
    }
    // The caller is logged out whatever happens now; the rest of the ended Keycloak session is tidied after.
    if (s) await forgetEndedSession(ctx, s).catch((err: unknown) => ctx.log.warn({ error: errorFields(err) }, 'forgetting the other sessions of a logout failed'))
    const endSessionUrl = s
      ? (await ctx.oidc.endSessionUrl({ postLogoutRedirectUri: new URL(returnTo, ctx.app.publicUrl).href })).href
      : null
    if (s) ctx.log.info({ app: ctx.app.id, sub: s.sub }, 'logout')
    res.set('Cache-Control', 'no-store').json({ loggedOut: true, endSessionUrl })
  }
}
