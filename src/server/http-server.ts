import { createServer, type RequestListener, type Server } from 'node:http'
import type { HttpLimits } from '../config/types'
import type { UpgradeListener } from './handler'

/** keyward's HTTP server: Node's, with its limits set from the configuration (and WebSockets, with `upgrade`). */
export function createKeywardServer(handler: RequestListener, limits: HttpLimits, upgrade?: UpgradeListener): Server {
  const server = createServer(
    {
      maxHeaderSize: limits.maxHeaderBytes,
      headersTimeout: limits.headersTimeoutMs,
      requestTimeout: limits.requestTimeoutMs,
      // Node checks the two timeouts this often (30 s by default): a slow client would get that much more.
      connectionsCheckingInterval: 1000,
    },
    handler,
  )
  server.maxConnections = limits.maxConnections
  if (upgrade) server.on('upgrade', upgrade)
  return server
}
