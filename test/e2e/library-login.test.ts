import { randomBytes } from 'node:crypto'
import { Browser } from '../../harness/browser'
import { startHostApp, testOptions, type HostApp } from '../../harness/host-app'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { keycloakUrl } from '../../harness/keyward'
import { addUser } from '../support/keycloak-cli'
import type { LoginDecision, LoginEvent } from '../../src/index'

const admin = new KeycloakAdmin()
const json = { accept: 'application/json' }

/**
 * The middleware's login controls: `kw.login(res, options)` and `requireSession({ login })`, checked
 * by the same allow-list as the login route; and `onLogin`, which refuses a login (Keycloak's client
 * session revoked, nothing kept) or keeps small data with the session.
 */
describe("keyward()'s kw.login, requireSession({ login }) and onLogin", () => {
  const tag = randomBytes(3).toString('hex')
  const member = `member-${tag}`
  const stranger = `stranger-${tag}`
  const greedy = `greedy-${tag}`
  const events: LoginEvent[] = []
  let host: HostApp

  const onLogin = (login: LoginEvent): LoginDecision => {
    events.push(login)
    const name = login.claims.preferred_username
    if (name === stranger) return { refuse: 'You are not on the guest list.' }
    if (name === greedy) return { data: { blob: 'x'.repeat(5000) } }
    return { data: { tier: 'gold', emailSeen: typeof login.claims.email === 'string' } }
  }

  beforeAll(async () => {
    for (const user of [member, stranger, greedy]) await addUser(admin, user)
    host = await startHostApp({
      keyward: (url) => testOptions(url, { login: { prompts: ['login', 'none'], loginHint: true }, onLogin }),
      routes: (app, kw) => {
        app.get('/me', kw.requireSession(), (req, res) => {
          res.json({ user: req.keyward.user?.preferred_username, data: req.keyward.session?.data ?? null })
        })
        app.get('/again', kw.requireSession({ login: { prompt: 'login' } }), (_req, res) => {
          res.json({ ok: true })
        })
        app.get('/sign-in', (req, res) => {
          kw.login(res, { loginHint: typeof req.query.user === 'string' ? req.query.user : '', returnTo: '/me' })
        })
        app.get('/sign-in-elsewhere', (_req, res) => {
          kw.login(res, { idpHint: 'google' }) // not allowed by the login option
        })
        app.get('/quietly', (_req, res) => {
          kw.login(res, { prompt: 'none', returnTo: '/landing' })
        })
        app.use(kw.errorHandler())
      },
    })
  })
  afterAll(() => host?.close())

  test('kw.login sends the browser to keyward’s login with what it asks for; the route checks it again', async () => {
    const first = await fetch(`${host.url}/sign-in?user=${member}`, { redirect: 'manual' })
    expect(first.status).toBe(302)
    expect(first.headers.get('location')).toBe(`/auth/login?returnTo=%2Fme&login_hint=${member}`)
    const toKeycloak = await fetch(`${host.url}${first.headers.get('location')}`, { redirect: 'manual' })
    const authorize = new URL(toKeycloak.headers.get('location')!)
    expect(authorize.origin).toBe(keycloakUrl())
    expect(authorize.searchParams.get('login_hint')).toBe(member)

    const refused = await fetch(`${host.url}/sign-in-elsewhere`, { redirect: 'manual', headers: json })
    expect(refused.status).toBe(400)
    expect(await refused.json()).toMatchObject({
      code: 'invalid_request',
      detail: "kc_idp_hint is not allowed for this application's logins.",
    })
  })

  test('kw.login with prompt none: silent login, back with error=login_required when Keycloak has no session', async () => {
    const hops = await new Browser().follow(`${host.url}/quietly`)
    expect(hops.at(-1)!.url).toBe(`${host.url}/landing?error=login_required`)
  })

  test('requireSession({ login }) asks for it at the login a page is sent to; what the option refuses fails at start', async () => {
    const page = await fetch(`${host.url}/again`, { redirect: 'manual', headers: { accept: 'text/html' } })
    expect(page.headers.get('location')).toBe('/auth/login?returnTo=%2Fagain&prompt=login')
    expect(() => host.kw.requireSession({ login: { idpHint: 'google' } })).toThrow(
      "requireSession: kc_idp_hint is not allowed for this application's logins.",
    )
    expect(() => host.kw.requireSession({ login: { prompt: 'none' } })).toThrow(/prompt 'none' would loop/)
  })

  test('onLogin keeps its data with the session, for the application alone', async () => {
    const browser = new Browser()
    await browser.login(host.url, member, `${member}-password`, '/auth/login?returnTo=/me')
    const me = JSON.parse((await browser.request(`${host.url}/me`, { headers: json })).text)
    expect(me).toEqual({ user: member, data: { tier: 'gold', emailSeen: true } })
    expect(events.find((e) => e.claims.preferred_username === member)).toMatchObject({
      app: 'web',
      kind: 'online',
      client: 'web',
      via: 'login',
    })
    // keyward's own session route never shows it.
    expect((await browser.request(`${host.url}/auth/session`)).text).not.toContain('gold')
  })

  test('onLogin refuses: 403 with its reason, no session here, and Keycloak’s client session revoked', async () => {
    const browser = new Browser()
    const hops = await browser.login(host.url, stranger, `${stranger}-password`, '/auth/login?returnTo=/me')
    const callback = hops.find((h) => h.url.startsWith(`${host.url}/auth/callback`))!
    expect([callback.status, JSON.parse(callback.text)]).toEqual([
      403,
      expect.objectContaining({ code: 'forbidden', detail: 'You are not on the guest list.' }),
    ])
    expect((await browser.jar.getCookies(host.url)).map((c) => c.key)).not.toContain('keyward')
    expect((await browser.request(`${host.url}/me`, { headers: json })).status).toBe(401)
    const sessions = await admin.userSessions(stranger)
    expect(sessions.flatMap((s) => Object.values(s.clients))).not.toContain('keyward-web')
    expect((await admin.events(stranger, 'REVOKE_GRANT')).length).toBeGreaterThan(0)
  })

  test('data over 4096 bytes is refused as the hook failing: 500, nothing kept, the client session revoked', async () => {
    const browser = new Browser()
    const hops = await browser.login(host.url, greedy, `${greedy}-password`, '/auth/login?returnTo=/me')
    const callback = hops.find((h) => h.url.startsWith(`${host.url}/auth/callback`))!
    expect(callback.status).toBe(500)
    expect((await browser.request(`${host.url}/me`, { headers: json })).status).toBe(401)
    const sessions = await admin.userSessions(greedy)
    expect(sessions.flatMap((s) => Object.values(s.clients))).not.toContain('keyward-web')
    expect(host.logs.join('')).toMatch(/more than 4096 bytes/)
  })
})
