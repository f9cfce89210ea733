import { createHmac } from 'node:crypto'
import { Redis } from 'ioredis'
import { digest, randomOpaque } from '../../src/domain/opaque'
import { Browser } from '../../harness/browser'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { TcpProxy } from '../../harness/tcp-proxy'
import {
  keycloakUrl,
  startKeyward,
  testSealer,
  waitUntil,
  withKeyward,
  type RunningKeyward,
} from '../../harness/keyward'
import { APP_URI, bearer, MOBILE, MobileApp } from '../../harness/mobile-app'
import { freePort, RedisServer } from '../../harness/redis-server'
import { storedSession } from '../support/refresh-fixture'

const admin = new KeycloakAdmin()

/** An express-session cookie value signed the way express-session signs it. */
const signedCookie = (id: string, secret: string) =>
  encodeURIComponent(`s:${id}.${createHmac('sha256', secret).update(id).digest('base64').replace(/=+$/, '')}`)

describe('health, readiness, and outages of Redis and Keycloak', () => {
  test('healthz and readyz answer 200 when Redis and Keycloak are there', async () => {
    await withKeyward({}, async (kw) => {
      expect(await (await fetch(`${kw.url}/healthz`)).json()).toEqual({ status: 'ok' })
      // The realm's keys are fetched once a probe finds them missing; they never hold readiness back.
      const first = await fetch(`${kw.url}/readyz`)
      expect(first.status).toBe(200)
      await waitUntil(async () => (await (await fetch(`${kw.url}/readyz`)).json()).checks.jwks === 'loaded', 5000)
      const ready = await fetch(`${kw.url}/readyz`)
      expect(ready.status).toBe(200)
      expect(await ready.json()).toEqual({
        status: 'ready',
        checks: { redis: 'up', keycloak: 'up', jwks: 'loaded' },
        redis: { topology: 'standalone' },
        jwks: { keys: expect.any(Number) },
      })
    })
  })

  test('without Keycloak, keyward starts, is not ready, and login answers 503 with Retry-After', async () => {
    await withKeyward(
      { KEYCLOAK_URL: `http://127.0.0.1:${await freePort()}` },
      async (kw) => {
        expect((await fetch(`${kw.url}/healthz`)).status).toBe(200)
        // Redis is reported up once its connection is (a run on a busy machine once asked before).
        const readiness = async () => (await (await fetch(`${kw.url}/readyz`)).json()) as { checks: { redis: string } }
        await waitUntil(async () => (await readiness()).checks.redis === 'up', 5000)
        const ready = await fetch(`${kw.url}/readyz`)
        expect(ready.status).toBe(503)
        expect(await ready.json()).toMatchObject({ checks: { redis: 'up', keycloak: 'down', jwks: 'not_loaded' } })
        const login = await fetch(`${kw.url}/auth/login`, { redirect: 'manual' })
        expect(login.status).toBe(503)
        expect(login.headers.get('retry-after')).toBe('2')
        expect(await login.json()).toMatchObject({ code: 'keycloak_unavailable' })
        expect(await kw.keys()).toEqual([])
      },
      { waitUntilReady: false },
    )
  })

  test('without Redis, keyward is not ready and answers 503 quickly, never 401', async () => {
    await withKeyward(
      { REDIS_URL: `redis://127.0.0.1:${await freePort()}` },
      async (kw) => {
        expect((await fetch(`${kw.url}/readyz`)).status).toBe(503)
        const started = Date.now()
        const session = await fetch(`${kw.url}/auth/session`, {
          headers: { cookie: `keyward=${signedCookie(randomOpaque(), kw.config.session.secrets[0])}` },
        })
        expect(session.status).toBe(503)
        expect(await session.json()).toMatchObject({ code: 'store_unavailable' })
        const login = await fetch(`${kw.url}/auth/login`, { redirect: 'manual' })
        expect(login.status).toBe(503)
        expect(await login.json()).toMatchObject({ code: 'store_unavailable' })
        expect(Date.now() - started).toBeLessThan(3000)
      },
      { waitUntilReady: false },
    )
  })

  test('a mobile login that fails after Keycloak sent the browser back still ends at the app, with an OAuth error', async () => {
    const toKeycloak = await TcpProxy.start({ host: '127.0.0.1', port: Number(new URL(keycloakUrl()).port) })
    const kw = await startKeyward({ ...MOBILE, KEYCLOAK_BACKCHANNEL_URL: toKeycloak.url, OIDC_TIMEOUT_SECONDS: '2' })
    try {
      const back = await new MobileApp(kw.url).authorize('alice', {
        state: 'app-7',
        beforeSubmit: async () => {
          toKeycloak.mode = 'refuse' // keyward cannot redeem the code
          toKeycloak.cut()
        },
      })
      expect(`${back.protocol}${back.pathname}`).toBe(APP_URI)
      expect(Object.fromEntries(back.searchParams)).toEqual({ error: 'temporarily_unavailable', state: 'app-7' })
      expect(await kw.keys()).toEqual([])
    } finally {
      await kw.close()
      await toKeycloak.close()
    }
  })

  describe('with its own Redis (AOF, so a restart keeps data)', () => {
    let redis: RedisServer
    let kw: RunningKeyward
    beforeAll(async () => {
      redis = await RedisServer.create(['--save', '', '--appendonly', 'yes', '--appendfsync', 'always'])
      await redis.start()
      kw = await startKeyward({ REDIS_URL: redis.url })
    })
    afterAll(async () => {
      await kw.close()
      await redis.stop()
    })

    test('a Redis outage answers 503 for a logged-in browser and recovers without restarting keyward', async () => {
      const browser = new Browser()
      await browser.login(kw.url, 'alice', 'alice-password')
      expect((await browser.request(`${kw.url}/auth/session`)).status).toBe(200)

      await redis.stop()
      // Once keyward's connections have noticed (until then, for a few ms, a session it read a moment
      // ago may still come from its cache, which empties as its connections close).
      await waitUntil(async () => (await fetch(`${kw.url}/readyz`)).status === 503, 5000, 20)
      const during = await browser.request(`${kw.url}/auth/session`)
      expect(during.status).toBe(503)
      expect(JSON.parse(during.text)).toMatchObject({ code: 'store_unavailable' })
      expect(during.headers.get('retry-after')).toBe('2')
      const logout = await browser.request(`${kw.url}/auth/logout`, { method: 'POST', headers: { 'x-csrf': '1' } })
      expect(logout.status).toBe(503)
      expect((await fetch(`${kw.url}/readyz`)).status).toBe(503)

      await redis.start()
      await new Promise((r) => setTimeout(r, 1500)) // ioredis reconnects within a second
      expect((await fetch(`${kw.url}/readyz`)).status).toBe(200)
      expect((await browser.request(`${kw.url}/auth/session`)).status).toBe(200)
    })

    test('logout while Keycloak cannot be reached is a 503 that keeps the session; retrying later logs out', async () => {
      const toKeycloak = await TcpProxy.start({ host: '127.0.0.1', port: Number(new URL(keycloakUrl()).port) })
      const shortTimeout = await startKeyward({
        REDIS_URL: redis.url,
        OIDC_TIMEOUT_SECONDS: '1',
        KEYCLOAK_BACKCHANNEL_URL: toKeycloak.url,
      })
      try {
        const browser = new Browser()
        await browser.login(shortTimeout.url, 'alice', 'alice-password')
        const keys = await shortTimeout.keys()
        const { sid } = (await storedSession(shortTimeout))!

        toKeycloak.mode = 'refuse'
        toKeycloak.cut()
        const during = await browser.request(`${shortTimeout.url}/auth/logout`, {
          method: 'POST',
          headers: { 'x-csrf': '1' },
        })
        expect(during.status).toBe(503)
        expect(JSON.parse(during.text)).toMatchObject({ code: 'keycloak_unavailable' })
        expect(await shortTimeout.keys()).toEqual(keys)
        expect((await browser.request(`${shortTimeout.url}/auth/session`)).status).toBe(200)
        expect((await admin.userSessions('alice')).map((s) => s.id)).toContain(sid)

        toKeycloak.mode = 'forward'
        const after = await browser.request(`${shortTimeout.url}/auth/logout`, {
          method: 'POST',
          headers: { 'x-csrf': '1' },
        })
        expect(after.status).toBe(200)
        expect((await admin.userSessions('alice')).map((s) => s.id)).not.toContain(sid)
        expect(await shortTimeout.keys()).toEqual([])
      } finally {
        await shortTimeout.close()
        await toKeycloak.close()
      }
    })
  })
})

