import type { RequestHandler } from 'express'
import { Problem } from '../../errors'

/**
 * CSRF defence for cookie-authenticated, state-changing requests: a custom header, which no form or
 * simple cross-site request can carry without a CORS preflight that keyward never grants, and an
 * Origin, when the browser sends one, from the app's allowlist.
 */
export function requireCsrf(allowedOrigins: ReadonlySet<string>): RequestHandler {
  return function csrfCheck(req, _res, next) {
    if (req.get('x-csrf') !== '1') {
      return next(new Problem('csrf_required', 'This request needs the header X-CSRF: 1.'))
    }
    const origin = req.get('origin')
    if (origin !== undefined && !allowedOrigins.has(origin)) {
      return next(new Problem('origin_not_allowed', `Requests from origin ${JSON.stringify(origin.slice(0, 200))} are not allowed.`))
    }
    next()
  }
}
