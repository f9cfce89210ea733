import { randomBytes } from 'node:crypto'
import { Browser, type Hop } from '../../harness/browser'
import { startHostApp, testOptions, type HostApp } from '../../harness/host-app'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { startKeyward, type RunningKeyward } from '../../harness/keyward'
import { enrolTotp, enterTotp, nextTotpWindow } from '../../harness/otp'
import { ACR_LOA_MAP, stepUpRealmSettings } from '../../harness/step-up-realm'
import { Upstream } from '../../harness/upstream'
import { api } from '../support/refresh-fixture'

/**
 * Step-up authentication on a real realm set up for it: Keycloak's Level of Authentication, level 1
 * the password and level 2 an OTP. The user enrols TOTP on Keycloak's own setup page, whose secret
 * the test reads and computes codes from (otplib), as an authenticator app would.
 */
describe('step-up authentication (Keycloak Level of Authentication)', () => {
  const tag = randomBytes(3).toString('hex')
  const realm = `stepup-${tag}`
  const admin = new KeycloakAdmin(realm)
  const user = `stepper-${tag}`
  const secret = randomBytes(16).toString('hex')
  let upstream: Upstream
  let kw: RunningKeyward
  let host: HostApp
  let totpSecret: string

  beforeAll(async () => {
    await admin.create({
      ...stepUpRealmSettings(),
      accessTokenLifespan: 10, // a refresh within the test, to show it keeps the level
      eventsEnabled: true,
      clients: [
        {
          clientId: 'keyward-stepup',
          secret,
          publicClient: false,
          standardFlowEnabled: true,
          redirectUris: ['http://127.0.0.1:*'],
        },
      ],
      users: [
        {
          username: user,
          enabled: true,
          email: `${user}@example.com`,
          emailVerified: true,
          firstName: 'Step',
          lastName: 'Up',
          credentials: [{ type: 'password', value: `${user}-password`, temporary: false }],
        },
      ],
    })
    upstream = await Upstream.start(realm)
    kw = await startKeyward({
      KEYCLOAK_REALM: realm,
      OIDC_CLIENT_ID: 'keyward-stepup',
      OIDC_CLIENT_SECRET: secret,
      KEYCLOAK_ACR_LEVELS: JSON.stringify(ACR_LOA_MAP),
      LOGIN_ACR_VALUES: 'gold',
      LOGIN_MAX_AGE: 'true',
      UPSTREAMS: JSON.stringify({
        plain: upstream.url,
        gold: { url: upstream.url, requireAcr: 'gold' },
        recent: { url: upstream.url, maxAuthAgeSeconds: 3 },
      }),
    })
    host = await startHostApp({
      keyward: (url) =>
        testOptions(url, {
          keycloak: { realm, clientId: 'keyward-stepup', clientSecret: secret, acrLevels: ACR_LOA_MAP },
          login: { acrValues: ['gold'] },
        }),
      routes: (app, k) => {
        app.get('/vault', k.requireAuthLevel({ acr: 'gold' }), (req, res) => {
          res.json({ acr: req.keyward.user?.acr })
        })
        app.use(k.errorHandler())
      },
    })
  })
  afterAll(async () => {
    await kw?.close()
    await host?.close()
    await upstream?.close()
    await admin.drop().catch(() => undefined)
  })

  const sessionKeys = async () => (await kw.keys()).filter((k) => k.includes(':tok:'))
  const call = (browser: Browser, path: string) => browser.request(`${kw.url}/api/${path}`, { headers: api })
  const landing = (hops: Hop[]) => hops.at(-1)!

  test('a password session is refused a level-2 upstream; the step-up with an OTP raises it in place', async () => {
    const browser = new Browser()
    await browser.login(kw.url, user, `${user}-password`)
    const before = JSON.parse((await browser.request(`${kw.url}/auth/session`)).text)
    expect(before.user.acr).toBe('silver')
    expect((await call(browser, 'plain/x')).status).toBe(200)

    const heard = upstream.seen.length
    const refused = await call(browser, 'gold/x')
    expect(refused.status).toBe(401)
    expect(refused.headers.get('www-authenticate')).toBe(
      'Bearer error="insufficient_user_authentication", acr_values="gold"',
    )
    const problem = JSON.parse(refused.text)
    expect(problem).toMatchObject({ code: 'step_up_required', loginUrl: '/auth/login?acr_values=gold' })
    expect(upstream.seen.length).toBe(heard)

    const cookie = await browser.jar.getCookieString(kw.url)
    const [key] = await sessionKeys()
    const version = Number(await kw.redis.hget(key, 'v'))
    // The step-up: Keycloak knows the password already (its SSO cookie) and asks for the second
    // factor; this user has none yet, so Keycloak's own setup page enrols one.
    const toKeycloak = await browser.follow(`${kw.url}${problem.loginUrl}&returnTo=/orders`)
    const enrolled = await enrolTotp(browser, landing(toKeycloak))
    totpSecret = enrolled.secret
    const callback = enrolled.hops.find((h) => h.url.startsWith(`${kw.url}/auth/callback`))!
    expect([callback.status, callback.headers.get('location')]).toEqual([302, '/orders'])
    expect(callback.headers.getSetCookie().filter((c) => c.startsWith('keyward='))).toEqual([])

    // The same session, behind the same cookie, a version on; now at gold.
    expect(await browser.jar.getCookieString(kw.url)).toBe(cookie)
    expect(await sessionKeys()).toEqual([key])
    expect(Number(await kw.redis.hget(key, 'v'))).toBe(version + 1)
    const after = JSON.parse((await browser.request(`${kw.url}/auth/session`)).text)
    expect(after.user.acr).toBe('gold')
    expect(after.createdAt).toBe(before.createdAt)
    const ok = await call(browser, 'gold/x')
    expect(ok.status).toBe(200)
    expect(upstream.seen.at(-1)!.claims!.acr).toBe('gold')

    // Keycloak's word on the second factor: an OTP credential, enrolled in this login.
    const userId = (await admin.call<{ id: string }[]>('GET', `/users?exact=true&username=${user}`))[0].id
    const credentials = await admin.call<{ type: string }[]>('GET', `/users/${userId}/credentials`)
    expect(credentials.map((c) => c.type).sort()).toEqual(['otp', 'password'])
    const events = await admin.call<{ type: string; details?: Record<string, string> }[]>(
      'GET',
      `/events?user=${userId}&max=100`,
    )
    expect(
      events.some((e) => /UPDATE_(TOTP|CREDENTIAL)/.test(e.type) && e.details?.credential_type !== 'password'),
    ).toBe(true)

    // Refreshes keep the level Keycloak reports: past the 10-second token, gold still.
    await new Promise((r) => setTimeout(r, 11_000))
    expect((await call(browser, 'gold/x')).status).toBe(200)
    expect(upstream.seen.at(-1)!.claims!.acr).toBe('gold')
    expect(Number(await kw.redis.hget(key, 'v'))).toBeGreaterThan(version + 1)
  })

  test('a new password session steps up with the enrolled OTP; a wrong code does not', async () => {
    await nextTotpWindow() // Keycloak takes each code once
    const browser = new Browser()
    await browser.login(kw.url, user, `${user}-password`)
    expect((await call(browser, 'gold/x')).status).toBe(401)
    const otpPage = landing(await browser.follow(`${kw.url}/auth/login?acr_values=gold&returnTo=/orders`))
    await expect(enterTotp(browser, otpPage, 'JBSWY3DPEHPK3PXP')).rejects.toThrow(/answered the form with 200/)
    const retry = landing(await browser.follow(`${kw.url}/auth/login?acr_values=gold&returnTo=/orders`))
    const hops = await enterTotp(browser, retry, totpSecret)
    expect(hops.find((h) => h.url.startsWith(`${kw.url}/auth/callback`))?.headers.get('location')).toBe('/orders')
    expect((await call(browser, 'gold/x')).status).toBe(200)
  })

  test('maxAuthAgeSeconds: an authentication older than that asks for the password again', async () => {
    const browser = new Browser()
    await browser.login(kw.url, user, `${user}-password`)
    expect((await call(browser, 'recent/x')).status).toBe(200)
    await new Promise((r) => setTimeout(r, 4000))
    const refused = await call(browser, 'recent/x')
    expect(refused.status).toBe(401)
    expect(JSON.parse(refused.text).loginUrl).toBe('/auth/login?max_age=3')
    const hops = await browser.login(kw.url, user, `${user}-password`, '/auth/login?max_age=3&returnTo=/orders')
    expect(hops.at(-1)!.url).toBe(`${kw.url}/orders`)
    expect((await call(browser, 'recent/x')).status).toBe(200)
  })

  test('the middleware’s requireAuthLevel sends a page to the step-up and back; an API call hears 401', async () => {
    await nextTotpWindow()
    const browser = new Browser()
    await browser.login(host.url, user, `${user}-password`)
    const api401 = await browser.request(`${host.url}/vault`, { headers: { accept: 'application/json' } })
    expect([api401.status, JSON.parse(api401.text).code]).toEqual([401, 'step_up_required'])
    const page = await browser.request(`${host.url}/vault`, { headers: { accept: 'text/html' } })
    expect(page.headers.get('location')).toBe('/auth/login?returnTo=%2Fvault&acr_values=gold')
    const otpPage = landing(await browser.follow(`${host.url}${page.headers.get('location')}`))
    await enterTotp(browser, otpPage, totpSecret)
    const vault = await browser.request(`${host.url}/vault`, { headers: { accept: 'application/json' } })
    expect(JSON.parse(vault.text)).toEqual({ acr: 'gold' })
  })
})
