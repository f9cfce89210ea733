import request from 'supertest'
import { loadConfig, type ServerConfig as Config } from '../../src/config/load'
import { Browser } from '../../harness/browser'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { testEnv, withKeyward } from '../../harness/keyward'
import { storedAccessClaims, storedSession, storedSid } from '../support/refresh-fixture'

const admin = new KeycloakAdmin()

describe('production cookies, session renewal on login, and several apps', () => {
  test('behind TLS the session cookie is __Host-, Secure, HttpOnly, SameSite=Lax, host-only, and the flow works end to end', async () => {
    await withKeyward(
      {},
      async (kw) => {
        const browser = new Browser({ https: kw.publicUrl, http: kw.url })
        const hops = await browser.login(kw.publicUrl, 'alice', 'alice-password')
        const callback = hops.find((h) => h.url.startsWith(`${kw.publicUrl}/auth/callback`))!
        const setCookie = callback.headers.getSetCookie().find((c) => c.startsWith('__Host-keyward='))!
        expect(setCookie).toMatch(/; Path=\//)
        expect(setCookie).toMatch(/; HttpOnly/)
        expect(setCookie).toMatch(/; Secure/)
        expect(setCookie).toMatch(/; SameSite=Lax/)
        expect(setCookie).not.toMatch(/Domain=/i)
        const login = browser.seen.find((h) => h.url.startsWith(`${kw.publicUrl}/auth/login`))!
        expect(login.headers.getSetCookie()[0]).toMatch(
          /^__Host-keyward-login=[^;]+; Max-Age=600; Path=\/; Expires=[^;]+; HttpOnly; Secure; SameSite=Lax$/,
        )

        expect((await browser.request(`${kw.publicUrl}/auth/session`)).status).toBe(200)
        const out = await browser.request(`${kw.publicUrl}/auth/logout`, {
          method: 'POST',
          headers: { 'x-csrf': '1', origin: kw.publicUrl },
        })
        expect(new URL(JSON.parse(out.text).endSessionUrl).searchParams.get('post_logout_redirect_uri')).toBe(
          `${kw.publicUrl}/`,
        )
        expect(out.headers.getSetCookie().join()).toMatch(/__Host-keyward=;.*Expires=Thu, 01 Jan 1970/)
        expect(await kw.keys()).toEqual([])
      },
      { behindTls: true },
    )
  })

  test('logging in again in the same browser replaces the session: new cookie id, one token session, old records gone', async () => {
    await withKeyward({}, async (kw) => {
      const browser = new Browser()
      await browser.login(kw.url, 'alice', 'alice-password')
      const firstCookie = (await browser.jar.getCookies(kw.url)).find((c) => c.key === 'keyward')!.value
      const firstKeys = await kw.keys()

      // Keycloak's SSO session logs the browser straight back in.
      const again = await browser.follow(`${kw.url}/auth/login?returnTo=/again`)
      expect(again.at(-1)!.url).toBe(`${kw.url}/again`)
      const secondCookie = (await browser.jar.getCookies(kw.url)).find((c) => c.key === 'keyward')!.value
      expect(secondCookie).not.toBe(firstCookie)
      const secondKeys = await kw.keys()
      expect(secondKeys.filter((k) => k.includes(':tok:'))).toHaveLength(1)
      expect(secondKeys.filter((k) => k.includes(':sess:'))).toHaveLength(1)
      expect(
        secondKeys.filter((k) => k.includes(':tok:') || k.includes(':sess:')).some((k) => firstKeys.includes(k)),
      ).toBe(false)
      expect((await browser.request(`${kw.url}/auth/session`)).status).toBe(200)

      // The old cookie, replayed by whoever kept it, no longer opens anything.
      const stale = await fetch(`${kw.url}/auth/session`, { headers: { cookie: `keyward=${firstCookie}` } })
      expect(stale.status).toBe(401)
      // It was the same Keycloak session, which goes on: forgetting the old tokens did not revoke the new.
      const { sid } = (await storedSession(kw))!
      expect((await admin.userSessions('alice')).map((s) => s.id)).toContain(sid)
    })
  })

  test('another user logging in in the same browser: the first session is revoked at Keycloak, not left behind', async () => {
    await withKeyward({}, async (kw) => {
      const browser = new Browser()
      await browser.login(kw.url, 'alice', 'alice-password')
      const sidOf = async () => (await storedSession(kw))!.sid
      const aliceSid = await sidOf()
      await browser.forgetKeycloakLogin(admin.base) // Keycloak asks again: Bob signs in
      await browser.login(kw.url, 'bob', 'bob-password')
      expect(JSON.parse((await browser.request(`${kw.url}/auth/session`)).text).user.preferred_username).toBe('bob')
      expect((await admin.userSessions('alice')).map((s) => s.id)).not.toContain(aliceSid)
      expect((await kw.keys()).filter((k) => k.includes(':tok:'))).toHaveLength(1)
      expect((await admin.userSessions('bob')).map((s) => s.id)).toContain(await sidOf())
    })
  })

  test('online, then remember-me in the same browser: both are kept and listed; logging out with the offline token ends both', async () => {
    await withKeyward({}, async (kw) => {
      const browser = new Browser()
      await browser.login(kw.url, 'alice', 'alice-password')
      await browser.follow(`${kw.url}/auth/login?offline=1`) // single sign-on: no form
      const listed = JSON.parse((await browser.request(`${kw.url}/auth/sessions`)).text).sessions as {
        id: string
        kind: string
        current: boolean
      }[]
      expect(listed.map((s) => [s.kind, s.current]).sort()).toEqual([
        ['offline', true],
        ['online', false],
      ])
      const sids = await Promise.all(listed.map((s) => storedSid(kw, s.id)))
      expect(sids[0]).toBe(sids[1]) // one Keycloak user session, online and offline
      const sid = sids[0]
      expect((await admin.userSessions('alice')).map((s) => s.id)).toContain(sid)
      expect((await admin.offlineSessions('alice', 'keyward-web')).map((s) => s.id)).toContain(sid)

      const out = await browser.request(`${kw.url}/auth/logout`, { method: 'POST', headers: { 'x-csrf': '1' } })
      expect(out.status).toBe(200)
      expect((await admin.userSessions('alice')).map((s) => s.id)).not.toContain(sid)
      expect((await admin.offlineSessions('alice', 'keyward-web')).map((s) => s.id)).not.toContain(sid)
      expect(await kw.keys()).toEqual([])
    })
  })

  test('a further allowed origin gets credentialed CORS: preflights answered, answers readable; other origins get none', async () => {
    const trusted = 'https://admin.example.test'
    await withKeyward({ ALLOWED_ORIGINS: trusted }, async (kw) => {
      const browser = new Browser()
      await browser.login(kw.url, 'alice', 'alice-password')
      const preflight = (origin: string) =>
        fetch(`${kw.url}/auth/logout`, {
          method: 'OPTIONS',
          headers: {
            origin,
            'access-control-request-method': 'POST',
            'access-control-request-headers': 'x-csrf, content-type',
          },
        })
      const ok = await preflight(trusted)
      expect(ok.status).toBe(204)
      expect(Object.fromEntries([...ok.headers].filter(([k]) => k.startsWith('access-control-')))).toEqual({
        'access-control-allow-origin': trusted,
        'access-control-allow-credentials': 'true',
        'access-control-allow-methods': 'GET, HEAD, POST, PUT, PATCH, DELETE',
        'access-control-allow-headers': 'x-csrf, content-type',
        'access-control-max-age': '600',
        'access-control-expose-headers': 'Retry-After',
      })
      expect(ok.headers.get('vary')).toMatch(/Origin/)
      const refused = await preflight('https://evil.example') // no CORS headers: the browser sends nothing
      expect([...refused.headers.keys()].filter((k) => k.startsWith('access-control-'))).toEqual([])

      const info = await browser.request(`${kw.url}/auth/session`, { headers: { origin: trusted } })
      expect(info.status).toBe(200)
      expect(info.headers.get('access-control-allow-origin')).toBe(trusted)
      expect(info.headers.get('access-control-allow-credentials')).toBe('true')
      const out = await browser.request(`${kw.url}/auth/logout`, {
        method: 'POST',
        headers: { origin: trusted, 'x-csrf': '1' },
      })
      expect(out.status).toBe(200)
      expect(out.headers.get('access-control-allow-origin')).toBe(trusted)
    })
  })

  test('APPS_INDEX_HOST: a browser asking there for / gets links to the apps; anything else there is still 421', async () => {
    await withKeyward({ APPS_INDEX_HOST: 'index.example' }, async (kw) => {
      const ask = (path: string, accept: string, host = 'index.example') =>
        request(kw.composed.handler).get(path).set('Host', host).set('Accept', accept)
      const page = await ask('/', 'text/html,application/xhtml+xml')
      expect([page.status, page.type]).toEqual([200, 'text/html'])
      expect(page.text).toContain(`<a href="${kw.publicUrl}/">web</a>`)
      expect(page.headers['content-security-policy']).toBeDefined()
      for (const [path, accept, host] of [
        ['/', 'application/json', 'index.example'],
        ['/auth/login', 'text/html', 'index.example'],
        ['/', 'text/html', 'evil.example'],
      ]) {
        const refused = await ask(path, accept, host)
        expect([path, host, refused.status, refused.body.code]).toEqual([path, host, 421, 'misdirected_request'])
      }
      const posted = await request(kw.composed.handler)
        .post('/')
        .set('Host', 'index.example')
        .set('Accept', 'text/html')
      expect(posted.status).toBe(421)
    })
    expect(() =>
      loadConfig(testEnv({ PUBLIC_URL: 'http://127.0.0.1:3000', APPS_INDEX_HOST: '127.0.0.1:3000' })),
    ).toThrow(/APPS_INDEX_HOST: must be a host no app has/)
  })

  test('several apps: the Host picks the app and its Keycloak client, each with its own session', async () => {
    const twoApps = (config: Config): Config => {
      const web = config.apps[0]
      const other = new URL(web.publicUrl.href.replace('127.0.0.1', 'localhost'))
      return {
        ...config,
        apps: [
          web,
          {
            ...web,
            id: 'short',
            publicUrl: other,
            callbackUrl: new URL('/auth/callback', other),
            allowedOrigins: new Set([other.origin]),
            clientId: 'keyward-short',
            clientSecret: 'keyward-short-dev-secret',
          },
        ],
      }
    }
    await withKeyward(
      {},
      async (kw) => {
        const port = new URL(kw.url).port
        const web = await request(kw.composed.handler).get('/auth/login').set('Host', `127.0.0.1:${port}`)
        expect(new URL(web.headers.location).searchParams.get('client_id')).toBe('keyward-web')
        const short = await request(kw.composed.handler).get('/auth/login').set('Host', `localhost:${port}`)
        expect(new URL(short.headers.location).searchParams.get('client_id')).toBe('keyward-short')
        expect(new URL(short.headers.location).searchParams.get('redirect_uri')).toBe(
          `http://localhost:${port}/auth/callback`,
        )
        const unknown = await request(kw.composed.handler).get('/auth/login').set('Host', `evil.example:${port}`)
        expect(unknown.status).toBe(421)
        expect(unknown.body).toMatchObject({ code: 'misdirected_request' })

        // A login started on one app does not finish on another, even with its browser's binding cookie.
        const started = await new Browser().request(`${kw.url}/auth/login`)
        const state = new URL(started.headers.get('location')!).searchParams.get('state')!
        const binding = started.headers.getSetCookie()[0].split(';')[0]
        const elsewhere = await fetch(`http://localhost:${port}/auth/callback?state=${state}&code=forged`, {
          headers: { cookie: binding },
        })
        expect(elsewhere.status).toBe(400)
        expect(await elsewhere.json()).toMatchObject({
          code: 'invalid_state',
          detail: expect.stringContaining('another application'),
        })

        // A real login through the second app lands in a session of that app and that Keycloak client.
        const browser = new Browser()
        await browser.login(`http://localhost:${port}`, 'bob', 'bob-password')
        const info = JSON.parse((await browser.request(`http://localhost:${port}/auth/session`)).text)
        expect(info).toMatchObject({ app: 'short', user: { preferred_username: 'bob' } })
        // The session's tokens are keyward-short's: its access tokens live exactly 10 seconds. (Read from
        // the token itself: Keycloak's expires_in counts from its own clock and is 9 when a second ticks over.)
        const claims = await storedAccessClaims(kw, (await storedSession(kw))!)
        expect([claims.azp, (claims.exp as number) - (claims.iat as number)]).toEqual(['keyward-short', 10])
        const sessions = await admin.userSessions('bob')
        expect(sessions.some((s) => Object.values(s.clients).includes('keyward-short'))).toBe(true)
        // Its cookie means nothing to the first app.
        const cookie = (await browser.jar.getCookies(`http://localhost:${port}`)).find((c) => c.key === 'keyward')!
        const cross = await fetch(`${kw.url}/auth/session`, { headers: { cookie: `keyward=${cookie.value}` } })
        expect(cross.status).toBe(401)
        expect((await browser.request(`http://localhost:${port}/auth/session`)).status).toBe(200)
        await browser.request(`http://localhost:${port}/auth/logout`, { method: 'POST', headers: { 'x-csrf': '1' } })
      },
      { adjust: twoApps },
    )
  })
})
