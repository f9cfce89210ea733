import type { IncomingMessage, Server } from 'node:http'
import type { Duplex } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { Router, type ErrorRequestHandler, type Request, type RequestHandler, type Response } from 'express'
import { createEngine } from '../engine'
import { loginBindingName } from '../http/browser-cookie'
import { corsFor, corsMiddleware } from '../http/middleware/cors'
import { errorHandler, notFound } from '../http/middleware/error-handler'
import { KeywardError, toProblem } from '../http/problem'
import { checkedPath } from '../http/proxy/path'
import { createApiProxy, type ApiApp } from '../http/proxy/proxy'
import { createWebSocketProxy } from '../http/proxy/websocket'
import { authRoutes, backchannelRoute } from '../http/routes'
import { childLogger } from '../log'
import { Failure } from '../domain/failures'
import { RequestContext } from './context'
import { createGuards } from './guards'
import { loginUrl } from './login'
import { configFromOptions } from './options'
import type { Keyward, LoginOptions } from './api'
import type { KeywardOptions } from './api-options'

/** WebSockets open at once through one keyward of the middleware (the server's WEBSOCKET_MAX_CONNECTIONS). */
const WEBSOCKETS_PER_PROCESS = 5000

/**
 * keyward as Express middleware, for one application and its Keycloak client:
 *
 * ```ts
 * const kw = keyward({ publicUrl, keycloak: { url, realm, clientId, clientSecret }, secrets, redis })
 * app.use(kw)
 * app.get('/orders', kw.requireSession(), async (req, res) => {
 *   const token = await req.keyward.accessToken()
 *   // call an API with `Authorization: Bearer ${token}`
 * })
 * ```
 *
 * Throws a `ConfigError` naming every option that is wrong, and a right value for it.
 * @public
 */
