import express, { Router, type Express, type RequestHandler } from 'express'
import type { Store } from 'express-session'
import type { Logger } from './log'
import type { AppContext } from './http/context'
import { corsForAllowedOrigins } from './http/middleware/cors'
import { requireCsrf } from './http/middleware/csrf'
import { draining } from './http/middleware/draining'
import { errorHandler, notFound } from './http/middleware/error-handler'
import { requestLog } from './http/middleware/request-log'
import { securityHeaders } from './http/middleware/security-headers'
import { cookieSession } from './http/middleware/session'
import { requireTokenSession } from './http/middleware/token-session'
import { callback } from './http/routes/callback'
import { healthRoutes, type ReadinessChecks } from './http/routes/health'
import { login } from './http/routes/login'
import { logout } from './http/routes/logout'
import { proxy, type ProxyDeps } from './http/routes/proxy'
import { revoke } from './http/routes/revoke'
import { sessionRoutes } from './http/routes/sessions'
import { token } from './http/routes/token'
import { authenticate } from './http/middleware/authenticate'
import { sessionInfo } from './http/routes/session'

export interface AppDeps {
  apps: AppContext[]
  proxy: ProxyDeps
  cookieSessionStore: Store
  sessionSecrets: string[]
  trustProxy: number | false
  staticDir?: string
  readiness: ReadinessChecks
  isDraining: () => boolean
  log: Logger
}

/** The routes of one app (one origin, one Keycloak client). */
function authRoutes(ctx: AppContext, deps: AppDeps): Router {
  const session = cookieSession(ctx.app, deps.cookieSessionStore, deps.sessionSecrets)
  const csrf = requireCsrf(ctx.app.allowedOrigins)
  // Bearer (mobile) callers skip both: no ambient credential, no CSRF; no cookie, no cookie session.
  const reading = authenticate(ctx, [session])
  const changing = authenticate(ctx, [csrf, session])
  return Router()
    .use(corsForAllowedOrigins(ctx.app))
    .get('/auth/login', login(ctx))
    .get('/auth/callback', session, callback(ctx))
    .post('/auth/token', ...token(ctx))
    .get('/auth/session', reading, requireTokenSession, sessionInfo)
    .post('/auth/logout', changing, logout(ctx))
    .post('/auth/revoke', changing, requireTokenSession, revoke(ctx))
    .use(sessionRoutes(ctx, { reading: [reading, requireTokenSession], changing: [changing, requireTokenSession] }))
    .all('/api/:upstream{/*path}', changing, requireTokenSession, proxy(ctx, deps.proxy))
}

/** With several apps, the Host header (its public URL's host) picks the app. */
function routeByHost(routers: Map<string, Router>): RequestHandler {
  return function appForHost(req, res, next) {
    const router = routers.get(req.host)
    if (router) router(req, res, next)
    else next()
  }
}

/** The Express app, without listening: tests run it on port 0. */
export function buildApp(deps: AppDeps): Express {
  const app = express()
  app.disable('x-powered-by')
  app.set('trust proxy', deps.trustProxy)
  app.use(requestLog(deps.log), draining(deps.isDraining), securityHeaders())
  app.use(healthRoutes(deps.readiness))
  const [only, ...more] = deps.apps
  if (only && more.length === 0) app.use(authRoutes(only, deps))
  else app.use(routeByHost(new Map(deps.apps.map((ctx) => [ctx.app.publicUrl.host, authRoutes(ctx, deps)]))))
  if (deps.staticDir) app.use(express.static(deps.staticDir, { index: 'index.html', fallthrough: true }))
  app.use(notFound, errorHandler(deps.log))
  return app
}
