import { randomBytes } from 'node:crypto'
import { request } from 'undici'
import { Browser, type Hop } from '../../harness/browser'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { startKeyward, waitUntil, type RunningKeyward } from '../../harness/keyward'
import { freePort } from '../../harness/redis-server'
import { startCaddy, startNginx, type RunningProxy } from '../../harness/reverse-proxies'
import { Upstream } from '../../harness/upstream'
import { api } from '../support/refresh-fixture'

/** What the upstream behind the proxy answered: the verified token's claims and the headers it got. */
interface Seen {
  sub: string
  azp: string
  jti: string
  url: string
  headers: Record<string, string | undefined>
}

/**
 * keyward as the forward-auth service of real nginx (`auth_request`) and real Caddy (`forward_auth`)
 * from Debian's packages, each running the configuration shipped in examples/forward-auth/, in front
 * of a plain upstream that verifies the bearer token against Keycloak. The realm is the test's own:
 * 8-second access tokens, a client role `admin`, back-channel logout to the app's origin (the proxy's).
 */
describe.each([
  ['nginx', startNginx],
  ['caddy', startCaddy],
])('forward-auth behind %s', (name, startProxy) => {
  const realm = `fwd-${name}-${randomBytes(4).toString('hex')}`
  const admin = new KeycloakAdmin(realm)
  const clientId = 'fwd-app'
  const secret = randomBytes(16).toString('hex')
  let upstream: Upstream
  let kw: RunningKeyward
  let proxy: RunningProxy
  let origin: string

  const user = (username: string, extra: Record<string, unknown> = {}) => ({
    username,
    enabled: true,
    email: `${username}@example.com`,
    emailVerified: true,
    firstName: username === 'zoe' ? 'Zoë' : username,
    lastName: 'Doe',
    credentials: [{ type: 'password', value: `${username}-password`, temporary: false }],
    ...extra,
  })

  beforeAll(async () => {
    const [proxyPort, checkPort] = [await freePort(), await freePort()]
    origin = `http://127.0.0.1:${proxyPort}`
    await admin.create({
      accessTokenLifespan: 8, // a refresh within the test
      eventsEnabled: true,
      enabledEventTypes: ['LOGIN', 'REFRESH_TOKEN', 'LOGOUT'],
      roles: { client: { [clientId]: [{ name: 'admin' }] } },
      clients: [
        {
          clientId,
          secret,
          publicClient: false,
          standardFlowEnabled: true,
          redirectUris: [`${origin}/*`],
          attributes: {
            'backchannel.logout.url': `${origin}/auth/backchannel-logout`,
            'backchannel.logout.session.required': 'true',
          },
        },
      ],
      // Users a realm import creates get no default roles: zoe holds two, yuri none.
      users: [user('zoe', { clientRoles: { [clientId]: ['admin'] }, realmRoles: ['offline_access'] }), user('yuri')],
    })
    upstream = await Upstream.start(realm)
    kw = await startKeyward({
      KEYCLOAK_REALM: realm,
      OIDC_CLIENT_ID: clientId,
      OIDC_CLIENT_SECRET: secret,
      PUBLIC_URL: origin,
      FORWARD_AUTH_PORT: String(checkPort),
      FORWARD_AUTH_ACCESS_TOKEN: 'true',
    })
    proxy = await startProxy(proxyPort, {
      keyward: new URL(kw.url).host,
      check: `127.0.0.1:${checkPort}`,
      upstream: new URL(upstream.url).host,
    })
  })
  afterAll(async () => {
    await proxy?.close()
    await kw?.close()
    await upstream?.close()
    await admin.drop()
  })

  const seen = (hop: Hop): Seen => {
    expect(hop.status).toBe(200)
    return JSON.parse(hop.text) as Seen
  }

  /** A browser that asked for `path` through the proxy and logged in on Keycloak's form on the way. */
  async function loggedIn(
    username: string,
    path = '/orders?page=2&sort=new',
  ): Promise<{ browser: Browser; hops: Hop[] }> {
    const browser = new Browser()
    const hops = await browser.login(origin, username, `${username}-password`, path)
    return { browser, hops }
  }

  test('no session: the browser goes to the login, through Keycloak, and back to what it asked for; the app gets the identity and a token Keycloak signed', async () => {
    const anonymous = new Browser()
    const before = upstream.seen.length
    const refused = await anonymous.request(`${origin}/orders?page=2&sort=new`)
    expect(refused.status).toBe(302)
    expect(refused.headers.get('location')).toBe(`${origin}/auth/login?returnTo=%2Forders%3Fpage%3D2%26sort%3Dnew`)
    expect(upstream.seen.length).toBe(before)

    const { browser, hops } = await loggedIn('zoe')
    const landed = hops.at(-1)!
    expect(landed.url).toBe(`${origin}/orders?page=2&sort=new`)
    const app = seen(landed)
    const sub = await admin.userId('zoe')
    expect(app).toMatchObject({ sub, azp: clientId, url: '/orders?page=2&sort=new' })
    expect(app.headers).toMatchObject({
      'x-auth-request-user': sub,
      'x-auth-request-preferred-username': 'zoe',
      'x-auth-request-email': 'zoe@example.com',
    })
    // The name as UTF-8, through the proxy (Node reads header bytes as Latin-1).
    expect(Buffer.from(app.headers['x-auth-request-name']!, 'latin1').toString('utf8')).toBe('Zoë Doe')
    expect(app.headers['x-auth-request-roles']?.split(',')).toContain('admin')
    // Nothing of keyward's answer to the proxy reached the browser: no token, no identity header.
    for (const hop of browser.seen.filter((h) => h.url.startsWith(origin))) {
      expect([...hop.headers.keys()].filter((h) => /^(authorization|x-auth-request-|x-keyward-)/.test(h))).toEqual([])
      expect(hop.text).not.toMatch(/eyJ[\w-]+\.eyJ/)
    }
  })

  test("a client's own identity headers never reach the app, nor keyward's cookies; the app's own cookies do", async () => {
    const { browser } = await loggedIn('yuri', '/whoami')
    await browser.jar.setCookie('theme=dark; Path=/', origin)
    const spoofed = {
      'x-auth-request-user': 'someone-else',
      'x-auth-request-roles': 'admin',
      'x-auth-request-email': 'boss@example.com',
    }
    const app = seen(await browser.request(`${origin}/whoami`, { headers: spoofed }))
    expect(app.sub).toBe(await admin.userId('yuri'))
    expect(app.headers['x-auth-request-user']).toBe(app.sub)
    expect(app.headers['x-auth-request-email']).toBe('yuri@example.com')
    expect(app.headers['x-auth-request-roles'] ?? '').toBe('') // nginx drops an empty header; Caddy sends it
    expect(app.headers.cookie).toBe('upstream=1; theme=dark') // the app set the first itself

    // Without a session, the spoofed headers get a login, and the app hears nothing.
    const before = upstream.seen.length
    const anonymous = await new Browser().request(`${origin}/whoami`, { headers: spoofed })
    expect(anonymous.status).toBe(302)
    expect(upstream.seen.length).toBe(before)
  })

  /** keyward's check itself, asked as the proxy asks: the client's cookies, the app's Host (which fetch cannot set). */
  async function check(browser?: Browser, path = '/auth/check', host = new URL(origin).host) {
    const cookie = browser ? await browser.jar.getCookieString(origin) : ''
    const { statusCode, headers, body } = await request(`http://127.0.0.1:${kw.config.forwardAuth!.port}${path}`, {
      headers: { host, cookie },
    })
    return {
      status: statusCode,
      header: (name: string) => headers[name] as string | undefined,
      text: await body.text(),
    }
  }

  /** Ends the user's sessions at Keycloak (and, by back-channel logout, at keyward): a test's own start. */
  const endSessions = async (username: string) => admin.call('POST', `/users/${await admin.userId(username)}/logout`)

  test("the check's 200: text as UTF-8, lists joined, the token Keycloak issued; ?role= any of several", async () => {
    const { browser } = await loggedIn('zoe', '/')
    const ok = await check(browser)
    expect(ok.status).toBe(200)
    const utf8 = (header: string) => Buffer.from(ok.header(header) ?? '', 'latin1').toString('utf8')
    expect(utf8('x-auth-request-name')).toBe('Zoë Doe')
    expect(ok.header('x-auth-request-roles')?.split(',').sort()).toEqual(['admin', 'realm:offline_access'])
    expect(ok.header('authorization')).toMatch(/^Bearer eyJ/)
    expect(ok.header('cache-control')).toBe('no-store')
    expect((await check(browser, '/auth/check?role=nope&role=admin')).status).toBe(200)
    const refused = await check(browser, '/auth/check?role=nope&role=realm:nope')
    expect([refused.status, JSON.parse(refused.text)]).toEqual([
      403,
      expect.objectContaining({ code: 'forbidden', detail: 'One of the roles nope, realm:nope is required.' }),
    ])
    // Another host is no app's; another path is no route.
    expect((await check(browser, '/auth/check', 'elsewhere.example')).status).toBe(421)
    expect((await check(browser, '/auth/x')).status).toBe(404)
  })

  test('a role gate: /admin/ lets the holder of the app role through and answers 403 to others', async () => {
    const { browser: zoe } = await loggedIn('zoe', '/admin/users')
    expect(seen(await zoe.request(`${origin}/admin/users`)).url).toBe('/admin/users')
    const { browser: yuri, hops } = await loggedIn('yuri', '/')
    expect(hops.at(-1)!.status).toBe(200)
    const before = upstream.seen.length
    expect((await yuri.request(`${origin}/admin/users`)).status).toBe(403)
    expect(upstream.seen.length).toBe(before)
  })

  test("an unsafe request from another origin is refused with the session's cookie; from the app's own it passes", async () => {
    const { browser } = await loggedIn('yuri', '/')
    const post = (from: string) =>
      browser.request(`${origin}/orders`, { method: 'POST', headers: { origin: from }, body: 'x=1' })
    const before = upstream.seen.length
    expect((await post('https://evil.example')).status).toBe(403)
    expect(upstream.seen.length).toBe(before)
    expect(seen(await post(origin)).url).toBe('/orders')
  })

  test('past the access token’s expiry, the app gets a new token from exactly one refresh, as Keycloak records', async () => {
    await endSessions('zoe')
    const { browser } = await loggedIn('zoe', '/a')
    const [{ id: sid }] = await admin.userSessions('zoe')
    const first = seen(await browser.request(`${origin}/a`))
    await new Promise((r) => setTimeout(r, 8500))
    const calls = await Promise.all([1, 2, 3, 4].map(() => browser.request(`${origin}/b`)))
    const jtis = new Set(calls.map((c) => seen(c).jti))
    expect(jtis.size).toBe(1)
    expect(jtis.has(first.jti)).toBe(false)
    const refreshes = async () => (await admin.events('zoe', 'REFRESH_TOKEN')).filter((e) => e.sessionId === sid)
    expect(await refreshes()).toHaveLength(1)
  }, 30_000)

  test('logout through the proxy ends the session at Keycloak; the next request goes to the login', async () => {
    await endSessions('yuri')
    const { browser } = await loggedIn('yuri', '/')
    const out = await browser.request(`${origin}/auth/logout`, { method: 'POST', headers: api })
    expect(out.status).toBe(200)
    expect(await admin.userSessions('yuri')).toEqual([])
    const after = await browser.request(`${origin}/orders`)
    expect(after.status).toBe(302)
    expect(after.headers.get('location')).toBe(`${origin}/auth/login?returnTo=%2Forders`)
  })

  test('a session ended at Keycloak (its back-channel logout through the proxy) is a 401 at the proxy within a second', async () => {
    const { browser } = await loggedIn('zoe', '/')
    expect(seen(await browser.request(`${origin}/orders`)).url).toBe('/orders')
    await endSessions('zoe')
    await waitUntil(async () => (await browser.request(`${origin}/orders`)).status === 302, 1000)
    // The 401 itself, as the proxy asks: keyward's check says so, with where to log in.
    const refused = await check(browser)
    expect(refused.status).toBe(401)
    expect(refused.header('x-keyward-login')).toBe(`${origin}/auth/login`)
  })
})
