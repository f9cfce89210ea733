import cluster from 'node:cluster'
import { createServer } from 'node:http'
import { AggregatorRegistry, Registry } from 'prom-client'
import type { Metrics } from '../domain/metrics'
import { errorFields, type Logger } from '../log'
import { createMetrics } from '../ops/metrics'

/** METRICS_HOST and METRICS_PORT. */
export interface MetricsListener {
  host: string
  port: number
}

/** What GET /metrics answers with: one process's registry, or every worker's summed by the primary. */
interface Exposition {
  contentType: string
  metrics(): Promise<string>
}

/**
 * GET /metrics on a listener of its own (METRICS_HOST:METRICS_PORT), never on the app's: traffic,
 * failure rates and Keycloak's health are for the operator's scraper, not for anyone on the internet.
 * A port that cannot be had stops keyward, as the app's own does.
 */
function listenForMetrics(exposition: Exposition, at: MetricsListener, log: Logger): void {
  const server = createServer({ headersTimeout: 5000, requestTimeout: 10_000 }, (req, res) => {
    if (req.url?.split('?', 1)[0] !== '/metrics' || !['GET', 'HEAD'].includes(req.method ?? '')) {
      res.writeHead(404).end()
      return
    }
    exposition.metrics().then(
      (text) => res.writeHead(200, { 'Content-Type': exposition.contentType, 'Cache-Control': 'no-store' }).end(text),
      (err: unknown) => {
        log.warn({ error: errorFields(err) }, 'metrics could not be gathered')
        res.writeHead(503).end()
      },
    )
  })
  server.listen(at.port, at.host, () => log.info({ listen: `${at.host}:${at.port}` }, 'metrics listening'))
}

/**
 * This process's metrics. A single keyward serves them itself; a worker (WORKERS > 1) hands them to
 * the primary when it asks (`serveWorkerMetrics`), and listens on no metrics port.
 */
export function exposeMetrics(at: MetricsListener, log: Logger): Metrics {
  const registry = new Registry()
  const metrics = createMetrics(registry)
  if (cluster.isWorker) {
    AggregatorRegistry.setRegistries([registry])
    // Constructing one is what makes prom-client answer the primary's requests in a worker.
    new AggregatorRegistry()
  } else {
    listenForMetrics(registry, at, log)
  }
  return metrics
}

/** The primary of several workers: each scrape asks every worker for its metrics and serves their sum. */
export function serveWorkerMetrics(at: MetricsListener, log: Logger): void {
  const aggregator = new AggregatorRegistry()
  listenForMetrics({ contentType: aggregator.contentType, metrics: () => aggregator.clusterMetrics() }, at, log)
}
