import type { NextFunction, Request, RequestHandler, Response } from 'express'
import type { JWTPayload } from 'jose'
import type { AppConfig } from '../config/types'
import { checkCsrf } from '../http/middleware/csrf'
import { KeywardError, toProblem } from '../http/problem'
import type { RequestContext } from './context'
import { holdsAnyRole } from './roles'
import type { ClaimsRule, RequireSessionOptions } from './api'

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS'])

/** What `rule` finds missing in `claims`, said for people; undefined when nothing is. */
function missingClaim(claims: Record<string, unknown>, rule: ClaimsRule): string | undefined {
  // Only `true` passes: a function that returns a promise (an async check) is not waited for, so it fails.
  if (typeof rule === 'function') return rule(claims) === true ? undefined : 'The claims check failed.'
  for (const [name, want] of Object.entries(rule)) {
    const has = claims[name]
    const holds = (value: unknown) => (Array.isArray(has) ? has.includes(value) : has === value)
    const wanted = Array.isArray(want) ? want : [want]
    if (!wanted.every(holds))
      return `The claim ${name} must ${Array.isArray(has) ? 'hold' : 'be'} ${wanted.join(', ')}.`
  }
  return undefined
}

/**
 * The guards of one app (`keyward()`'s instance). A browser's page without a session goes to the
 * login and back; any other refusal is a `KeywardError` passed to `next(err)`, which `kw.errorHandler()`
 * answers as problem+json, unless an error handler of the application's renders it first.
 */
export function createGuards(deps: { app: AppConfig; contextOf: (req: Request) => RequestContext | undefined }) {
  const { app, contextOf } = deps

  /** A browser asking for a page, which a login can bring back to it. */
  const navigation = (req: Request) => req.method === 'GET' && req.accepts(['json', 'html']) === 'html'

  /**
   * The request's session, or its refusal: a page goes to the login (and back), anything else to
   * `next` (401, or 503 while Redis is away). With `csrf`, a browser's state-changing request must pass
   * the CSRF check.
   */
  function admitted(req: Request, res: Response, next: NextFunction, csrf: boolean): RequestContext | undefined {
    const context = contextOf(req)
    if (!context) throw new Error('keyward: app.use(kw) must come before its guards')
    try {
      const me = context.caller()
      if (csrf && me.via === 'cookie' && !SAFE.has(req.method)) checkCsrf(req, app.allowedOrigins)
      return context
    } catch (err) {
      if (!context.unavailable && navigation(req)) {
        res.redirect(302, `${app.authPath}/login?returnTo=${encodeURIComponent(req.originalUrl)}`)
      } else {
        next(toProblem(err))
      }
      return undefined
    }
  }

  /** A guard that admits a session, then lets `allow` say what else it needs of the access token's claims. */
  function gate(allow: (claims: JWTPayload) => string | undefined): RequestHandler {
    return function keywardGate(req: Request, res: Response, next: NextFunction) {
      const context = admitted(req, res, next, true)
      if (!context) return
      context.accessTokenClaims().then((claims) => {
        const missing = allow(claims)
        next(missing ? new KeywardError('forbidden', missing) : undefined)
      }, next)
    }
  }

  return {
    requireSession(options: RequireSessionOptions = {}): RequestHandler {
      const csrf = options.csrf ?? true
      return function keywardSession(req, res, next) {
        if (admitted(req, res, next, csrf)) next()
      }
    },

    requireRole(...roles: string[]): RequestHandler {
      if (roles.length === 0) throw new TypeError('requireRole needs at least one role')
      return gate((claims) =>
        holdsAnyRole(claims, app.clientId, roles) ? undefined : `The role ${roles.join(' or ')} is required.`,
      )
    },

    requireClaims(rule: ClaimsRule): RequestHandler {
      return gate((claims) => missingClaim(claims, rule))
    },

    csrf(): RequestHandler {
      return function keywardCsrf(req, _res, next) {
        const context = contextOf(req)
        const me = context?.isAuthenticated() ? context.caller() : undefined
        try {
          // A mobile app's handle is no ambient credential; any other request may carry the cookie.
          if (me?.via !== 'bearer' && !SAFE.has(req.method)) checkCsrf(req, app.allowedOrigins)
          next()
        } catch (err) {
          next(err)
        }
      }
    },
  }
}
