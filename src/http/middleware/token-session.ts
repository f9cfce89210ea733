import type { RequestHandler } from 'express'
import { Problem } from '../../errors'
import { sessionCookieOptions } from '../cookies'
import { destroySession, type AppContext } from '../context'

/** Finds the caller's token session through the browser cookie session; clears a stale cookie. */
export function resolveTokenSession(ctx: AppContext): RequestHandler {
  return async function tokenSessionFromCookie(req, res, next) {
    const id = req.session?.tokenSessionId
    if (!id) return next()
    const found = await ctx.tokenSessions.get(id)
    if (found) {
      // Another app's cookie (several apps share the store) opens nothing here, and changes nothing.
      if (found.app === ctx.app.id) res.locals.tokenSession = found
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