export function keyward(options: KeywardOptions): Keyward {
  const { config, logger, onLogin } = configFromOptions(options)
  const log = childLogger(logger, config.logLevel, { keyward: config.apps[0].id })
  const engine = createEngine(config, { log, onLogin })
  const { app, caller } = engine.apps[0]
  let closed = false

  const cors = corsFor(app)
  const context = { app, tokens: engine.tokens, ends: engine.apps[0].ends }
  // Each request's context of this instance, for its guards. With two instances in one application,
  // req.keyward is the first's; the guards still read their own.
  const contexts = new WeakMap<Request, RequestContext>()
  const attach: RequestHandler = function keywardContext(req, res, next) {
    const settle = (found: RequestContext) => {
      contexts.set(req, found)
      req.keyward ??= found
      next()
    }
    caller(req, res, { changing: false, optional: true, lenient: true }).then(
      (me) => settle(new RequestContext(context, res, me)),
      (err: unknown) => {
        if (!(err instanceof Failure || err instanceof KeywardError)) return next(err)
        settle(new RequestContext(context, res, undefined, toProblem(err)))
      },
    )
  }
  // keyward's own routes, under its prefix, answer their errors themselves (problem+json); the
  // application's requests skip them with one look at the path, and get req.keyward.
  const own = errorHandler(log)
  const routes = Router()
    .use(authRoutes(engine.apps[0], `${app.authPath}/admin`))
    .use(backchannelRoute(`${app.authPath}/backchannel-logout`, [app.clientId], engine.keycloakLogout))
    .use(app.authPath, notFound, own)
  const ownPath = (path: string) => path === app.authPath || path.startsWith(`${app.authPath}/`)
  const router = Router()
    .use(corsMiddleware(cors))
    .use((req, res, next) => (ownPath(req.path) ? routes(req, res, next) : next()))
    .use(attach)

  const guards = createGuards({ app, contextOf: (req) => contexts.get(req), acrLevels: config.keycloak.acrLevels })
  const api: ApiApp = { app, cookies: new Set([app.cookie.name, loginBindingName(app.cookie)]), caller, cors }
  const proxyDeps = {
    upstreams: config.upstreams,
    tokens: engine.tokens,
    clientTokens: engine.clientTokens,
    acrLevels: config.keycloak.acrLevels,
    forwarder: engine.forwarder,
    // Express's req.ip (its `trust proxy`); an upgrade never reaches Express: its socket's address.
    clientIp: (req: IncomingMessage) => (req as Request).ip ?? req.socket.remoteAddress ?? '',
    isDraining: () => closed,
    metrics: engine.metrics,
    log,
    now: Date.now,
  }
  const apiProxy = createApiProxy(proxyDeps)
  const webSockets = createWebSocketProxy({ ...proxyDeps, watch: engine.watch, maxConnections: WEBSOCKETS_PER_PROCESS })
  /** An upstream named in `kw.proxy…`: one of the app's, or a TypeError for the developer. */
  const ownUpstream = (method: string, upstream: string) => {
    if (!app.upstreams.has(upstream)) {
      throw new TypeError(
        `kw.${method}: no upstream ${JSON.stringify(upstream)} (upstreams: ${[...app.upstreams].join(', ')})`,
      )
    }
  }

  return Object.assign(
    (req: Request, res: Parameters<RequestHandler>[1], next: Parameters<RequestHandler>[2]) => router(req, res, next),
    {
      ...guards,
      login(res: Response, options: LoginOptions = {}): void {
        res.redirect(302, loginUrl(app, options))
      },
      proxy(upstream: string): RequestHandler {
        ownUpstream('proxy', upstream)
        return function keywardProxy(req, res) {
          void apiProxy(req, res, api, () => ({ name: upstream, pathAndQuery: checkedPath(req.url) }))
        }
      },
      proxyWebSockets(server: Server, mounts: Record<string, string>): () => void {
        const routes = Object.entries(mounts).map(([path, upstream]) => {
          ownUpstream('proxyWebSockets', upstream)
          if (!config.upstreams.get(upstream)!.websocket) {
            throw new TypeError(`kw.proxyWebSockets: upstream ${JSON.stringify(upstream)} has no "websocket" option`)
          }
          if (!/^\/\S*[^/]$/.test(path))
            throw new TypeError(`kw.proxyWebSockets: ${JSON.stringify(path)} is no path, e.g. "/api/live"`)
          return { path, upstream }
        })
        const listener = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
          const url = req.url ?? ''
          const route = routes.find(
            ({ path }) => url === path || url.startsWith(`${path}/`) || url.startsWith(`${path}?`),
          )
          if (!route) {
            // Another listener's; with none, Node would have closed it: refuse it rather than leave it hanging.
            if (server.listenerCount('upgrade') === 1) {
              webSockets.refuse(req, socket, new KeywardError('not_found', 'No WebSockets are served here.'))
            }
            return
          }
          webSockets.upgrade(req, socket, head, api, () => ({
            name: route.upstream,
            pathAndQuery: checkedPath(url.slice(route.path.length)),
          }))
        }
        server.on('upgrade', listener)
        return () => void server.off('upgrade', listener)
      },
      errorHandler(): ErrorRequestHandler {
        return function keywardErrors(err, req, res, next) {
          if (err instanceof KeywardError || err instanceof Failure) own(err, req, res, next)
          else next(err)
        }
      },
      async ready({ timeoutMs = 30_000 } = {}): Promise<void> {
        const deadline = Date.now() + timeoutMs
        for (;;) {
          const redis = (await engine.readiness.redis()).status === 'up'
          const keycloak = engine.readiness.keycloak()
          if (redis && keycloak) return
          if (Date.now() >= deadline) {
            const waiting = [redis ? [] : ['Redis'], keycloak ? [] : ["Keycloak's discovery"]].flat().join(' and ')
            throw new Error(`keyward is not ready after ${timeoutMs} ms: no answer yet from ${waiting}`)
          }
          await sleep(100)
        }
      },
      async close(): Promise<void> {
        closed = true
        webSockets.closeAll()
        await engine.dispose()
      },
    },
  ) as Keyward
}
