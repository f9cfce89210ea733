import { Redis } from 'ioredis'
import { Browser } from '../../harness/browser'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { keycloakUrl, redisUrl, testEnv } from '../../harness/keyward'
import { startKeywardProcess, type KeywardProcess } from '../../harness/keyward-process'
import { workersOf } from '../../harness/processes'
import { freePort, RedisServer } from '../../harness/redis-server'
import { TcpProxy } from '../../harness/tcp-proxy'
import { Upstream } from '../../harness/upstream'
import { api, refreshCount, SHORT_CLIENT, waitUntil } from '../support/refresh-fixture'
import { scanKeys } from '../../harness/redis-topology'

const admin = new KeycloakAdmin()

/** The one token session under `prefix` in `redis`: its key and metadata. */
async function storedSession(redis: Redis, prefix: string) {
  const [key] = await scanKeys(redis, `${prefix}tok:*`)
  const meta = JSON.parse((await redis.hget(key, 'm'))!) as { sid: string; accessExpiresAt: number }
  return { key: key, ...meta }
}

/** How many times Redis ran `command` since its stats were last reset. */
async function calls(redis: Redis, command: string): Promise<number> {
  return Number(new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(await redis.info('commandstats'))?.[1] ?? 0)
}

describe('keyward as several processes', () => {
  let upstream: Upstream
  const running: KeywardProcess[] = []
  beforeAll(async () => {
    upstream = await Upstream.start()
  })
  afterEach(async () => Promise.all(running.splice(0).map((p) => p.kill())))
  afterAll(() => upstream.close())

  async function start(env: Record<string, string>): Promise<{ url: string; proc: KeywardProcess }> {
    const url = `http://127.0.0.1:${await freePort()}`
    const proc = await startKeywardProcess(url, env)
    running.push(proc)
    return { url, proc }
  }

  test('WORKERS=2: two workers serve one port; one that dies is replaced; SIGTERM drains each, finishing its refresh, and exits 0', async () => {
    const toKeycloak = await TcpProxy.start({ host: '127.0.0.1', port: Number(new URL(keycloakUrl()).port) })
    const redis = new Redis(redisUrl())
    try {
      const env = testEnv({
        ...SHORT_CLIENT,
        UPSTREAMS: JSON.stringify({ echo: upstream.url }),
        KEYCLOAK_BACKCHANNEL_URL: toKeycloak.url,
        LOG_LEVEL: 'info',
        WORKERS: '2',
      })
      const { url, proc } = await start(env)
      const primary = proc.child.pid!
      await waitUntil(async () => workersOf(primary).length === 2, 10_000)
      const browser = new Browser()
      await browser.login(url, 'alice', 'alice-password')
      for (let i = 0; i < 6; i++)
        expect((await browser.request(`${url}/api/echo/me`, { headers: api })).status).toBe(200)

      const [first] = workersOf(primary)
      process.kill(first, 'SIGKILL')
      await waitUntil(async () => workersOf(primary).length === 2 && !workersOf(primary).includes(first), 10_000)
      // The primary's log line may reach the pipe after its new worker has started.
      await waitUntil(async () => proc.output().includes('worker died; starting another'), 5_000)
      await waitUntil(async () => (await fetch(`${url}/readyz`)).ok, 10_000)
      for (let i = 0; i < 6; i++)
        expect((await browser.request(`${url}/api/echo/me`, { headers: api })).status).toBe(200)

      // A refresh under way in a worker when SIGTERM comes: Keycloak answers late, and the worker waits.
      const session = await storedSession(redis, env.REDIS_PREFIX)
      await new Promise((r) => setTimeout(r, Math.max(0, session.accessExpiresAt - Date.now() - 1800)))
      toKeycloak.answerDelayMs = 1000
      toKeycloak.cut()
      expect((await browser.request(`${url}/api/echo/me`, { headers: api })).status).toBe(200)
      proc.child.kill('SIGTERM')
      expect(await proc.exited).toBe(0)
      expect(await redis.hget(session.key, 'v')).toBe('2')
      expect(await refreshCount(admin, 'alice', session.sid)).toBe(1)
      expect(proc.output().match(/"msg":"shutting down"/g)).toHaveLength(3) // the primary and both workers
    } finally {
      redis.disconnect()
      await toKeycloak.close()
    }
  })

  test('each instance serves a session it read from memory, and a logout on one reaches the other within a second', async () => {
    const server = await RedisServer.create()
    await server.start()
    const redis = new Redis(server.url)
    try {
      // A cache age far past a second: only Redis's own message can end the other instance's copy.
      const env = testEnv({
        REDIS_URL: server.url,
        UPSTREAMS: JSON.stringify({ echo: upstream.url }),
        SESSION_CACHE_MS: '60000',
      })
      const [a, b] = [await start(env), await start(env)]
      const browser = new Browser()
      await browser.login(a.url, 'bob', 'bob-password')
      const cookie = await browser.jar.getCookieString(a.url)
      const onB = () => fetch(`${b.url}/api/echo/me`, { headers: { ...api, cookie } })
      expect((await onB()).status).toBe(200)
      const before = await calls(redis, 'hgetall')
      for (let i = 0; i < 20; i++) expect((await onB()).status).toBe(200)
      expect((await calls(redis, 'hgetall')) - before).toBe(0)

      const { sid } = await storedSession(redis, env.REDIS_PREFIX)
      const out = await browser.request(`${a.url}/auth/logout`, { method: 'POST', headers: api })
      expect(out.status).toBe(200)
      const loggedOut = Date.now()
      await waitUntil(async () => (await onB()).status === 401, 1000, 10)
      expect(Date.now() - loggedOut).toBeLessThan(1000)
      expect(await (await onB()).json()).toMatchObject({ code: 'session_expired' })
      expect((await admin.userSessions('bob')).map((s) => s.id)).not.toContain(sid)
    } finally {
      redis.disconnect()
      await server.stop()
    }
  })
})
