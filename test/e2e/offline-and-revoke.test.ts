import { Browser } from '../../harness/browser'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { startKeyward, type RunningKeyward } from '../../harness/keyward'
import { api, refreshCount, SHORT_CLIENT, storedSession, untilExpired } from '../support/refresh-fixture'
import { Upstream } from '../../harness/upstream'

const admin = new KeycloakAdmin()
const csrf = { 'x-csrf': '1' }

describe('offline tokens for web logins ("remember me") and POST /auth/revoke', () => {
  let upstream: Upstream
  let kw: RunningKeyward
  beforeAll(async () => {
    upstream = await Upstream.start()
  })
  afterAll(() => upstream.close())
  beforeEach(async () => {
    kw = await startKeyward({ ...SHORT_CLIENT, UPSTREAMS: JSON.stringify({ echo: upstream.url }) })
  })
  afterEach(() => kw.close())

  const offlineIds = async () => (await admin.offlineSessions('bob', 'keyward-short')).map((s) => s.id)

  test('offline=1 gives an offline session: its kind and expiries show, it lives by Offline Session Idle, its cookie persists', async () => {
    const browser = new Browser()
    const hops = await browser.login(kw.url, 'bob', 'bob-password', '/auth/login?offline=1&returnTo=/')
    const session = (await storedSession(kw))!
    expect(await offlineIds()).toContain(session.sid)

    const info = JSON.parse((await browser.request(`${kw.url}/auth/session`)).text)
    expect(info).toMatchObject({ kind: 'offline', refreshTokenExpiresAt: null }) // Keycloak sets no limit on it
    const thirtyDays = 30 * 24 * 3600 * 1000
    expect(Math.abs(Date.parse(info.sessionExpiresAt) - Date.now() - thirtyDays)).toBeLessThan(60_000)
    expect(await kw.redis.ttl(session.key)).toBeGreaterThan(thirtyDays / 1000 - 60)
    const setCookie = hops
      .find((h) => h.url.startsWith(`${kw.url}/auth/callback`))!
      .headers.getSetCookie()
      .join()
    expect(setCookie).toMatch(/keyward=[^;]+;.*Expires=/)

    // The offline token refreshes like any other, and stays offline.
    await untilExpired(session)
    expect((await browser.request(`${kw.url}/api/echo/me`, { headers: api })).status).toBe(200)
    expect(await refreshCount(admin, 'bob', session.sid)).toBe(1)
    expect(JSON.parse((await browser.request(`${kw.url}/auth/session`)).text).kind).toBe('offline')

    // Revocation is the way an offline token ends: Keycloak's offline session goes, and so does keyward's.
    const out = await browser.request(`${kw.url}/auth/revoke`, { method: 'POST', headers: csrf })
    expect(out.status).toBe(200)
    expect(JSON.parse(out.text)).toEqual({ revoked: true })
    expect(await offlineIds()).not.toContain(session.sid)
    expect(await kw.keys()).toEqual([])
    expect((await browser.request(`${kw.url}/auth/session`)).status).toBe(401)
  })

  test('the remember-me cookie slides with the offline session: re-issued after a refresh moved it on, not on every request', async () => {
    await kw.close()
    // keyward keeps an unused offline session for a minute here, so one refresh moves its expiry a good part of it.
    kw = await startKeyward({
      ...SHORT_CLIENT,
      UPSTREAMS: JSON.stringify({ echo: upstream.url }),
      OFFLINE_SESSION_IDLE_SECONDS: '60',
    })
    const browser = new Browser()
    const hops = await browser.login(kw.url, 'bob', 'bob-password', '/auth/login?offline=1')
    const cookieExpiry = (setCookies: string[]) => {
      const c = setCookies.find((v) => v.startsWith('keyward='))
      return c ? { value: c.split(';')[0], expires: Date.parse(/Expires=([^;]+)/.exec(c)![1]) } : undefined
    }
    const first = cookieExpiry(hops.find((h) => h.url.startsWith(`${kw.url}/auth/callback`))!.headers.getSetCookie())!
    const session = (await storedSession(kw))!
    expect(Math.abs(first.expires - session.expiresAt)).toBeLessThan(1500)

    await untilExpired(session)
    expect((await browser.request(`${kw.url}/api/echo/me`, { headers: api })).status).toBe(200)
    const slid = (await storedSession(kw))!
    expect(slid.expiresAt - session.expiresAt).toBeGreaterThan(9000)

    // The next request carries the cookie again, same session id, later expiry; the cookie session's TTL follows.
    const next = await browser.request(`${kw.url}/auth/session`)
    const second = cookieExpiry(next.headers.getSetCookie())!
    expect(second.value).toBe(first.value)
    expect(Math.abs(second.expires - slid.expiresAt)).toBeLessThan(1500)
    const cookieKey = (await kw.keys()).find((k) => k.includes(':sess:'))!
    expect(Math.abs((await kw.redis.pttl(cookieKey)) - (slid.expiresAt - Date.now()))).toBeLessThan(1500)
    // Caught up: later requests write nothing.
    expect((await browser.request(`${kw.url}/auth/session`)).headers.getSetCookie()).toEqual([])
    await browser.request(`${kw.url}/auth/revoke`, { method: 'POST', headers: csrf })
  })

  test('with Offline Session Max limited, the session lives by the least of idle and max, and refreshing never takes it past the max', async () => {
    const limitedAdmin = new KeycloakAdmin('keyward-limited')
    const limitedUpstream = await Upstream.start('keyward-limited')
    await kw.close()
    kw = await startKeyward({
      KEYCLOAK_REALM: 'keyward-limited',
      OIDC_CLIENT_ID: 'keyward-limited',
      OIDC_CLIENT_SECRET: 'keyward-limited-dev-secret',
      UPSTREAMS: JSON.stringify({ echo: limitedUpstream.url }),
    })
    try {
      const browser = new Browser()
      await browser.login(kw.url, 'alice', 'alice-password', '/auth/login?offline=1')
      const session = (await storedSession(kw))!
      expect((await limitedAdmin.offlineSessions('alice', 'keyward-limited')).map((s) => s.id)).toContain(session.sid)
      const info = JSON.parse((await browser.request(`${kw.url}/auth/session`)).text)
      // Keycloak says how long the offline token lives (the realm's max: an hour), so keyward's own idle setting is not used.
      expect(info.kind).toBe('offline')
      const hour = 3600_000
      expect(Math.abs(Date.parse(info.refreshTokenExpiresAt) - Date.parse(info.createdAt) - hour)).toBeLessThan(2000)
      expect(Date.parse(info.sessionExpiresAt)).toBe(Date.parse(info.refreshTokenExpiresAt))
      expect(Math.abs((await kw.redis.pttl(session.key)) - (session.expiresAt - Date.now()))).toBeLessThan(1000)

      await untilExpired(session)
      expect((await browser.request(`${kw.url}/api/echo/me`, { headers: api })).status).toBe(200)
      expect(await refreshCount(limitedAdmin, 'alice', session.sid)).toBe(1)
      const refreshed = (await storedSession(kw))!
      expect(refreshed.version).toBe(2)
      // Idle would slide; the max does not: the record still ends an hour after login, not an hour after the refresh.
      expect(Math.abs(refreshed.expiresAt - session.expiresAt)).toBeLessThan(2000)
      expect(Math.abs((await kw.redis.pttl(session.key)) - (refreshed.expiresAt - Date.now()))).toBeLessThan(1000)

      expect((await browser.request(`${kw.url}/auth/revoke`, { method: 'POST', headers: csrf })).status).toBe(200)
      expect((await limitedAdmin.offlineSessions('alice', 'keyward-limited')).map((s) => s.id)).not.toContain(
        session.sid,
      )
    } finally {
      await limitedUpstream.close()
    }
  })

  test('an online session has a browser-session cookie and no offline session at Keycloak; revoking it ends its client session', async () => {
    const browser = new Browser()
    const hops = await browser.login(kw.url, 'bob', 'bob-password')
    const session = (await storedSession(kw))!
    const setCookie = hops
      .find((h) => h.url.startsWith(`${kw.url}/auth/callback`))!
      .headers.getSetCookie()
      .find((c) => c.startsWith('keyward='))!
    expect(setCookie).not.toMatch(/Expires=|Max-Age=/)
    expect(JSON.parse((await browser.request(`${kw.url}/auth/session`)).text)).toMatchObject({
      kind: 'online',
      refreshTokenExpiresAt: expect.any(String),
    })
    expect(await offlineIds()).not.toContain(session.sid)

    expect((await browser.request(`${kw.url}/auth/revoke`, { method: 'POST', headers: csrf })).status).toBe(200)
    // Keycloak dropped the only client session, and with it the user session.
    expect((await admin.userSessions('bob')).map((s) => s.id)).not.toContain(session.sid)
    expect(await kw.keys()).toEqual([])
  })

  test('revoke without the CSRF header, or without a session, changes nothing', async () => {
    const browser = new Browser()
    await browser.login(kw.url, 'bob', 'bob-password', '/auth/login?offline=1')
    const session = (await storedSession(kw))!
    const keys = await kw.keys()
    const refused = await browser.request(`${kw.url}/auth/revoke`, { method: 'POST' })
    expect(refused.status).toBe(403)
    expect(JSON.parse(refused.text)).toMatchObject({ code: 'csrf_required' })
    const anonymous = await fetch(`${kw.url}/auth/revoke`, { method: 'POST', headers: csrf })
    expect(anonymous.status).toBe(401)
    expect(await kw.keys()).toEqual(keys)
    expect(await offlineIds()).toContain(session.sid)
    await browser.request(`${kw.url}/auth/revoke`, { method: 'POST', headers: csrf })
  })

  test.each(['yes', '0', 'true'])('login with offline=%s is refused', async (value) => {
    const res = await fetch(`${kw.url}/auth/login?offline=${value}`, { redirect: 'manual' })
    expect(res.status).toBe(400)
    expect(await res.json()).toMatchObject({ code: 'invalid_request' })
    expect(await kw.keys()).toEqual([])
  })

  test('logout of an offline session ends the offline session at Keycloak too', async () => {
    const browser = new Browser()
    await browser.login(kw.url, 'bob', 'bob-password', '/auth/login?offline=1')
    const session = (await storedSession(kw))!
    expect((await browser.request(`${kw.url}/auth/logout`, { method: 'POST', headers: csrf })).status).toBe(200)
    expect(await offlineIds()).not.toContain(session.sid)
    expect(await kw.keys()).toEqual([])
  })
})
