import { createServer } from 'node:http'
import { compose } from './compose'
import { ConfigError, loadConfig } from './config/load'
import { exitGracefully } from './ops/shutdown'

function main(): void {
  let config
  try {
    config = loadConfig(process.env)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`keyward: ${err.message}\nSee .env.example and the configuration table in README.md.\n`)
    process.exit(2)
  }
  const composed = compose(config)
  const server = createServer(composed.handler)
  server.listen(config.port, config.host, () => {
    composed.log.info(
      { url: config.apps[0]?.publicUrl.origin, listen: `${config.host}:${config.port}` },
      'keyward listening',
    )
  })
  exitGracefully(server, composed, config.shutdownGraceSeconds)
}

main()
