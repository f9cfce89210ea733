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
 * SIGTERM/SIGINT: refuse new requests, let open ones finish, close Redis, exit. A timer that does not
 * keep the process alive forces the exit if draining takes longer than the grace period.
 */
export function exitGracefully(server: Server, composed: Stoppable, graceSeconds: number): void {
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
    server.close(() => {
      void composed.dispose().finally(() => process.exit(0))
    })
    server.closeIdleConnections()
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}
