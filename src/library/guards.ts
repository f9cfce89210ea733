import type { NextFunction, Request, RequestHandler, Response } from 'express'
import { decodeJwt, type JWTPayload } from 'jose'
import type { AppConfig } from '../config/types'
import { checkCsrf } from '../http/middleware/csrf'
import { logProblem } from '../http/middleware/error-handler'
import { KeywardError, sendProblem, toProblem } from '../http/problem'
import type { Logger } from '../log'
import type { RequestContext } from './context'
import type { ClaimsRule, RequireSessionOptions } from './api'

const SAFE = new Set(['GET', 'HEAD', 'OPTIONS'])

const contextOf = (req: Request): RequestContext => req.keyward as RequestContext

/** The roles a token of `clientId`'s grants: `realm:<role>` for the realm's, `<client>:<role>` for a client's. */
function rolesOf(claims: JWTPayload, clientId: string): Set<string> {
  const roles = new Set<string>()
  const realm = (claims.realm_access as { roles?: unknown } | undefined)?.roles
  for (const role of Array.isArray(realm) ? realm : []) roles.add(`realm:${String(role)}`)
  const clients = (claims.resource_access ?? {}) as Record<string, { roles?: unknown }>
  for (const [client, access] of Object.entries(clients)) {
    for (const role of Array.isArray(access?.roles) ? access.roles : []) {
      roles.add(`${client}:${String(role)}`)
      if (client === clientId) roles.add(String(role)) // the app's own client's role, by its name alone
    }
  }
  return roles
}

/** What `rule` finds missing in `claims`, said for people; undefined when nothing is. */
function missingClaim(claims: Record<string, unknown>, rule: ClaimsRule): string | undefined {
  if (typeof rule === 'function') return rule(claims) ? undefined : 'The claims check failed.'
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
 * The guards of one app (`keyward()`'s instance): each answers for itself, as keyward's own routes do
 * (problem+json, or a redirect to the login for a browser's page), and passes on to the next handler
 * only what it lets through.
 */
export function createGuards(deps: { app: AppConfig; log: Logger }) {
  const { app } = deps

  function refuse(req: Request, res: Response, err: unknown): void {
    const problem = toProblem(err)
    logProblem(deps.log, req, problem)
    sendProblem(res, problem)
  }

  /** A browser asking for a page, which a login can bring back to it. */
  const navigation = (req: Request) => req.method === 'GET' && req.accepts(['json', 'html']) === 'html'

  /**
   * The request's session, or its refusal answered: a page goes to the login (and back), anything
   * else gets the problem (401, or 503 while Redis is away). With `csrf`, a browser's state-changing
   * request must pass the CSRF check.
   */
  function admitted(req: Request, res: Response, csrf: boolean): RequestContext | undefined {
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
        refuse(req, res, err)
      }
      return undefined
    }
  }

  /** A guard that admits a session, then lets `allow` say what else it needs of the access token's claims. */
  function gate(allow: (claims: JWTPayload) => string | undefined): RequestHandler {
    return function keywardGate(req: Request, res: Response, next: NextFunction) {
      const context = admitted(req, res, true)
      if (!context) return
      context.accessToken().then(
        (token) => {
          const missing = allow(decodeJwt(token))
          if (missing) refuse(req, res, new KeywardError('forbidden', missing))
          else next()
        },
        (err: unknown) => refuse(req, res, err),
      )
    }
  }

  return {
    requireSession(options: RequireSessionOptions = {}): RequestHandler {
      const csrf = options.csrf ?? true
      return function keywardSession(req, res, next) {
        if (admitted(req, res, csrf)) next()
      }
    },

    requireRole(...roles: string[]): RequestHandler {
      if (roles.length === 0) throw new TypeError('requireRole needs at least one role')
      return gate((claims) => {
        const held = rolesOf(claims, app.clientId)
        return roles.some((role) => held.has(role)) ? undefined : `The role ${roles.join(' or ')} is required.`
      })
    },

    requireClaims(rule: ClaimsRule): RequestHandler {
      return gate((claims) => missingClaim(claims, rule))
    },

    csrf(): RequestHandler {
      return function keywardCsrf(req, res, next) {
        const me = contextOf(req)?.isAuthenticated() ? contextOf(req).caller() : undefined
        try {
          // A mobile app's handle is no ambient credential; any other request may carry the cookie.
          if (me?.via !== 'bearer' && !SAFE.has(req.method)) checkCsrf(req, app.allowedOrigins)
          next()
        } catch (err) {
          refuse(req, res, err)
        }
      }
    },
  }
}
