import cluster, { type Worker } from 'node:cluster'
import type { Logger } from '../log'
import { serveWorkerMetrics, type MetricsListener } from './metrics-listener'

/**
 * The primary of a keyward with several worker processes (node:cluster: they share the listening
 * port, and the primary hands each new connection to the next worker). It serves nothing itself: it
 * starts `count` workers, starts a worker again when one dies (after a pause that grows while they
 * keep dying), and on SIGTERM/SIGINT passes SIGTERM on to every worker, each of which drains as a
 * single keyward would (server/shutdown.ts), then exits once they all have, or after `graceSeconds`.
 * With `metrics` (METRICS_PORT), it serves GET /metrics there: every worker's metrics, summed.
 */
export function superviseWorkers(count: number, graceSeconds: number, log: Logger, metrics?: MetricsListener): void {
  let stopping = false
  let restartDelayMs = 100
  const start = (): Worker => cluster.fork()

  cluster.on('online', (worker) => log.debug({ worker: worker.process.pid }, 'worker started'))
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0)
      return
    }
    log.error(
      { worker: worker.process.pid, code, signal, restartInMs: restartDelayMs },
      'worker died; starting another',
    )
    setTimeout(start, restartDelayMs).unref()
    restartDelayMs = Math.min(restartDelayMs * 2, 10_000)
  })
  // A worker that has served for a minute resets the pause before the next restart.
  setInterval(() => (restartDelayMs = 100), 60_000).unref()

  const stop = (signal: string) => {
    if (stopping) return
    stopping = true
    log.info({ signal, workers: Object.keys(cluster.workers ?? {}).length }, 'shutting down')
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGTERM')
    setTimeout(() => {
      log.error('shutdown grace period over; exiting')
      process.exit(1)
    }, graceSeconds * 1000).unref()
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
  if (metrics) serveWorkerMetrics(metrics, log)
  for (let i = 0; i < count; i++) start()
}
