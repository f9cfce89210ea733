import { createServer, type RequestListener, type Server } from 'node:http'

/** What one keyward process lets its clients hold of it (HTTP_* in the configuration). */
export interface HttpLimits {
  /** A client must have sent its headers by then (slow-loris), … */
  headersTimeoutMs: number
  /** … and its whole request, body included. */
  requestTimeoutMs: number
  /** Request line and headers together; past it, 431. */
  maxHeaderBytes: number
  /** Open connections at once; more are closed as they come. */
  maxConnections: number
}

/** keyward's HTTP server: Node's, with its limits set from the configuration. */
export function createKeywardServer(handler: RequestListener, limits: HttpLimits): Server {
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
  return server
}
