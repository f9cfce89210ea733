import type { Server } from 'node:http'
import type { Composed } from '../compose'

/**
 * SIGTERM/SIGINT: refuse new requests, let open ones finish, close Redis, exit. A timer that does not
 * keep the process alive forces the exit if draining takes longer than the grace period.
 */
export function exitGracefully(server: Server, composed: Composed, graceSeconds: number): void {
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
      composed.dispose().finally(() => process.exit(0))
    })
    server.closeIdleConnections()
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
}
