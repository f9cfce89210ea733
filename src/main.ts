import cluster from 'node:cluster'
import { compose } from './compose'
import { ConfigError, loadConfig } from './config/load'
import { createLogger } from './log'
import { exposeMetrics } from './ops/metrics'
import { createKeywardServer } from './ops/server'
import { exitGracefully } from './ops/shutdown'
import { superviseWorkers } from './ops/workers'

function main(): void {
  let config
  try {
    config = loadConfig(process.env)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`keyward: ${err.message}\nSee .env.example and the configuration table in README.md.\n`)
    process.exit(2)
  }
  if (config.workers > 1 && cluster.isPrimary) {
    superviseWorkers(
      config.workers,
      config.shutdownGraceSeconds,
      createLogger(config.logLevel).child({ primary: true }),
      config.metrics,
    )
    return
  }
  const log = createLogger(config.logLevel)
  // With METRICS_PORT: this process's metrics, served on their own port here, or by the primary.
  const composed = compose(config, { log, metrics: config.metrics && exposeMetrics(config.metrics, log) })
  const server = createKeywardServer(composed.handler, config.http)
  server.listen(config.port, config.host, () => {
    const listening = {
      url: config.apps.find((app) => !app.remote)?.publicUrl.origin,
      listen: `${config.host}:${config.port}`,
    }
    composed.log.info({ ...listening, workers: config.workers }, 'keyward listening')
  })
  exitGracefully(server, composed, config.shutdownGraceSeconds)
}

main()
