import type { RequestHandler } from 'express'
import type { AppConfig } from '../../config/types'
import { logout, type SessionEndDeps } from '../../sessions/session-end'
import { clearSessionCookie } from '../browser-cookie'
import type { CallerOf } from '../caller'
import { safeReturnTo } from '../return-to'

export interface LogoutRouteDeps {
  app: AppConfig
  caller: CallerOf
  ends: SessionEndDeps
}

/**
 * POST /auth/logout — ends the session at Keycloak and here (see `logout`), and clears the cookie.
 * Answers `{ endSessionUrl }`: where the browser goes so Keycloak clears its own cookies and sends it
 * back to an allowlisted page. It carries `client_id` and no `id_token_hint`, because the session is
 * already over and an ID token must not leave keyward.
 */
export function logoutRoute(deps: LogoutRouteDeps): RequestHandler {
  const { app } = deps
  return async function logoutHandler(req, res) {
    const returnTo = safeReturnTo(req.query.returnTo, app.publicUrl, app.postLogoutPath)
    const me = await deps.caller(req, res, { changing: true, optional: true })
    if (!me) {
      res.json({ loggedOut: true, endSessionUrl: null })
      return
    }
    const endSessionUrl = await logout(deps.ends, me.session, new URL(returnTo, app.publicUrl).href)
    if (me.via === 'cookie') clearSessionCookie(res, app.cookie)
    res.json({ loggedOut: true, endSessionUrl: endSessionUrl.href })
  }
}
