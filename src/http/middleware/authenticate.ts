import { Router, type RequestHandler } from 'express'
import { Problem } from '../../errors'
import { digest } from '../../tokens/opaque'
import type { AppContext } from '../context'
import { HANDLE_PREFIX } from '../routes/token'
import { resolveTokenSession } from './token-session'

// The scheme is case-insensitive (RFC 9110 §11.1); the handle is exact.
const BEARER = new RegExp(`^Bearer (${HANDLE_PREFIX}[A-Za-z0-9_-]{43})$`, 'i')

/**
 * Who is calling: a mobile app with `Authorization: Bearer <session handle>`, or a browser with its
 * cookie. A bearer request carries no ambient credential, so it needs no CSRF defence and its
 * cookies are not even read; a cookie request goes through `cookieChecks` (CSRF, where it changes
 * state) and the cookie session.
 */
export function authenticate(ctx: AppContext, cookieChecks: RequestHandler[]): RequestHandler {
  const viaCookie = Router().use(...cookieChecks, resolveTokenSession(ctx))
  return async function callerFromCredential(req, res, next) {
    const authorization = req.headers.authorization
    if (authorization === undefined) {
      viaCookie(req, res, next)
      return
    }
    const handle = BEARER.exec(authorization)?.[1]
    const id = handle ? await ctx.tokenSessions.idForHandle(digest(handle)) : undefined
    const session = id ? await ctx.tokenSessions.get(id) : undefined
    if (!session || session.app !== ctx.app.id) {
      res.setHeader('WWW-Authenticate', 'Bearer error="invalid_token"')
      next(new Problem('invalid_token', handle ? 'This session token is unknown or has ended.' : 'Authorization must be: Bearer <session_token>.'))
      return
    }
    res.locals.tokenSession = session
    res.locals.viaBearer = true
    next()
  }
}
