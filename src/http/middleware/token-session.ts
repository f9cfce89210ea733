import type { Request, RequestHandler } from 'express'
import { Problem } from '../../errors'
import type { TokenSession } from '../../tokens/token-session'
import { followTokenSession, sessionCookieOptions } from '../cookies'
import { destroySession, type AppContext } from '../context'

const DAY_MS = 24 * 3600 * 1000

/**
 * An offline session slides with each refresh, but its persistent cookie keeps the expiry it was
 * last given. Re-issue the cookie once the session has moved on by a day (or a tenth of what is left,
 * for short lifetimes): "remember me" then lasts as long as Keycloak keeps the offline session, at the
 * cost of one cookie-session write a day, not one a request.
 */
function slideRememberMeCookie(req: Request, session: TokenSession, now: number): void {
  if (session.kind !== 'offline') return
  const lag = session.expiresAt - (req.session.expiresAt ?? 0)
  if (lag > Math.min(DAY_MS, (session.expiresAt - now) / 10)) followTokenSession(req, session, now)
}

/** Finds the caller's token session through the browser cookie session; clears a stale cookie. */
export function resolveTokenSession(ctx: AppContext): RequestHandler {
  return async function tokenSessionFromCookie(req, res, next) {
    const id = req.session?.tokenSessionId
    if (!id) return next()
    const found = await ctx.tokenSessions.get(id)
    if (found) {
      // Another app's cookie (several apps share the store) opens nothing here, and changes nothing.
      if (found.app === ctx.app.id) {
        res.locals.tokenSession = found
        slideRememberMeCookie(req, found, ctx.now())
      }
      return next()
    }
    // Expired or ended elsewhere: the pointer is useless, drop it and the cookie.
    res.locals.sessionEnded = true
    await destroySession(req)
    res.clearCookie(ctx.app.cookie.name, sessionCookieOptions(ctx.app.cookie))
    next()
  }
}

export const requireTokenSession: RequestHandler = function requireLogin(_req, res, next) {
  if (res.locals.tokenSession) return next()
  next(
    res.locals.sessionEnded
      ? new Problem('session_expired', 'The session has ended; log in again.')
      : new Problem('not_authenticated', 'Not logged in.'),
  )
}
