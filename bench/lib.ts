import { execFileSync } from 'node:child_process'
import { createServer, type Server } from 'node:http'
import { join } from 'node:path'
import autocannon from 'autocannon'
import { Redis } from 'ioredis'
import { Browser } from '../test/support/browser'
import { freePort, RedisServer } from '../test/support/redis-server'

const root = join(__dirname, '..')

/** Keycloak from scripts/keycloak.sh (reused if running); its URL is what the test helpers read. */
export function keycloak(): string {
  const url = execFileSync('bash', [join(root, 'scripts/keycloak.sh'), 'start'], { stdio: ['ignore', 'pipe', 'inherit'] })
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
  for (const m of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) out[m[1]!] = Number(m[2])
  return out
}

export const machine = () =>
  `${process.version}, ${require('node:os').cpus().length} cores (${require('node:os').cpus()[0].model.trim()}), ${new Date().toISOString()}`
