import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http'
import express, { Router, type Express, type Request, type RequestHandler } from 'express'
import type { Store } from 'express-session'
import type { AppConfig } from '../config/types'
import { secondsSince, type Metrics } from '../domain/metrics'
import { requestContext, type Logger } from '../log'
import type { HandoffDeps } from '../sessions/handoff'
import type { KeycloakLogoutDeps } from '../sessions/keycloak-logout'
import type { LoginDeps } from '../sessions/login'
import type { SessionEndDeps } from '../sessions/session-end'
import { loginBindingName } from './browser-cookie'
import type { CallerOf } from './caller'
import { corsFor } from './middleware/cors'
import { draining } from './middleware/draining'
import { errorHandler, notFound } from './middleware/error-handler'
import { requestLog } from './middleware/request-log'
import { Problem } from './problem'
import { requestIdOf } from './request-id'
import { securityHeaders } from './middleware/security-headers'
import type { ApiApp, ApiProxy } from './proxy/proxy'
import { adminRoutes } from './routes/admin'
import { backchannelLogoutRoute } from './routes/backchannel-logout'
import { callbackRoute } from './routes/callback'
import { handoffCompleteRoute, handoffRedeemRoute, handoffStartRoute } from './routes/handoff'
import { loginRoute } from './routes/login'
import { logoutRoute } from './routes/logout'
import { revokeRoute } from './routes/revoke'
import { sessionRoute } from './routes/session'
import { sessionsRoutes } from './routes/sessions'
import { tokenRoute } from './routes/token'

/** What one app's routes use: its config, how its callers are found, and the use cases' dependencies. */
export interface AppRoutesDeps {
  app: AppConfig
  /** Every app keyward serves, by id (handoff targets). */
  apps: ReadonlyMap<string, AppConfig>
  caller: CallerOf
  login: LoginDeps
  ends: SessionEndDeps
  handoff: HandoffDeps
  /** The client a service account's token (another deployment's) was issued to; undefined if it is none. */
  serviceClientOf: (token: string) => Promise<string | undefined>
  /** Who the admin presenting a token is (see `adminRoutes`). */
  adminOf: (token: string, clientId: string, role: string) => Promise<string>
  /** ADMIN_ROLE: the role of the app's client an admin's token carries. */
  adminRole: string
  cookieSessionStore: Store
  secrets: string[]
  loginTxTtlSeconds: number
  /** Throws 429 when this client address starts logins faster than LOGIN_RATE_LIMIT. */
  admitLogin: (req: Request) => Promise<void>
}

export interface AppDeps {
  apps: AppRoutesDeps[]
  /** The API proxy: the hot path, served before Express. */
  apiProxy: ApiProxy
  /** Routes of their own (health, readiness), served before the apps'. */
  opsRoutes: Router
  /** Back-channel logout: Keycloak tells every app's URL, whatever host it reaches keyward by. */
  keycloakLogout: KeycloakLogoutDeps
  trustProxy: number | false
  /** The Host a request asked for, as Express's `req.host` reads it (see `forwardedOf`). */
  hostOf: (req: IncomingMessage) => string
  staticDir?: string
  isDraining: () => boolean
  metrics: Pick<Metrics, 'request'>
  log: Logger
}

const noStore: RequestHandler = (_req, res, next) => {
  res.setHeader('Cache-Control', 'no-store')
  next()
}

/**
 * One app's /auth routes (one origin, one Keycloak client); the table of what keyward answers. Each
 * route parses, calls a use case in sessions/, and answers. /api is not here: see `createHandler`.
 */
function authRoutes(deps: AppRoutesDeps, cors: RequestHandler): Router {
  return Router()
    .use(cors)
    .use(['/auth', '/admin'], noStore)
    .get('/auth/login', loginRoute(deps)) // start a login (browser or mobile)
    .get('/auth/callback', ...callbackRoute(deps)) // Keycloak's redirect back: a new session
    .post('/auth/token', ...tokenRoute(deps)) // mobile: one-time code + PKCE verifier → handle
    .get('/auth/session', sessionRoute(deps)) // who is logged in, and until when
    .post('/auth/logout', logoutRoute(deps)) // end the session here and at Keycloak
    .post('/auth/revoke', revokeRoute(deps)) // revoke this session's token at Keycloak
    .post('/auth/handoff', ...handoffStartRoute(deps)) // hand this session to a sibling app: a one-time URL
    .get('/auth/handoff/complete', ...handoffCompleteRoute(deps)) // on the sibling: the code → its own session
    .post('/auth/handoff/redeem', ...handoffRedeemRoute(deps)) // another deployment: the code → its subject token
    .use(sessionsRoutes(deps)) // the user's sessions and devices; revoke one or all
    .use(adminRoutes(deps)) // an admin (Keycloak token with ADMIN_ROLE): a user's sessions; log out, revoke
}

