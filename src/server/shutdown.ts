import type { Server } from 'node:http'
import type { Logger } from '../log'

/** What shutting down needs of the running keyward. */
export interface Stoppable {
  log: Logger
  /** New requests get 503 from now on. */
  startDraining(): void
  /** Lets work under way finish, then closes connections to Redis, Keycloak and upstreams. */
  dispose(): Promise<void>
}

/**
 * SIGTERM/SIGINT: refuse new requests, let open ones finish on every listener, close Redis, exit. A
 * timer that does not keep the process alive forces the exit if draining takes longer than the grace
 * period.
 */
export function exitGracefully(servers: Server[], composed: Stoppable, graceSeconds: number): void {
  let stopping = false
  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    composed.log.info({ signal }, 'shutting down')
    composed.startDraining()
    setTimeout(() => {
      composed.log.error('shutdown grace period over; exiting')
      process.exit(1)
    }, graceSeconds * 1000).unref()
    const closed = servers.map((server) => {
      const done = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeIdleConnections()
      return done
    })
    void Promise.all(closed).then(() => composed.dispose().finally(() => process.exit(0)))
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}
