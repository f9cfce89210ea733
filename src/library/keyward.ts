import { setTimeout as sleep } from 'node:timers/promises'
import { Router, type ErrorRequestHandler, type Request, type RequestHandler } from 'express'
import { createEngine } from '../engine'
import { loginBindingName } from '../http/browser-cookie'
import { corsFor } from '../http/middleware/cors'
import { errorHandler, notFound } from '../http/middleware/error-handler'
import { KeywardError, toProblem } from '../http/problem'
import { checkedPath } from '../http/proxy/path'
import { createApiProxy, type ApiApp } from '../http/proxy/proxy'
import { authRoutes, backchannelRoute } from '../http/routes'
import { createLogger } from '../log'
import { Failure } from '../domain/failures'
import { RequestContext } from './context'
import { createGuards, type ClaimsRule, type RequireSessionOptions } from './guards'
import { configFromOptions, type KeywardOptions } from './options'

/**
 * One application's keyward, made by {@link keyward}: Express middleware (`app.use(kw)`) that serves
 * keyward's routes under its prefix and sets `req.keyward` on every other request, with guards and an
 * API proxy to mount where the application wants them.
 * @public
 */
export interface Keyward extends RequestHandler {
  /**
   * Lets only requests with a session through. Others get 401 problem+json, or, for a browser's page
   * (GET asking for HTML), a redirect to the login that comes back to the page. A browser's
   * state-changing request must also pass the CSRF check, unless `csrf: false`.
   */
  requireSession(options?: RequireSessionOptions): RequestHandler
  /**
   * Lets through a session whose access token holds one of `roles`: `realm:<role>` for a realm role,
   * `<client>:<role>` for a client's role, `<role>` for this app's client's own (as keycloak-connect's
   * `protect()` read them). Read from the current access token, refreshed when due: a role removed in
   * Keycloak is gone at the next refresh. Without one: 403 problem `forbidden`, naming what is missing.
   */
  requireRole(...roles: string[]): RequestHandler
  /** Lets through a session whose access token's claims pass `rule`; else 403 problem `forbidden`. */
  requireClaims(rule: ClaimsRule): RequestHandler
  /**
   * The CSRF check for the application's own state-changing routes, which receive the session cookie
   * too: header `X-CSRF: 1` and, when the browser sends one, an allowed `Origin`; else 403.
   */
  csrf(): RequestHandler
  /**
   * The API proxy, for `app.use('/api/orders', kw.proxy('orders'))`: the request, below where it is
   * mounted, goes to that upstream with the user's access token (kept fresh), and its answer back.
   * Needs a session and the CSRF header, as keyward's own proxy does. Mount it before body parsers,
   * or keyward sends on what they parsed.
   */
  proxy(upstream: string): RequestHandler
  /**
   * Answers a {@link KeywardError} that reached Express (from `req.keyward.accessToken()`, say) as
   * keyward's problem+json; any other error goes on to the next error handler.
   */
  errorHandler(): ErrorRequestHandler
  /** Resolves once Redis answers and Keycloak's discovery is loaded; rejects after `timeoutMs` (30000). */
  ready(options?: { timeoutMs?: number }): Promise<void>
  /**
   * Lets the refreshes under way finish, then closes what keyward opened: its Redis connections (not a
   * client it was given), its Keycloak and upstream connections. Requests after it get 503.
   */
  close(): Promise<void>
}

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
  const { config, logger } = configFromOptions(options)
  const log = (logger ?? createLogger(config.logLevel)).child({ keyward: config.apps[0].id })
  const engine = createEngine(config, { log })
  const { app, caller } = engine.apps[0]
  let closed = false

  const cors = corsFor(app)
  const context = { app, tokens: engine.tokens, ends: engine.apps[0].ends }
  const attach: RequestHandler = function keywardContext(req, res, next) {
    caller(req, res, { changing: false, optional: true, lenient: true }).then(
      (me) => {
        req.keyward = new RequestContext(context, res, me)
        next()
      },
      (err: unknown) => {
        if (!(err instanceof Failure || err instanceof KeywardError)) return next(err)
        req.keyward = new RequestContext(context, res, undefined, toProblem(err))
        next()
      },
    )
  }
  // keyward's own routes answer their errors themselves (problem+json); the application's are its own.
  const own = errorHandler(log)
  const router = Router()
    .use((req, res, next) => (cors(req, res) ? undefined : next()))
    .use(authRoutes(engine.apps[0], `${app.authPath}/admin`))
    .use(backchannelRoute(`${app.authPath}/backchannel-logout`, [app.clientId], engine.keycloakLogout))
    .use(app.authPath, notFound, own)
    .use(attach)

  const guards = createGuards({ app, log })
  const api: ApiApp = { app, cookies: new Set([app.cookie.name, loginBindingName(app.cookie)]), caller, cors }
  const apiProxy = createApiProxy({
    upstreams: config.upstreams,
    tokens: engine.tokens,
    forwarder: engine.forwarder,
    clientIp: (req) => (req as Request).ip ?? req.socket.remoteAddress ?? '',
    isDraining: () => closed,
    metrics: engine.metrics,
    log,
    now: Date.now,
  })

  return Object.assign(
    (req: Request, res: Parameters<RequestHandler>[1], next: Parameters<RequestHandler>[2]) => router(req, res, next),
    {
      ...guards,
      proxy(upstream: string): RequestHandler {
        if (!app.upstreams.has(upstream)) {
          throw new TypeError(
            `kw.proxy: no upstream ${JSON.stringify(upstream)} (upstreams: ${[...app.upstreams].join(', ')})`,
          )
        }
        return function keywardProxy(req, res) {
          void apiProxy(req, res, api, () => ({ name: upstream, pathAndQuery: checkedPath(req.url) }))
        }
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
        await engine.dispose()
      },
    },
  ) as Keyward
}
