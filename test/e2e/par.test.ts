import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { parse } from 'node-html-parser'
import { Browser } from '../../harness/browser'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { startKeyward, type RunningKeyward } from '../../harness/keyward'
import { MOBILE, MobileApp } from '../../harness/mobile-app'
import { Upstream } from '../../harness/upstream'
import { addUser, keywardKeycloak as cli } from '../support/keycloak-cli'
import { api } from '../support/refresh-fixture'

// Logins pushed to Keycloak first (PAR, RFC 9126), on a realm of its own whose client setup makes
// require them: the browser's URL holds only client_id and request_uri; every parameter of the login
// travels in the pushed request, made with the client's credentials.
describe('pushed authorization requests against a live Keycloak', () => {
  const realm = `par-${randomBytes(4).toString('hex')}`
  const admin = new KeycloakAdmin(realm)
  const settings = {
    KEYCLOAK_REALM: realm,
    OIDC_CLIENT_ID: 'pushed',
    OIDC_CLIENT_SECRET: randomBytes(16).toString('hex'),
    LOGIN_HINT: 'true',
    LOGIN_MAX_AGE: 'true',
    ...MOBILE,
  }
  let upstream: Upstream
  let kw: RunningKeyward

  /** Where keyward's login sends the browser, and the query it carries. */
  async function authorizeQuery(keyward: RunningKeyward, path: string): Promise<URLSearchParams> {
    const res = await fetch(`${keyward.url}${path}`, { redirect: 'manual' })
    expect(res.status).toBe(302)
    return new URL(res.headers.get('location')!).searchParams
  }
  beforeAll(async () => {
    upstream = await Upstream.start(realm)
    await admin.create({
      eventsEnabled: true,
      enabledEventTypes: [
        'PUSHED_AUTHORIZATION_REQUEST',
        'PUSHED_AUTHORIZATION_REQUEST_ERROR',
        'LOGIN',
        'CODE_TO_TOKEN',
      ],
    })
    await addUser(admin, 'erin')
    kw = await startKeyward({ ...settings, OIDC_PAR: 'true', UPSTREAMS: JSON.stringify({ echo: upstream.url }) })
  })
  afterAll(async () => {
    await kw?.close()
    await upstream?.close()
    await admin.drop()
  })

  test('setup creates the client requiring PAR; a browser login carries only client_id and request_uri, and its parameters reach Keycloak in the push', async () => {
    const setup = await cli('setup', { PUBLIC_URL: kw.url, ...settings, OIDC_PAR: 'true' })
    expect(setup.out).toContain('doctor: no problems')
    expect(setup.code).toBe(0)
    expect((await admin.client('pushed')).attributes).toMatchObject({ 'require.pushed.authorization.requests': 'true' })

    const query = await authorizeQuery(kw, '/auth/login?returnTo=/welcome&login_hint=erin')
    expect([...query.keys()].sort()).toEqual(['client_id', 'request_uri'])
    expect(query.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/)

    const browser = new Browser()
    // login_hint was pushed, not in the URL: Keycloak's form has the user name filled in.
    const form = (await browser.follow(`${kw.url}/auth/login?returnTo=/welcome&login_hint=erin`)).at(-1)!
    expect(parse(form.text).querySelector('input#username')?.getAttribute('value')).toBe('erin')
    await browser.login(kw.url, 'erin', 'erin-password')
    expect((await browser.request(`${kw.url}/api/echo/me`, { headers: api })).status).toBe(200)
    // A step-up's max_age=0, pushed: Keycloak asks for the password again despite its SSO session
    // (once a second has passed: Keycloak counts the age of a login in whole seconds).
    await sleep(1100)
    const again = (await browser.follow(`${kw.url}/auth/login?returnTo=/welcome&max_age=0`)).at(-1)!
    expect(parse(again.text).querySelector('form#kc-form-login')).not.toBeNull()
  })

  test('a mobile login is pushed too', async () => {
    const app = new MobileApp(kw.url)
    expect([...(await authorizeQuery(kw, app.loginPath())).keys()].sort()).toEqual(['client_id', 'request_uri'])
    const token = await app.signIn('erin')
    const res = await fetch(`${kw.url}/api/echo/me`, { headers: { authorization: `Bearer ${token}` } })
    expect(res.status).toBe(200)
  })

  test('keyward not pushing: Keycloak refuses the login, and the doctor says which setting is missing', async () => {
    const plain = await startKeyward({ ...settings, UPSTREAMS: JSON.stringify({ echo: upstream.url }) })
    try {
      const query = await authorizeQuery(plain, '/auth/login?returnTo=/welcome')
      expect(query.get('redirect_uri')).toBe(`${plain.url}/auth/callback`)
      const atKeycloak = (await new Browser().follow(`${plain.url}/auth/login?returnTo=/welcome`)).at(-1)!
      expect(atKeycloak.status).toBe(400)
      expect(parse(atKeycloak.text).querySelector('form#kc-form-login')).toBeNull()
      const doctor = await cli('doctor', { PUBLIC_URL: plain.url, ...settings })
      expect(doctor.code).toBe(1)
      expect(doctor.out).toContain('set OIDC_PAR=true')
    } finally {
      await plain.close()
    }
  })
})
