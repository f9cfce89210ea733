import { randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { Writable } from 'node:stream'
import { Cluster, Redis } from 'ioredis'
import { compose, type Composed } from '../src/server/compose'
import { loadConfig, type ServerConfig as Config } from '../src/config/load'
import { createLogger } from '../src/log'
import type { TokenSet } from '../src/domain/token-session'
import { createSealer } from '../src/store/seal'
import { decodeTokens } from '../src/store/token-codec'
import type { RedisTopology } from '../src/config/types'
import { disconnectRedis, openServer, type RedisClient } from '../src/store/topology'
import { watchKeyward } from './leaks'
import { scanKeys } from './redis-topology'
import { keycloakUrl, redisUrl } from './servers'
import { waitUntil } from './wait'

export { keycloakUrl, redisUrl } from './servers'
export { waitUntil } from './wait'

export const TEST_KEYS = `k1:${randomBytes(32).toString('base64')}`

/** Opens what keyward sealed in Redis with TEST_KEYS, for tests that must look at the tokens themselves. */
export const testSealer = () => createSealer([{ kid: 'k1', key: Buffer.from(TEST_KEYS.slice(3), 'base64') }])

/** The tokens a session record holds (its `t` field), opened with TEST_KEYS. */
export const openTokens = (sealed: Buffer, id: string): TokenSet => decodeTokens(testSealer().open(sealed, id))

/** Environment for one keyward under test; every instance gets its own Redis key prefix. */
export function testEnv(overrides: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {
    KEYCLOAK_URL: keycloakUrl(),
    KEYCLOAK_REALM: 'keyward',
    OIDC_CLIENT_ID: 'keyward-web',
    OIDC_CLIENT_SECRET: 'keyward-web-dev-secret',
    DEV_ALLOW_HTTP: 'true',
    REDIS_URL: redisUrl(),
    REDIS_PREFIX: `kwtest:${randomBytes(4).toString('hex')}:`,
    SESSION_SECRET: randomBytes(32).toString('hex'),
    TOKEN_ENCRYPTION_KEYS: TEST_KEYS,
    LOG_LEVEL: 'debug',
    // One process: the suites start several keywards of their own; the workers have their own test.
    WORKERS: '1',
    // Suites log in many times from one address, and check that Redis holds nothing after a logout;
    // the limit's own counter would be in the way. It has a test of its own (bad-input).
    LOGIN_RATE_LIMIT: '0',
    ...overrides,
  }
  // Sentinels or a Cluster replace the one server (keyward refuses both at once).
  if (env.REDIS_SENTINELS || env.REDIS_CLUSTER_NODES) delete env.REDIS_URL
  return env
}

/** A keyward listening on 127.0.0.1 port 0, its log lines kept for inspection. */
export interface RunningKeyward {
  /** Where the test reaches keyward (plain http on loopback). */
  url: string
  /** The app's PUBLIC_URL: `url`, or its https twin when started with `behindTls`. */
  publicUrl: string
  config: Config
  composed: Composed
  logs: string[]
  /** A plain Redis client for assertions on what keyward stored. */
  redis: RedisClient
  keys(): Promise<string[]>
  close(): Promise<void>
}

export async function startKeyward(
  overrides: Record<string, string> = {},
  options: {
    adjust?: (config: Config) => Config
    waitUntilReady?: boolean
    /** PUBLIC_URL is https and keyward trusts one proxy hop: production cookies, tested over http. */
    behindTls?: boolean
    /** A port chosen beforehand (`freePort`), when another keyward's configuration must name it. */
    port?: number
  } = {},
): Promise<RunningKeyward> {
  const { adjust = (c: Config) => c, waitUntilReady = true, behindTls = false } = options
  const server: Server = createServer()
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  const url = `http://127.0.0.1:${port}`
  const publicUrl = behindTls ? `https://127.0.0.1:${port}` : url
  const tls: Record<string, string> = behindTls ? { TRUST_PROXY: '1' } : {}
  const config = adjust(loadConfig(testEnv({ PUBLIC_URL: publicUrl, ...tls, ...overrides })))
  const logs: string[] = []
  const sink = new Writable({
    write(chunk, _enc, done) {
      logs.push(String(chunk))
      done()
    },
  })
  const composed = compose(config, { log: createLogger(config.logLevel, sink) })
  watchKeyward(port, () => logs.join(''))
  server.on('request', composed.handler)
  server.on('upgrade', composed.upgrade)
  // The forward-auth listener, on the port FORWARD_AUTH_PORT names (a test picks a free one).
  const checks = composed.forwardAuth && createServer(composed.forwardAuth)
  if (checks) await new Promise<void>((resolve) => checks.listen(config.forwardAuth!.port, '127.0.0.1', resolve))
  if (waitUntilReady) await waitUntil(async () => (await fetch(`${url}/readyz`)).ok, 20_000)
  const redis = assertionClient(config.redis.topology)
  return {
    url,
    publicUrl,
    config,
    composed,
    logs,
    redis,
    keys: async () => {
      if (redis.status === 'wait') await redis.connect().catch(() => undefined)
      return scanKeys(redis, `${config.redis.prefix}*`)
    },
    async close() {
      composed.startDraining() // closes its WebSockets, which closeAllConnections does not see
      for (const s of checks ? [server, checks] : [server]) {
        s.closeAllConnections()
        await new Promise<void>((resolve) => s.close(() => resolve()))
      }
      await composed.dispose()
      disconnectRedis(redis)
    },
  }
}

/** A client of keyward's Redis, connected on first use, that waits for Redis rather than failing at once. */
function assertionClient(topology: RedisTopology): RedisClient {
  const waiting = { lazyConnect: true, enableOfflineQueue: true, maxRetriesPerRequest: 1 }
  const tls = topology.tls ? { tls: topology.tls } : {}
  const client =
    topology.kind === 'standalone'
      ? new Redis(topology.url, { lazyConnect: true, maxRetriesPerRequest: 1, ...tls })
      : topology.kind === 'cluster'
        ? new Cluster(topology.nodes, { ...waiting, scaleReads: 'master', redisOptions: { ...topology.auth, ...tls } })
        : openServer(topology, waiting)
  client.on('error', () => undefined) // keyward's own client reports Redis trouble
  return client
}

/** Runs `use` against a keyward started for it, which is closed afterwards whatever happens. */
export async function withKeyward(
  overrides: Record<string, string>,
  use: (kw: RunningKeyward) => Promise<void>,
  options: Parameters<typeof startKeyward>[1] = {},
): Promise<void> {
  const kw = await startKeyward(overrides, options)
  try {
    await use(kw)
  } finally {
    await kw.close()
  }
}
