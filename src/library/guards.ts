import type { NextFunction, Request, RequestHandler, Response } from 'express'
import type { JWTPayload } from 'jose'
import type { AppConfig } from '../config/types'
import { checkCsrf } from '../http/middleware/csrf'
import { KeywardError, toProblem } from '../http/problem'
import type { RequestContext } from './context'
import { missingClaims, missingRoles } from '../domain/access'
import { levelOf } from '../domain/auth-level'
import { checkAuthLevel } from '../http/step-up'
import type { AuthLevelOptions, ClaimsRule, LoginOptions, RequireSessionOptions } from './api'
import { loginUrl } from './login'

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS'])

/** What `rule` finds missing in `claims`; a function passes only on `true` (a promise, an async check, fails). */
function missingClaim(claims: Record<string, unknown>, rule: ClaimsRule): string | undefined {
  if (typeof rule === 'function') return rule(claims) === true ? undefined : 'The claims check failed.'
  return missingClaims(claims, rule)
}

/**
 * The guards of one app (`keyward()`'s instance). A browser's page without a session goes to the
 * login and back; any other refusal is a `KeywardError` passed to `next(err)`, which `kw.errorHandler()`
 * answers as problem+json, unless an error handler of the application's renders it first.
 */
export function createGuards(deps: {
  app: AppConfig
  contextOf: (req: Request) => RequestContext | undefined
  /** The realm's `acr.loa.map` (`keycloak.acrLevels`). */
  acrLevels: Readonly<Record<string, number>>
}) {
  const { app, contextOf, acrLevels } = deps

  /**
   * A guard's login must be one the app's `login` option allows: what it does not is said when the
   * guard is made (a `TypeError` naming the guard), not at a user's request.
   */
  function loginAllowed(guard: string, login: Omit<LoginOptions, 'returnTo'>): void {
    try {
      loginUrl(app, login)
    } catch (err) {
      throw new TypeError(`${guard}: ${(err as Error).message}`, { cause: err })
    }
  }

  /** A browser asking for a page, which a login can bring back to it. */
  const navigation = (req: Request) => req.method === 'GET' && req.accepts(['json', 'html']) === 'html'

  /**
   * The request's session, or its refusal: a page goes to the login (and back), anything else to
   * `next` (401, or 503 while Redis is away). With `csrf`, a browser's state-changing request must pass
   * the CSRF check.
   */
  function admitted(
    req: Request,
    res: Response,
    next: NextFunction,
    csrf: boolean,
    login: Omit<LoginOptions, 'returnTo'> = {},
  ): RequestContext | undefined {
    const context = contextOf(req)
    if (!context) throw new Error('keyward: app.use(kw) must come before its guards')
    try {
      const me = context.caller()
      if (csrf && me.via === 'cookie' && !SAFE.has(req.method)) checkCsrf(req, app.allowedOrigins)
      return context
    } catch (err) {
      if (!context.unavailable && navigation(req)) {
        res.redirect(302, loginUrl(app, { ...login, returnTo: req.originalUrl }))
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
      const { login } = options
      if (login) {
        if (login.prompt === 'none') {
          // Back without a session, the page would send the browser to the same silent login again.
          throw new TypeError(
            "requireSession: prompt 'none' would loop; log in silently with kw.login(res, { prompt: 'none' }) where the page handles ?error=login_required",
          )
        }
        loginAllowed('requireSession', login)
      }
      return function keywardSession(req, res, next) {
        if (admitted(req, res, next, csrf, login)) next()
      }
    },

    requireRole(...roles: string[]): RequestHandler {
      if (roles.length === 0) throw new TypeError('requireRole needs at least one role')
      return gate((claims) => missingRoles(claims, app.clientId, { anyOf: roles }))
    },

    requireClaims(rule: ClaimsRule): RequestHandler {
      return gate((claims) => missingClaim(claims, rule))
    },

    requireAuthLevel(rule: AuthLevelOptions): RequestHandler {
      const login = { acrValues: rule.acr === undefined ? undefined : [rule.acr], maxAge: rule.maxAgeSeconds }
      if (rule.acr === undefined && rule.maxAgeSeconds === undefined) {
        throw new TypeError('requireAuthLevel needs acr or maxAgeSeconds')
      }
      if (rule.acr !== undefined && levelOf(rule.acr, acrLevels) < 0) {
        throw new TypeError(
          `requireAuthLevel: acr ${JSON.stringify(rule.acr)} is neither a level nor named in keycloak.acrLevels`,
        )
      }
      loginAllowed('requireAuthLevel', login) // the step-up's login
      return function keywardAuthLevel(req, res, next) {
        const context = admitted(req, res, next, true)
        if (!context) return
        context.accessTokenClaims().then((claims) => {
          try {
            checkAuthLevel(claims, rule, app, acrLevels, Date.now())
            next()
          } catch (err) {
            // A page goes to the step-up login and back; anything else hears 401 step_up_required.
            if (navigation(req)) res.redirect(302, loginUrl(app, { ...login, returnTo: req.originalUrl }))
            else next(err)
          }
        }, next)
      }
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
