import { randomBytes } from 'node:crypto'
import { parse } from 'node-html-parser'
import { Browser } from '../../harness/browser'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { keycloakUrl, startKeyward, type RunningKeyward } from '../../harness/keyward'
import { Upstream } from '../../harness/upstream'
import { addUser } from '../support/keycloak-cli'
import { api } from '../support/refresh-fixture'

const admin = new KeycloakAdmin()

/**
 * What a login may ask Keycloak for (prompt, login_hint, kc_idp_hint, ui_locales, acr_values, max_age,
 * extra scopes), each only where the app's configuration allows it; and silent login, both ways,
 * against the real Keycloak.
 */
describe('login parameters, allow-listed, and silent login', () => {
  const tag = randomBytes(3).toString('hex')
  const user = `params-${tag}`
  const idp = `corp-${tag}`
  const idpAuthorize = `https://idp-${tag}.example.invalid/authorize`
  let kw: RunningKeyward
  let strict: RunningKeyward
  let upstream: Upstream

  beforeAll(async () => {
    upstream = await Upstream.start()
    await addUser(admin, user)
    // An identity provider of the realm's own, so that kc_idp_hint has somewhere to send the browser.
    await admin.call('POST', '/identity-provider/instances', {
      alias: idp,
      providerId: 'oidc',
      enabled: true,
      config: {
        authorizationUrl: idpAuthorize,
        tokenUrl: `https://idp-${tag}.example.invalid/token`,
        clientId: 'keyward',
        clientSecret: 'unused',
        clientAuthMethod: 'client_secret_post',
      },
    })
    kw = await startKeyward({
      LOGIN_PROMPTS: 'login,none',
      LOGIN_HINT: 'true',
      LOGIN_IDP_HINTS: idp,
      LOGIN_UI_LOCALES: 'en,de',
      LOGIN_ACR_VALUES: 'silver,gold',
      LOGIN_MAX_AGE: 'true',
      LOGIN_SCOPES: 'phone',
      UPSTREAMS: JSON.stringify({ echo: upstream.url }),
    })
    strict = await startKeyward() // allows none of them
  })
  afterAll(async () => {
    await kw?.close()
    await strict?.close()
    await upstream?.close()
    await admin.call('DELETE', `/identity-provider/instances/${idp}`).catch(() => undefined)
  })

  /** Where keyward's login sends the browser (Keycloak's authorization URL), with its query. */
  async function authorizeUrl(keyward: RunningKeyward, query: string): Promise<URL> {
    const res = await fetch(`${keyward.url}/auth/login?returnTo=/welcome&${query}`, { redirect: 'manual' })
    expect(res.status).toBe(302)
    return new URL(res.headers.get('location')!)
  }

  const txKeys = async (keyward: RunningKeyward) => (await keyward.keys()).filter((k) => k.includes(':tx:'))

  test('each allowed parameter reaches Keycloak as given; nothing else of the query does', async () => {
    const url = await authorizeUrl(
      kw,
      `prompt=login&login_hint=${user}&kc_idp_hint=${idp}&ui_locales=de%20en&acr_values=gold&max_age=60&scope=phone` +
        '&response_mode=fragment&claims=%7B%7D&redirect_uri=https%3A%2F%2Fevil.example%2F&foo=bar',
    )
    expect(url.href.startsWith(`${keycloakUrl()}/realms/keyward/protocol/openid-connect/auth?`)).toBe(true)
    const q = url.searchParams
    expect(
      Object.fromEntries(
        ['prompt', 'login_hint', 'kc_idp_hint', 'ui_locales', 'acr_values', 'max_age'].map((n) => [n, q.get(n)]),
      ),
    ).toEqual({
      prompt: 'login',
      login_hint: user,
      kc_idp_hint: idp,
      ui_locales: 'de en',
      acr_values: 'gold',
      max_age: '60',
    })
    expect(q.get('scope')).toBe('openid profile email phone')
    expect(q.get('redirect_uri')).toBe(`${kw.url}/auth/callback`)
    for (const name of ['response_mode', 'claims', 'foo']) expect(q.has(name)).toBe(false)
  })

  test('a parameter the app does not allow, or a value outside its rule, is 400 problem+json and stores nothing', async () => {
    const before = [...(await txKeys(kw)), ...(await txKeys(strict))]
    const cases: [RunningKeyward, string, string][] = [
      [strict, 'prompt=login', "prompt is not allowed for this application's logins."],
      [strict, 'login_hint=alice', "login_hint is not allowed for this application's logins."],
      [strict, `kc_idp_hint=${idp}`, "kc_idp_hint is not allowed for this application's logins."],
      [strict, 'ui_locales=en', "ui_locales is not allowed for this application's logins."],
      [strict, 'acr_values=gold', "acr_values is not allowed for this application's logins."],
      [strict, 'max_age=0', "max_age is not allowed for this application's logins."],
      [strict, 'scope=phone', "scope is not allowed for this application's logins."],
      [kw, 'prompt=consent', 'prompt must be one of: login, none.'],
      [kw, 'kc_idp_hint=github', `kc_idp_hint must be one of: ${idp}.`],
      [kw, 'ui_locales=fr', 'ui_locales takes space-separated values among: en, de.'],
      [kw, 'acr_values=platinum', 'acr_values takes space-separated values among: silver, gold.'],
      [kw, 'max_age=-5', 'max_age must be a whole number of seconds, e.g. 300.'],
      [kw, 'scope=address', 'scope takes space-separated values among: phone.'],
      [kw, 'scope=offline_access', 'scope takes space-separated values among: phone.'],
      [kw, `login_hint=${'x'.repeat(300)}`, 'login_hint must be at most 255 characters, without control characters.'],
      [kw, 'prompt=login&prompt=none', 'prompt may be given once.'],
    ]
    for (const [keyward, query, detail] of cases) {
      const res = await fetch(`${keyward.url}/auth/login?returnTo=/welcome&${query}`, { redirect: 'manual' })
      expect([query, res.status, res.headers.get('content-type')]).toEqual([
        query,
        400,
        'application/problem+json; charset=utf-8',
      ])
      expect(await res.json()).toMatchObject({ code: 'invalid_request', detail })
      expect(res.headers.getSetCookie()).toEqual([]) // no login binding either
    }
    expect([...(await txKeys(kw)), ...(await txKeys(strict))]).toEqual(before)
  })

  test('Keycloak honours them: login_hint fills the form, kc_idp_hint goes to the provider, scope is granted', async () => {
    const browser = new Browser()
    const hinted = (await browser.follow(`${kw.url}/auth/login?returnTo=/welcome&login_hint=${user}`)).at(-1)!
    expect(parse(hinted.text).querySelector('input#username')?.getAttribute('value')).toBe(user)

    const toIdp = (await new Browser().follow(`${kw.url}/auth/login?returnTo=/welcome&kc_idp_hint=${idp}`)).at(-1)!
    expect([302, 303]).toContain(toIdp.status)
    expect(toIdp.headers.get('location')!.startsWith(`${idpAuthorize}?`)).toBe(true)

    const withPhone = new Browser()
    await withPhone.login(kw.url, user, `${user}-password`, '/auth/login?returnTo=/welcome&scope=phone')
    const seen = JSON.parse((await withPhone.request(`${kw.url}/api/echo/x`, { headers: api })).text)
    expect(seen.sub).toBe(await admin.userId(user))
    expect(String(upstream.seen.at(-1)!.claims!.scope).split(' ')).toContain('phone')
    const plain = new Browser()
    await plain.login(kw.url, user, `${user}-password`)
    await plain.request(`${kw.url}/api/echo/x`, { headers: api })
    expect(String(upstream.seen.at(-1)!.claims!.scope).split(' ')).not.toContain('phone')
  })

  test('prompt=login and max_age=0 ask an already signed-in user for the password again', async () => {
    const browser = new Browser()
    await browser.login(kw.url, user, `${user}-password`)
    // Single sign-on: without a prompt, Keycloak sends the browser straight back.
    const sso = await browser.follow(`${kw.url}/auth/login?returnTo=/welcome`)
    expect(sso.at(-1)!.url).toBe(`${kw.url}/welcome`)
    // Keycloak counts auth_time in whole seconds: a second later, max_age=0 has passed for sure.
    await new Promise((r) => setTimeout(r, 2000))
    for (const query of ['prompt=login', 'max_age=0']) {
      const page = (await browser.follow(`${kw.url}/auth/login?returnTo=/welcome&${query}`)).at(-1)!
      expect([query, page.status, !!parse(page.text).querySelector('form#kc-form-login')]).toEqual([query, 200, true])
    }
  })

  test('silent login: back to returnTo with error=login_required and no session when Keycloak has none', async () => {
    const sessions = async () => (await kw.keys()).filter((k) => k.includes(':tok:')).length
    const before = await sessions()
    const browser = new Browser()
    const hops = await browser.follow(
      `${kw.url}/auth/login?prompt=none&returnTo=${encodeURIComponent('/app?tab=2#top')}`,
    )
    const callback = hops.find((h) => h.url.startsWith(`${kw.url}/auth/callback`))!
    expect(new URL(callback.url).searchParams.get('error')).toBe('login_required') // Keycloak's own answer
    expect(callback.headers.get('location')).toBe('/app?tab=2&error=login_required#top')
    expect((await browser.jar.getCookies(kw.url)).map((c) => c.key)).not.toContain('keyward')
    expect((await browser.request(`${kw.url}/auth/session`)).status).toBe(401)
    expect(await sessions()).toBe(before)
  })

  test('silent login: logged in, straight back to returnTo, when Keycloak has a session', async () => {
    const browser = new Browser()
    await browser.login(kw.url, user, `${user}-password`)
    await browser.forgetKeywardCookies(kw.url) // keyward forgot this browser; Keycloak did not
    expect((await browser.request(`${kw.url}/auth/session`)).status).toBe(401)
    const hops = await browser.follow(`${kw.url}/auth/login?prompt=none&returnTo=/app`)
    expect(hops.some((h) => /[?&]error=/.test(h.headers.get('location') ?? ''))).toBe(false)
    expect(hops.at(-1)!.url).toBe(`${kw.url}/app`)
    const session = await browser.request(`${kw.url}/auth/session`)
    expect(session.status).toBe(200)
    expect(JSON.parse(session.text).user.preferred_username).toBe(user)
  })
})
