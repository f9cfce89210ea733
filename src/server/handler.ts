import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import express, { type Express, type Router } from 'express'
import { secondsSince, type Metrics } from '../domain/metrics'
import { loginBindingName } from '../http/browser-cookie'
import { corsFor, corsMiddleware } from '../http/middleware/cors'
import { draining } from '../http/middleware/draining'
import { errorHandler, notFound } from '../http/middleware/error-handler'
import { requestLog } from '../http/middleware/request-log'
import { securityHeaders } from '../http/middleware/security-headers'
import { KeywardError } from '../http/problem'
import { apiTarget } from '../http/proxy/path'
import type { ApiApp, ApiProxy } from '../http/proxy/proxy'
import type { WebSocketProxy } from '../http/proxy/websocket'
import { requestIdOf, withRequestId } from '../http/request-id'
import { authRoutes, backchannelRoute, type AppRoutesDeps } from '../http/routes'
import { requestContext, type Logger } from '../log'
import { appsIndex } from './apps-index'
import type { KeycloakLogoutDeps } from '../sessions/keycloak-logout'

export interface HandlerDeps {
  apps: AppRoutesDeps[]
  /** The API proxy: the hot path, served before Express. */
  apiProxy: ApiProxy
  /** WebSockets through the API proxy. */
  webSockets: WebSocketProxy
  /** Routes of their own (health, readiness), served before the apps'. */
  opsRoutes: Router
  /** Back-channel logout: Keycloak tells every app's URL, whatever host it reaches keyward by. */
  keycloakLogout: KeycloakLogoutDeps
  trustProxy: number | false
  /** The Host a request asked for, as Express's `req.host` reads it (see `forwardedOf`). */
  hostOf: (req: IncomingMessage) => string
  staticDir?: string
  /** A host that is no app's, on which a browser's `GET /` gets a page linking the apps (APPS_INDEX_HOST). */
  appsIndexHost?: string
  isDraining: () => boolean
  metrics: Pick<Metrics, 'request'>
  log: Logger
}

/** Where the server serves its admin routes, for every app. */
const ADMIN_PATH = '/admin'

/** The Express app: everything but the API proxy. */
function buildApp(deps: HandlerDeps, routers: Map<string, Router>): Express {
  const app = express()
  app.disable('x-powered-by')
  app.set('trust proxy', deps.trustProxy)
  app.use(requestLog(deps.log), draining(deps.isDraining), securityHeaders(), deps.opsRoutes)
  // Keycloak may reach keyward on an internal host that is no app's (BACKCHANNEL_LOGOUT_URL), so this
  // route is the same on every host; the token's audience names the app.
  const clientIds = deps.apps.map((a) => a.app.clientId)
  app.use(backchannelRoute('/auth/backchannel-logout', clientIds, deps.keycloakLogout))
  if (deps.appsIndexHost)
    app.use(
      appsIndex(
        deps.appsIndexHost,
        deps.apps.map((a) => a.app),
      ),
    )
  // The Host (its public URL's host) picks the app. Another host is no app's: keyward answers for
  // none, so that nothing reaches an upstream, or a page, under a name the client chose.
  app.use(function appForHost(req, res, next) {
    const router = routers.get(req.host)
    if (router) router(req, res, next)
    else
      next(new KeywardError('misdirected_request', `This server answers for ${[...routers.keys()].join(', ')} only.`))
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

/** A Node server's `upgrade` listener. */
export type UpgradeListener = (req: IncomingMessage, socket: Duplex, head: Buffer) => void

/**
 * The standalone server's listeners. Requests: `/api/…` goes straight to the API proxy (no Express
 * routing, no page middleware: the hot path pays only for what it needs), everything else to the
 * Express app, where the Host picks the app whose routes answer. Upgrades: a WebSocket under an app's
 * `/api/…` goes to the WebSocket proxy; any other is refused.
 */
export function createHandler(deps: HandlerDeps): { request: RequestListener; upgrade: UpgradeListener } {
  const apis = new Map<string, ApiApp>()
  const routers = new Map<string, Router>()
  for (const app of deps.apps) {
    const cors = corsFor(app.app)
    const cookies = new Set([app.app.cookie.name, loginBindingName(app.app.cookie)])
    apis.set(app.app.publicUrl.host, { app: app.app, cookies, caller: app.caller, cors })
    routers.set(app.app.publicUrl.host, express.Router().use(corsMiddleware(cors)).use(authRoutes(app, ADMIN_PATH)))
  }
  const express_ = buildApp(deps, routers)
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
        void deps.apiProxy(req, res, api, () => apiTarget(req.url!))
        return
      }
    }
    measure(req, res, routeLabel)
    express_(req, res)
  }
  function serveUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const api = req.url?.startsWith('/api/') ? apis.get(deps.hostOf(req)) : undefined
    if (api) deps.webSockets.upgrade(req, socket, head, api, () => apiTarget(req.url!))
    else
      deps.webSockets.refuse(
        req,
        socket,
        new KeywardError('not_found', "WebSockets are served under an app's /api/<upstream>/ only."),
      )
  }
  return {
    request: withRequestId(serve, fromProxy),
    upgrade: function keywardUpgrade(req, socket, head) {
      requestContext.run({ requestId: requestIdOf(req, fromProxy) }, serveUpgrade, req, socket, head)
    },
  }
}
