import { Redis } from 'ioredis'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { keycloakUrl, redisUrl, startKeyward, type RunningKeyward } from '../../harness/keyward'
import { RedisServer } from '../../harness/redis-server'
import {
  api,
  loggedIn,
  refreshCount,
  SHORT_CLIENT,
  storedAccessClaims,
  storedSession,
  untilExpired,
  waitUntil,
} from '../support/refresh-fixture'
import { TcpProxy } from '../../harness/tcp-proxy'
import { Upstream } from '../../harness/upstream'

const admin = new KeycloakAdmin()

describe('transparent refresh (10-second access tokens, rotation on, no reuse)', () => {
  let upstream: Upstream
  beforeAll(async () => {
    upstream = await Upstream.start()
  })
  afterAll(() => upstream.close())
  const env = () => ({ ...SHORT_CLIENT, UPSTREAMS: JSON.stringify({ echo: upstream.url }) })

  describe('with one keyward', () => {
    let kw: RunningKeyward
    beforeEach(async () => {
      kw = await startKeyward(env())
    })
    afterEach(() => kw.close())

    test('an expired token is refreshed once before the call; expiry times and the record TTL move on', async () => {
      const { browser, session } = await loggedIn(kw)
      const firstExp = (await storedAccessClaims(kw, session)).exp as number
      const before = JSON.parse((await browser.request(`${kw.url}/auth/session`)).text)
      await untilExpired(session)

      const res = await browser.request(`${kw.url}/api/echo/me`, { headers: api })
      expect(res.status).toBe(200)
      const after = (await storedSession(kw))!
      expect(after.version).toBe(2)
      expect(after.accessExpiresAt).toBeGreaterThan(session.accessExpiresAt)
      expect(after.expiresAt).toBeGreaterThan(session.expiresAt) // the record's lifetime slid
      const pttl = await kw.redis.pttl(after.key)
      expect(Math.abs(after.expiresAt - Date.now() - pttl)).toBeLessThan(1000)
      const info = JSON.parse((await browser.request(`${kw.url}/auth/session`)).text)
      expect(Date.parse(info.accessTokenExpiresAt)).toBeGreaterThan(Date.parse(before.accessTokenExpiresAt))
      expect(Date.parse(info.refreshedAt)).toBeGreaterThan(Date.parse(before.refreshedAt))
      expect(await refreshCount(admin, 'alice', session.sid)).toBe(1)
      // The upstream got a token Keycloak issued at the refresh, not the expired one.
      expect(upstream.seen.at(-1)!.claims!.exp! * 1000).toBeGreaterThan(Date.now())
      // keyward's expiry of each token is never later than the token's own exp: it counts from when the
      // request left, not when the answer came (which would be late by the whole round trip).
      expect(session.accessExpiresAt).toBeLessThanOrEqual(firstExp * 1000)
      expect(after.accessExpiresAt).toBeLessThanOrEqual(((await storedAccessClaims(kw, after)).exp as number) * 1000)
    })

    test('inside the refresh window the call goes out at once with the current token, and a refresh follows', async () => {
      const { browser, session } = await loggedIn(kw)
      const stored = await storedAccessClaims(kw, session)
      // 10 s tokens: the window is a quarter of the lifetime, the last 2.5 s.
      await new Promise((r) => setTimeout(r, Math.max(0, session.accessExpiresAt - Date.now() - 1800)))
      const res = await browser.request(`${kw.url}/api/echo/me`, { headers: api })
      expect(res.status).toBe(200)
      expect(upstream.seen.at(-1)!.claims!.jti).toBe(stored.jti) // the stored token, not a refreshed one
      await waitUntil(async () => (await storedSession(kw))!.version === 2, 5000)
      expect(await refreshCount(admin, 'alice', session.sid)).toBe(1)
    })

    test('a session ended in Keycloak ends here at the next refresh: 401 session_expired, records gone', async () => {
      const { browser, session } = await loggedIn(kw)
      await admin.call('DELETE', `/sessions/${session.sid}`)
      await untilExpired(session)
      const res = await browser.request(`${kw.url}/api/echo/me`, { headers: api })
      expect(res.status).toBe(401)
      expect(JSON.parse(res.text)).toMatchObject({ code: 'session_expired' })
      expect(res.headers.getSetCookie().join()).toMatch(/^keyward=;/)
      expect(await kw.keys()).toEqual([])
      expect((await browser.request(`${kw.url}/auth/session`)).status).toBe(401)
    })
  })

  test('Keycloak unreachable while a refresh is due: 503 with Retry-After, session kept; reachable again: the next call works', async () => {
    const toKeycloak = await TcpProxy.start({ host: '127.0.0.1', port: Number(new URL(keycloakUrl()).port) })
    const kw = await startKeyward({ ...env(), KEYCLOAK_BACKCHANNEL_URL: toKeycloak.url, OIDC_TIMEOUT_SECONDS: '2' })
    try {
      const { browser, session } = await loggedIn(kw)
      await untilExpired(session)
      toKeycloak.mode = 'refuse'
      toKeycloak.cut()
      const down = await browser.request(`${kw.url}/api/echo/me`, { headers: api })
      expect(down.status).toBe(503)
      expect(down.headers.get('retry-after')).toBe('2')
      expect(JSON.parse(down.text)).toMatchObject({ code: 'keycloak_unavailable' })
      expect((await storedSession(kw))!.version).toBe(1)

      toKeycloak.mode = 'forward'
      const up = await browser.request(`${kw.url}/api/echo/me`, { headers: api })
      expect(up.status).toBe(200)
      expect((await storedSession(kw))!.version).toBe(2)
      expect(await refreshCount(admin, 'alice', session.sid)).toBe(1)
    } finally {
      await kw.close()
      await toKeycloak.close()
    }
  })

  test('Redis lost just after Keycloak rotated the refresh token: the new tokens are stored once Redis is back, and the session goes on', async () => {
    const redis = await RedisServer.create(['--save', '', '--appendonly', 'yes', '--appendfsync', 'always'])
    await redis.start()
    const toRedis = await TcpProxy.start({ host: '127.0.0.1', port: redis.port })
    const toKeycloak = await TcpProxy.start({ host: '127.0.0.1', port: Number(new URL(keycloakUrl()).port) })
    const kw = await startKeyward({
      ...env(),
      REDIS_URL: `redis://127.0.0.1:${toRedis.port}`,
      KEYCLOAK_BACKCHANNEL_URL: toKeycloak.url,
    })
    try {
      const { browser, session } = await loggedIn(kw)
      await untilExpired(session)
      // Keycloak's answer to the refresh comes a second late; Keycloak has rotated the token by then.
      toKeycloak.answerDelayMs = 1000
      toKeycloak.cut()
      const call = browser.request(`${kw.url}/api/echo/me`, { headers: api })
      await waitUntil(async () => (await refreshCount(admin, 'alice', session.sid)) === 1, 5000, 50)
      // Redis goes away before the answer arrives, and comes back a while after.
      toRedis.mode = 'refuse'
      toRedis.cut()
      await new Promise((r) => setTimeout(r, 2000))
      toRedis.mode = 'forward'

      expect((await call).status).toBe(200)
      expect((await storedSession(kw))!.version).toBe(2)
      // What was stored is the token Keycloak rotated to: the next refresh uses it, and Keycloak (no reuse) accepts it.
      toKeycloak.answerDelayMs = 0
      await untilExpired((await storedSession(kw))!)
      expect((await browser.request(`${kw.url}/api/echo/me`, { headers: api })).status).toBe(200)
      expect(await refreshCount(admin, 'alice', session.sid)).toBe(2)
      expect((await storedSession(kw))!.version).toBe(3)
    } finally {
      await kw.close()
      await toKeycloak.close()
      await toRedis.close()
      await redis.stop()
    }
  })

  test('a background refresh still waiting for Keycloak at shutdown is finished and stored before Redis is closed', async () => {
    const toKeycloak = await TcpProxy.start({ host: '127.0.0.1', port: Number(new URL(keycloakUrl()).port) })
    const kw = await startKeyward({ ...env(), KEYCLOAK_BACKCHANNEL_URL: toKeycloak.url })
    const redis = new Redis(redisUrl())
    try {
      const { browser, session } = await loggedIn(kw)
      await new Promise((r) => setTimeout(r, Math.max(0, session.accessExpiresAt - Date.now() - 1800))) // inside the refresh window
      toKeycloak.answerDelayMs = 1000
      toKeycloak.cut()
      expect((await browser.request(`${kw.url}/api/echo/me`, { headers: api })).status).toBe(200) // at once, with the current token
      await kw.close() // while the refresh waits for Keycloak's late answer
      expect(await redis.hget(session.key, 'v')).toBe('2')
      expect(await refreshCount(admin, 'alice', session.sid)).toBe(1)
    } finally {
      redis.disconnect()
      await toKeycloak.close()
    }
  })

  test('Redis stopped and started again: fast 503s, no crash, and the session works again without restarting keyward', async () => {
    const redis = await RedisServer.create(['--save', '', '--appendonly', 'yes', '--appendfsync', 'always'])
    await redis.start()
    const kw = await startKeyward({ ...env(), REDIS_URL: redis.url })
    try {
      const { browser } = await loggedIn(kw)
      expect((await browser.request(`${kw.url}/api/echo/me`, { headers: api })).status).toBe(200)
      await redis.stop()
      await waitUntil(async () => (await fetch(`${kw.url}/readyz`)).status === 503, 5000, 20) // noticed
      for (let i = 0; i < 5; i++) {
        const started = Date.now()
        const res = await browser.request(`${kw.url}/api/echo/me`, { headers: api })
        expect(res.status).toBe(503)
        expect(JSON.parse(res.text)).toMatchObject({ code: 'store_unavailable' })
        expect(Date.now() - started).toBeLessThan(2500)
      }
      expect((await fetch(`${kw.url}/healthz`)).status).toBe(200)
      await redis.start()
      await waitUntil(
        async () => (await browser.request(`${kw.url}/api/echo/me`, { headers: api })).status === 200,
        5000,
      )
    } finally {
      await kw.close()
      await redis.stop()
    }
  })
})
