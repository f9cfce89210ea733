import { randomBytes } from 'node:crypto'
import { Browser } from '../../harness/browser'
import { startHostApp, testOptions, type HostApp } from '../../harness/host-app'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { Upstream } from '../../harness/upstream'
import { addUser } from '../support/keycloak-cli'
import { waitUntil } from '../support/refresh-fixture'

const admin = new KeycloakAdmin()
const api = { accept: 'application/json', 'x-csrf': '1' }

/**
 * keyward as Express middleware in an application of its own (not keyward's server): real Keycloak,
 * real Redis, the application's handlers asking `req.keyward` for the user and a fresh token.
 */
describe('keyward() in a host Express application', () => {
  let upstream: Upstream
  let host: HostApp
  let short: HostApp
  const user = `lib-${randomBytes(3).toString('hex')}`
  beforeAll(async () => {
    upstream = await Upstream.start()
    await addUser(admin, user)
    host = await startHostApp({ upstream: upstream.url })
    // keyward-short: 10-second access tokens, so a refresh comes within a test.
    short = await startHostApp({
      upstream: upstream.url,
      keyward: (url) =>
        testOptions(url, { keycloak: { clientId: 'keyward-short', clientSecret: 'keyward-short-dev-secret' } }),
    })
  })
  afterAll(async () => {
    await host?.close()
    await short?.close()
    await upstream?.close()
  })

  const sessionsOf = async (sid: string) => (await admin.userSessions(user)).filter((s) => s.id === sid)

  test('a page needs a login, which comes back to it; the handlers see who it is, and no token', async () => {
    const browser = new Browser()
    const page = await browser.request(`${host.url}/me`, { headers: { accept: 'text/html' } })
    expect(page.status).toBe(302)
    expect(page.headers.get('location')).toBe('/auth/login?returnTo=%2Fme')

    const apiCall = await browser.request(`${host.url}/me`, { headers: { accept: 'application/json' } })
    expect(apiCall.status).toBe(401)
    expect(apiCall.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    expect(JSON.parse(apiCall.text)).toMatchObject({ code: 'not_authenticated', status: 401 })
    expect(JSON.parse((await browser.request(`${host.url}/public`)).text)).toEqual({ authenticated: false, user: null })

    const hops = await browser.login(host.url, user, `${user}-password`, '/auth/login?returnTo=/me')
    const landed = hops.at(-1)!
    expect(landed.url).toBe(`${host.url}/me`)
    expect(landed.status).toBe(200)
    const me = JSON.parse(landed.text)
    expect(me.user).toMatchObject({ preferred_username: user, email: `${user}@example.com` })
    expect(me.session).toMatchObject({ app: 'web', kind: 'online', client: 'web' })
    expect(Date.parse(me.session.accessTokenExpiresAt)).toBeGreaterThan(Date.now())
    const cookie = (await browser.jar.getCookies(host.url)).find((c) => c.key === 'keyward')!
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'lax', path: '/' })
    expect(JSON.parse((await browser.request(`${host.url}/public`)).text)).toEqual({ authenticated: true, user })

    // keyward's own routes are under /auth on the host's origin.
    const session = JSON.parse((await browser.request(`${host.url}/auth/session`)).text)
    expect(session).toMatchObject({ authenticated: true, app: 'web' })
  })

  test("a handler's own API call carries the app's access token; keyward's proxy too, and the browser sees neither", async () => {
    const browser = new Browser()
    await browser.login(host.url, user, `${user}-password`)
    const order = await browser.request(`${host.url}/orders/7`, { headers: api })
    expect(order.status).toBe(200)
    expect(JSON.parse(order.text)).toMatchObject({ azp: 'keyward-web', url: '/orders/7' })

    const proxied = await browser.request(`${host.url}/api/echo/items?page=2`, { headers: api })
    expect(proxied.status).toBe(200)
    expect(JSON.parse(proxied.text)).toMatchObject({ azp: 'keyward-web', url: '/items?page=2' })
    // The proxy needs the CSRF header, as keyward's own does.
    const bare = await browser.request(`${host.url}/api/echo/items`, { headers: { accept: 'application/json' } })
    expect(JSON.parse(bare.text)).toMatchObject({ code: 'csrf_required' })
  })

  test("state-changing routes of the application pass keyward's CSRF check", async () => {
    const browser = new Browser()
    await browser.login(host.url, user, `${user}-password`)
    const post = (headers: Record<string, string>) =>
      browser.request(`${host.url}/notes`, { method: 'POST', headers: { accept: 'application/json', ...headers } })
    expect(JSON.parse((await post({})).text)).toMatchObject({ status: 403, code: 'csrf_required' })
    expect(JSON.parse((await post({ 'x-csrf': '1', origin: 'https://evil.example' })).text)).toMatchObject({
      code: 'origin_not_allowed',
    })
    expect((await post({ 'x-csrf': '1', origin: host.url })).status).toBe(200)
    // kw.csrf() on a route that needs no session: the same rule.
    const logout = await browser.request(`${host.url}/logout`, { method: 'POST' })
    expect(JSON.parse(logout.text)).toMatchObject({ code: 'csrf_required' })
  })

  test("keyward's errors reach kw.errorHandler() as problem+json; the application's own reach its handler", async () => {
    const anonymous = await fetch(`${host.url}/maybe-token`)
    expect(anonymous.status).toBe(401)
    expect(await anonymous.json()).toMatchObject({ code: 'not_authenticated' })
    const boom = await fetch(`${host.url}/boom`)
    expect(boom.status).toBe(500)
    expect(await boom.json()).toEqual({ host: 'error', keyward: false })
    // An unknown route under keyward's prefix is keyward's 404; elsewhere the application's.
    expect(await (await fetch(`${host.url}/auth/nothing-here`)).json()).toMatchObject({ code: 'not_found' })
  })

  test('req.keyward.logout() ends the session at Keycloak and here, and clears the cookie', async () => {
    const browser = new Browser()
    await browser.login(host.url, user, `${user}-password`)
    const { sid } = await sidOf(browser, host)
    expect(await sessionsOf(sid)).toHaveLength(1)
    const out = await browser.request(`${host.url}/logout`, { method: 'POST', headers: api })
    expect(out.status).toBe(200)
    const { endSessionUrl } = JSON.parse(out.text)
    expect(new URL(endSessionUrl).searchParams.get('post_logout_redirect_uri')).toBe(`${host.url}/bye`)
    expect(out.headers.getSetCookie().join()).toMatch(/keyward=;.*Expires=Thu, 01 Jan 1970/)
    expect(await sessionsOf(sid)).toEqual([])
    expect((await browser.request(`${host.url}/me`, { headers: api })).status).toBe(401)
  })

  test('accessToken({ minValiditySeconds }) refreshes a token with less left than asked, once; the session goes on', async () => {
    const browser = new Browser()
    await browser.login(short.url, user, `${user}-password`)
    const { sid } = await sidOf(browser, short)
    const refreshes = async () => (await admin.events(user, 'REFRESH_TOKEN')).filter((e) => e.sessionId === sid).length
    const first = JSON.parse((await browser.request(`${short.url}/orders/1?min=8`, { headers: api })).text)
    expect(await refreshes()).toBe(0) // 10 s left, 5 s asked (8, capped at half the 10-second lifetime)
    const expires = Date.parse(
      JSON.parse((await browser.request(`${short.url}/me`, { headers: api })).text).session.accessTokenExpiresAt,
    )
    await new Promise((r) => setTimeout(r, Math.max(0, expires - Date.now() - 3500)))
    // About 3.5 s left: fresh by the refresh window (a quarter of the lifetime), not by the margin asked for (half).
    const plain = JSON.parse((await browser.request(`${short.url}/orders/2`, { headers: api })).text)
    expect(plain.jti).toBe(first.jti)
    const asked = JSON.parse((await browser.request(`${short.url}/orders/3?min=8`, { headers: api })).text)
    expect(asked.jti).not.toBe(first.jti)
    await waitUntil(async () => (await refreshes()) === 1, 5000)
    expect((await admin.events(user, 'REFRESH_TOKEN_ERROR')).filter((e) => e.sessionId === sid)).toEqual([])
  })

  test('a session Keycloak ended: the next refresh answers 401 session_expired through the handler, and clears the cookie', async () => {
    const browser = new Browser()
    await browser.login(short.url, user, `${user}-password`)
    const { sid } = await sidOf(browser, short)
    await admin.call('DELETE', `/sessions/${sid}`)
    const { session } = JSON.parse((await browser.request(`${short.url}/me`, { headers: api })).text)
    await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(session.accessTokenExpiresAt) - Date.now() + 200)))
    const ended = await browser.request(`${short.url}/orders/1`, { headers: api })
    expect(ended.status).toBe(401)
    expect(JSON.parse(ended.text)).toMatchObject({ code: 'session_expired' })
    expect(ended.headers.getSetCookie().join()).toMatch(/keyward=;/)
    expect((await browser.request(`${short.url}/me`, { headers: api })).status).toBe(401)
  })
})

/** The Keycloak session (`sid`) behind a browser's keyward session, as the application's /me sees it. */
async function sidOf(browser: Browser, host: HostApp): Promise<{ sid: string }> {
  const { session } = JSON.parse((await browser.request(`${host.url}/me`, { headers: api })).text)
  return { sid: session.keycloakSessionId }
}
