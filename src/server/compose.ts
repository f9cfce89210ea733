import type { RequestListener } from 'node:http'
import type { ServerConfig } from '../config/types'
import type { Metrics } from '../domain/metrics'
import { createEngine } from '../engine'
import { createForwardAuth } from '../http/forward-auth'
import { forwardedOf } from '../http/proxy/forwarded'
import { withRequestId } from '../http/request-id'
import { createApiProxy } from '../http/proxy/proxy'
import { createWebSocketProxy } from '../http/proxy/websocket'
import type { Logger } from '../log'
import { createHandler, type UpgradeListener } from './handler'
import { healthRoutes } from './health'
import type { Stoppable } from './shutdown'

export interface Composed extends Stoppable {
  /** keyward's request handler, for `http.createServer` (tests listen on port 0). */
  handler: RequestListener
  /** keyward's `upgrade` listener (WebSockets through the API proxy), for the same server. */
  upgrade: UpgradeListener
  /** The forward-auth check's handler, for a listener of its own (FORWARD_AUTH_PORT); absent when off. */
  forwardAuth?: RequestListener
  log: Logger
}

/**
 * The standalone server: the engine (engine.ts, the same the middleware runs on), with what only a
 * server of its own adds on top: the hot-path API proxy before Express, the Host picking the app,
 * health and readiness, draining on shutdown.
 */
export function compose(
  config: ServerConfig,
  options: { log?: Logger; now?: () => number; metrics?: Metrics } = {},
): Composed {
  const engine = createEngine(config, options)
  const { log, metrics } = engine
  const { host, clientIp } = forwardedOf(config.trustProxy)
  let isDraining = false
  const access = {
    upstreams: config.upstreams,
    tokens: engine.tokens,
    clientTokens: engine.clientTokens,
    acrLevels: config.keycloak.acrLevels,
    forwarder: engine.forwarder,
    clientIp,
    isDraining: () => isDraining,
    metrics,
    log,
    now: options.now ?? Date.now,
  }
  const webSockets = createWebSocketProxy({ ...access, watch: engine.watch, maxConnections: config.http.maxWebSockets })
  const { request: handler, upgrade } = createHandler({
    apps: engine.apps,
    apiProxy: createApiProxy(access),
    webSockets,
    keycloakLogout: engine.keycloakLogout,
    opsRoutes: healthRoutes(engine.readiness),
    trustProxy: config.trustProxy,
    hostOf: host,
    staticDir: config.staticDir,
    appsIndexHost: config.appsIndexHost,
    isDraining: () => isDraining,
    metrics,
    log,
  })
  const forwardAuth =
    config.forwardAuth &&
    createForwardAuth({
      apps: new Map(engine.apps.map((a) => [a.app.publicUrl.host, a])),
      hostOf: host,
      tokens: engine.tokens,
      settings: config.forwardAuth,
      isDraining: () => isDraining,
      metrics,
      log,
    })
  return {
    handler,
    upgrade,
    forwardAuth: forwardAuth && withRequestId(forwardAuth, true), // only the proxy reaches this listener
    log,
    startDraining: () => {
      isDraining = true
      webSockets.closeAll() // else the server waits for them: a closed socket's client reconnects elsewhere
    },
    dispose: () => engine.dispose(),
  }
}
