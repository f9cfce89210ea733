import { execFileSync } from 'node:child_process'
import { createServer, type Server } from 'node:http'
import { cpus } from 'node:os'
import { join } from 'node:path'
import autocannon from 'autocannon'
import { Redis } from 'ioredis'
import { Browser } from '../harness/browser'
import { testEnv } from '../harness/keyward'
import { startKeywardProcess } from '../harness/keyward-process'
import { freePort, RedisServer } from '../harness/redis-server'

const root = join(__dirname, '..')

/** Keycloak from scripts/keycloak.sh (reused if running); its URL is what the test helpers read. */
export function keycloak(): string {
  const url = execFileSync('bash', [join(root, 'scripts/keycloak.sh'), 'start'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
    .toString()
    .trim()
    .split('\n')
    .pop()!
  process.env.KEYWARD_TEST_KEYCLOAK_URL = url
  return url
}

/** A private Redis only keyward talks to, so INFO commandstats counts keyward's commands alone. */
export async function privateRedis(): Promise<{ server: RedisServer; client: Redis }> {
  const server = await RedisServer.create()
  await server.start()
  process.env.KEYWARD_TEST_REDIS_URL = server.url
  return { server, client: new Redis(server.url) }
}

/** The API behind keyward: answers a small JSON body at once and checks nothing. */
export async function echoUpstream(): Promise<{ url: string; server: Server }> {
  const body = JSON.stringify({ ok: true, items: [1, 2, 3] })
  const server = createServer((req, res) => {
    req.resume()
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body)
  })
  const port = await freePort()
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  return { url: `http://127.0.0.1:${port}`, server }
}

export async function login(url: string, username = 'alice'): Promise<string> {
  const browser = new Browser()
  await browser.login(url, username, `${username}-password`)
  return browser.jar.getCookieString(url)
}

export interface LoadResult {
  requests: number
  rps: number
  p50: number
  p99: number
  errors: number
  non2xx: number
}

export async function load(options: autocannon.Options): Promise<LoadResult> {
  const r = await autocannon({ connections: 50, duration: 10, ...options })
  return {
    requests: r.requests.total,
    rps: Math.round(r.requests.average),
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.timeouts,
    non2xx: r.non2xx,
  }
}

/** Calls per Redis command since the last CONFIG RESETSTAT. */
export async function commandStats(redis: Redis): Promise<Record<string, number>> {
  const info = await redis.info('commandstats')
  const out: Record<string, number> = {}
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out[m[1]] = Number(m[2])
  return out
}

export const machine = () =>
  `${process.version}, ${cpus().length} cores (${cpus()[0].model.trim()}), ${new Date().toISOString()}`

/**
 * What both benchmarks run against: Keycloak, a private Redis, the echo upstream as "echo", and
 * keyward from dist/ as its own process. `run` gets them; everything is stopped afterwards.
 */
export async function withStack(
  overrides: Record<string, string>,
  run: (stack: { url: string; env: Record<string, string>; upstream: string; redis: Redis }) => Promise<void>,
): Promise<void> {
  keycloak()
  const redis = await privateRedis()
  const upstream = await echoUpstream()
  const url = `http://127.0.0.1:${await freePort()}`
  // testEnv turns the login rate limit off: the refresh storm logs in 1,000 times from one address.
  const env = testEnv({ UPSTREAMS: JSON.stringify({ echo: upstream.url }), LOG_LEVEL: 'warn', ...overrides })
  const kw = await startKeywardProcess(url, env, { built: true })
  try {
    await run({ url, env, upstream: upstream.url, redis: redis.client })
  } finally {
    await kw.kill('SIGTERM')
    upstream.server.close()
    redis.client.disconnect()
    await redis.server.stop()
  }
}

export function main(run: () => Promise<void>): void {
  run().then(
    () => process.exit(0),
    (err: unknown) => {
      console.error(err)
      process.exit(1)
    },
  )
}
