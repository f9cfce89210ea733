#!/usr/bin/env node
import cluster from 'node:cluster'
import { ConfigError, loadConfig } from '../config/load'
import { createLogger } from '../log'
import { compose } from './compose'
import { createKeywardServer } from './http-server'
import { exposeMetrics } from './metrics-listener'
import { exitGracefully } from './shutdown'
import { superviseWorkers } from './workers'

function main(): void {
  let config
  try {
    config = loadConfig(process.env)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`keyward: ${err.message}\nSee .env.example and docs/configuration.md.\n`)
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
  const server = createKeywardServer(composed.handler, config.http, composed.upgrade)
  server.listen(config.port, config.host, () => {
    const listening = {
      url: config.apps.find((app) => !app.remote)?.publicUrl.origin,
      listen: `${config.host}:${config.port}`,
    }
    composed.log.info({ ...listening, workers: config.workers }, 'keyward listening')
  })
  const servers = [server]
  if (composed.forwardAuth && config.forwardAuth) {
    // Every worker listens: node:cluster shares the port, as it does the app's.
    const at = config.forwardAuth
    const checks = createKeywardServer(composed.forwardAuth, config.http)
    checks.listen(at.port, at.host, () =>
      composed.log.info({ listen: `${at.host}:${at.port}` }, 'forward-auth listening'),
    )
    servers.push(checks)
  }
  exitGracefully(servers, composed, config.shutdownGraceSeconds)
}

main()