/** The Express app: everything but the API proxy. Tests may run it alone. */
function buildApp(deps: AppDeps, routers: Map<string, Router>): Express {
  const app = express()
  app.disable('x-powered-by')
  app.set('trust proxy', deps.trustProxy)
  app.use(requestLog(deps.log), draining(deps.isDraining), securityHeaders(), deps.opsRoutes)
  // Keycloak may reach keyward on an internal host that is no app's (BACKCHANNEL_LOGOUT_URL), so this
  // route is the same on every host; the token's audience names the app.
  const clientIds = deps.apps.map((a) => a.app.clientId)
  app.post(
    '/auth/backchannel-logout',
    noStore,
    ...backchannelLogoutRoute({ clientIds, keycloakLogout: deps.keycloakLogout }),
  )
  // The Host (its public URL's host) picks the app. Another host is no app's: keyward answers for
  // none, so that nothing reaches an upstream, or a page, under a name the client chose.
  app.use(function appForHost(req, res, next) {
    const router = routers.get(req.host)
    if (router) router(req, res, next)
    else next(new Problem('misdirected_request', `This server answers for ${[...routers.keys()].join(', ')} only.`))
  })
  if (deps.staticDir) app.use(express.static(deps.staticDir, { index: 'index.html', fallthrough: true }))
  app.use(notFound, errorHandler(deps.log))
  return app
}

/** The API proxy's route label: one for every upstream and path. */
const API_ROUTE = '/api/:upstream/*'

/**
 * The label of the route that answered, for metrics: the pattern Express matched (`/auth/sessions/:id`),
 * never the path a client sent, which could be anything; `other` when no route matched (a 404, a
 * static file, a request refused before routing).
 */
export function routeLabel(req: IncomingMessage): string {
  const path = (req as { route?: { path?: unknown } }).route?.path
  return typeof path === 'string' ? path : 'other'
}

/**
 * keyward's request handler: `/api/…` goes straight to the API proxy (no Express routing, no page
 * middleware: the hot path pays only for what it needs), everything else to the Express app.
 */
export function createHandler(deps: AppDeps): RequestListener {
  const apis = new Map<string, ApiApp>()
  const routers = new Map<string, Router>()
  for (const app of deps.apps) {
    const cors = corsFor(app.app)
    const cookies = new Set([app.app.cookie.name, loginBindingName(app.app.cookie)])
    apis.set(app.app.publicUrl.host, { app: app.app, cookies, caller: app.caller, cors })
    routers.set(
      app.app.publicUrl.host,
      authRoutes(app, (req, res, next) => (cors(req, res) ? undefined : next())),
    )
  }
  const express = buildApp(deps, routers)
  const fromProxy = deps.trustProxy !== false
  /** Counts the answer once it is sent, or cut off (`aborted`: a client gone, an upstream's body broken). */
  function measure(req: IncomingMessage, res: ServerResponse, route: (req: IncomingMessage) => string): void {
    const started = performance.now()
    res.once('close', () => {
      const status = res.writableFinished ? String(res.statusCode) : 'aborted'
      deps.metrics.request(route(req), status, secondsSince(started))
    })
  }
  function serve(req: IncomingMessage, res: ServerResponse): void {
    if (req.url?.startsWith('/api/')) {
      const api = apis.get(deps.hostOf(req))
      if (api) {
        measure(req, res, () => API_ROUTE)
        void deps.apiProxy(req, res, api)
        return
      }
    }
    measure(req, res, routeLabel)
    express(req, res)
  }
  return function keyward(req: IncomingMessage, res: ServerResponse) {
    const requestId = requestIdOf(req, fromProxy)
    res.setHeader('X-Request-Id', requestId)
    requestContext.run({ requestId }, serve, req, res)
  }
}