/**
 * The moment between Keycloak issuing a login's tokens and keyward storing them: Redis refuses writes
 * (it is full: maxmemory with noeviction; reads and deletes still work), as a failing Redis would.
 */
describe('Redis refusing writes just as a login finishes', () => {
  let redis: RedisServer
  let kw: RunningKeyward
  let control: Redis
  const refuseWrites = () => control.config('SET', 'maxmemory', '1')
  const acceptWrites = () => control.config('SET', 'maxmemory', '0')
  beforeAll(async () => {
    redis = await RedisServer.create(['--save', '', '--appendonly', 'no', '--maxmemory-policy', 'noeviction'])
    await redis.start()
    control = new Redis(redis.url)
    kw = await startKeyward({ REDIS_URL: redis.url, ...MOBILE })
  })
  /** The Keycloak session a mobile code stands for, from its sealed record (the tests hold the key). */
  const sidOfCode = async (code: string) => {
    const key = `${kw.config.redis.prefix}code:{${digest(code)}}`
    return (
      JSON.parse(
        testSealer()
          .open(Buffer.from((await control.hget(key, 'd'))!, 'base64url'), key)
          .toString(),
      ) as {
        session: { sid: string }
      }
    ).session.sid
  }
  afterEach(() => acceptWrites())
  afterAll(async () => {
    control.disconnect()
    await kw.close()
    await redis.stop()
  })

  test('a browser login whose session cannot be written at once is written when Redis takes writes again', async () => {
    const browser = new Browser()
    const hops = await browser.login(kw.url, 'alice', 'alice-password', '/auth/login?returnTo=/in', {
      beforeSubmit: async () => {
        await refuseWrites()
        setTimeout(() => void acceptWrites(), 1000)
      },
    })
    expect(hops.find((h) => h.url.startsWith(`${kw.url}/auth/callback`))!.headers.get('location')).toBe('/in')
    expect((await browser.request(`${kw.url}/auth/session`)).status).toBe(200)
    await browser.request(`${kw.url}/auth/logout`, { method: 'POST', headers: { 'x-csrf': '1' } })
  })

  test('a mobile code redeemed while Redis refuses writes: the handle is issued once Redis takes writes again', async () => {
    const app = new MobileApp(kw.url)
    const code = (await app.authorize('alice')).searchParams.get('code')!
    await refuseWrites()
    setTimeout(() => void acceptWrites(), 1000)
    const res = await app.exchange({ code, code_verifier: app.verifier, redirect_uri: APP_URI })
    expect(res.status).toBe(200)
    const { session_token } = (await res.json()) as { session_token: string }
    expect((await fetch(`${kw.url}/auth/session`, { headers: bearer(session_token) })).status).toBe(200)
    await fetch(`${kw.url}/auth/logout`, { method: 'POST', headers: bearer(session_token) })
  })

  test('if Redis goes on refusing a login that single sign-on put into an existing Keycloak session, that session is not revoked', async () => {
    const web = new Browser()
    await web.login(kw.url, 'bob', 'bob-password')
    const phone = new MobileApp(kw.url, web)
    const code = (await phone.authorize('bob')).searchParams.get('code')! // no form: single sign-on
    const sid = await sidOfCode(code)
    await refuseWrites()
    const res = await phone.exchange({ code, code_verifier: phone.verifier, redirect_uri: APP_URI })
    expect(res.status).toBe(503)
    // Revoking the phone's token would have ended the web session's client session too: it was left alone.
    expect((await admin.userSessions('bob')).map((s) => s.id)).toContain(sid)
    await acceptWrites()
    expect((await web.request(`${kw.url}/auth/session`)).status).toBe(200)
    await web.request(`${kw.url}/auth/logout`, { method: 'POST', headers: { 'x-csrf': '1' } })
  })

  test('if Redis goes on refusing, the login answers 503 and its session is revoked at Keycloak, not left behind', async () => {
    const app = new MobileApp(kw.url)
    const code = (await app.authorize('alice')).searchParams.get('code')!
    const sid = await sidOfCode(code)
    expect((await admin.userSessions('alice')).map((s) => s.id)).toContain(sid)

    await refuseWrites()
    const res = await app.exchange({ code, code_verifier: app.verifier, redirect_uri: APP_URI })
    expect(res.status).toBe(503)
    expect(await res.json()).toMatchObject({
      code: 'store_unavailable',
      detail: expect.stringContaining('log in again'),
    })
    expect((await admin.userSessions('alice')).map((s) => s.id)).not.toContain(sid)
  })
})
