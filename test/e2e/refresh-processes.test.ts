import { Redis } from 'ioredis'
import { Browser } from '../../harness/browser'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { keycloakUrl, redisUrl, testEnv } from '../../harness/keyward'
import { startKeywardProcess, type KeywardProcess } from '../../harness/keyward-process'
import { freePort } from '../../harness/redis-server'
import { api, refreshCount, SHORT_CLIENT, storedSession, untilExpired, waitUntil } from '../support/refresh-fixture'
import { TcpProxy } from '../../harness/tcp-proxy'
import { Upstream } from '../../harness/upstream'
import { scanKeys } from '../../harness/redis-topology'

/**
 * Several real keyward processes sharing one Redis, one Keycloak session, and Keycloak's refresh
 * token rotation: every refresh Keycloak performs is counted from its own REFRESH_TOKEN events.
 */
describe('refresh across keyward processes', () => {
  const redis = new Redis(redisUrl())
  const running: KeywardProcess[] = []
  const proxies: TcpProxy[] = []
  const upstreams: Upstream[] = []
  afterEach(async () => {
    await Promise.all(running.splice(0).map((p) => p.kill()))
    await Promise.all(proxies.splice(0).map((p) => p.close()))
    await Promise.all(upstreams.splice(0).map((u) => u.close()))
  })
  afterAll(() => redis.disconnect())

  /** Two (or more) keyward processes with one configuration; `extra[i]` adds to process i's. */
  async function cluster(realm: string, client: Record<string, string>, extra: Record<string, string>[]) {
    const upstream = await Upstream.start(realm)
    upstreams.push(upstream)
    const shared = testEnv({
      ...client,
      KEYCLOAK_REALM: realm,
      UPSTREAMS: JSON.stringify({ echo: upstream.url }),
      LOG_LEVEL: 'info',
    })
    const urls: string[] = []
    for (const more of extra) {
      const url = `http://127.0.0.1:${await freePort()}`
      running.push(await startKeywardProcess(url, { ...shared, ...more }))
      urls.push(url)
    }
    const prefix = shared.REDIS_PREFIX
    const store = { redis, keys: () => scanKeys(redis, `${prefix}*`) }
    return { urls, store, prefix, upstream }
  }

  async function proxyToKeycloak(): Promise<TcpProxy> {
    const proxy = await TcpProxy.start({ host: '127.0.0.1', port: Number(new URL(keycloakUrl()).port) })
    proxies.push(proxy)
    return proxy
  }

  test('50 parallel calls at the moment of expiry, over two processes: all succeed, Keycloak sees one refresh', async () => {
    const admin = new KeycloakAdmin()
    const { urls, store, upstream } = await cluster('keyward', SHORT_CLIENT, [{}, {}])
    const browser = new Browser()
    await browser.login(urls[0], 'alice', 'alice-password')
    const session = (await storedSession(store))!
    await untilExpired(session)

    const cookie = await browser.jar.getCookieString(urls[0])
    const calls = Array.from({ length: 50 }, (_, i) =>
      fetch(`${urls[i % 2]}/api/echo/n${i}`, { headers: { ...api, cookie } }),
    )
    const statuses = await Promise.all(calls.map(async (c) => (await c).status))
    expect(statuses).toEqual(Array(50).fill(200))
    expect(await refreshCount(admin, 'alice', session.sid)).toBe(1)
    expect((await storedSession(store))!.version).toBe(2)
    // Every call went out with the one token of that refresh.
    const tokens = new Set(upstream.seen.slice(-50).map((s) => s.claims!.jti))
    expect(tokens.size).toBe(1)

    // The session keeps working, and the next expiry is again one refresh.
    await untilExpired((await storedSession(store))!)
    const later = await Promise.all(urls.map((u) => fetch(`${u}/api/echo/later`, { headers: { ...api, cookie } })))
    expect(later.map((r) => r.status)).toEqual([200, 200])
    expect(await refreshCount(admin, 'alice', session.sid)).toBe(2)
  })

  /**
   * Two processes on `realm`: "doomed" reaches Keycloak through a proxy the test controls, "survivor"
   * directly. Alice logs in through the survivor; returns once her access token has expired.
   */
  async function doomedAndSurvivor(realm: string, client: Record<string, string>) {
    const admin = new KeycloakAdmin(realm)
    const toKeycloak = await proxyToKeycloak()
    const timings = { REFRESH_LOCK_TTL_MS: '4000', OIDC_TIMEOUT_SECONDS: '3', REFRESH_WAIT_MS: '500' }
    const { urls, store, prefix } = await cluster(realm, client, [
      { ...timings, KEYCLOAK_BACKCHANNEL_URL: toKeycloak.url },
      timings,
    ])
    const [doomed, survivor] = urls as [string, string]
    const browser = new Browser()
    await browser.login(survivor, 'alice', 'alice-password')
    const cookie = await browser.jar.getCookieString(survivor)
    const session = (await storedSession(store))!
    await untilExpired(session)
    const call = (url: string) => fetch(`${url}/api/echo/x`, { headers: { ...api, cookie } })
    return { admin, toKeycloak, doomed, survivor, call, store, prefix, session }
  }

  test('a process SIGKILLed while holding the refresh lock: the other one completes the refresh once the lock TTL ran out', async () => {
    const { admin, toKeycloak, doomed, survivor, call, store, prefix, session } = await doomedAndSurvivor(
      'keyward',
      SHORT_CLIENT,
    )

    // The doomed process takes the lock and sends its refresh into a proxy that never delivers it.
    toKeycloak.mode = 'hold'
    toKeycloak.cut()
    void call(doomed).catch(() => undefined)
    await waitUntil(async () => (await redis.exists(`${prefix}lock:{${session.id}}`)) === 1, 5000, 20)
    const killedAt = Date.now()
    await running[0].kill('SIGKILL')

    const blocked = await call(survivor)
    expect(blocked.status).toBe(503)
    expect(await blocked.json()).toMatchObject({ code: 'refresh_timeout' })
    expect(blocked.headers.get('retry-after')).toBe('1')

    await waitUntil(async () => (await call(survivor)).status === 200, 10_000, 250)
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(3000) // not before the dead holder's lock expired
    expect((await storedSession(store))!.version).toBe(2)
    expect(await refreshCount(admin, 'alice', session.sid)).toBe(1) // the dead process's refresh never reached Keycloak
  })

  /**
   * The worst moment to die: Keycloak has rotated the refresh token, the answer never got stored.
   * What follows depends on the realm's refreshTokenMaxReuse, and is what docs/operations.md documents ("Refresh: how and why").
   */
  async function rotatedThenDied(realm: string, client: Record<string, string>) {
    const { admin, toKeycloak, doomed, survivor, call, store, session } = await doomedAndSurvivor(realm, client)
    toKeycloak.mode = 'swallow' // Keycloak gets the refresh and answers; the answer is lost
    toKeycloak.cut()
    void call(doomed).catch(() => undefined)
    await waitUntil(async () => (await refreshCount(admin, 'alice', session.sid)) === 1, 5000)
    await running[0].kill('SIGKILL')
    expect((await storedSession(store))!.version).toBe(1) // still the token Keycloak just rotated away

    let answer: Response
    await waitUntil(
      async () => {
        answer = await call(survivor)
        return answer.status !== 503
      },
      10_000,
      250,
    )
    return { answer: answer!, store, admin, session }
  }

  test('Keycloak rotated, the process died before storing, reuse not allowed: the session ends cleanly (401, records gone)', async () => {
    const { answer, store } = await rotatedThenDied('keyward', SHORT_CLIENT)
    expect(answer.status).toBe(401)
    expect(await answer.json()).toMatchObject({ code: 'session_expired' })
    expect(await store.keys()).toEqual([])
  })

  test('Keycloak rotated, the process died before storing, one reuse allowed: the survivor refreshes and the session goes on', async () => {
    const { answer, store, admin, session } = await rotatedThenDied('keyward-reuse', {
      OIDC_CLIENT_ID: 'keyward-reuse',
      OIDC_CLIENT_SECRET: 'keyward-reuse-dev-secret',
    })
    expect(answer.status).toBe(200)
    expect((await storedSession(store))!.version).toBe(2)
    expect(await refreshCount(admin, 'alice', session.sid)).toBe(2)
  })
})
