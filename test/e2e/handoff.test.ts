import { randomBytes } from 'node:crypto'
import { s256 } from '../../src/domain/opaque'
import request from 'supertest'
import type { ServerConfig as Config } from '../../src/config/load'
import type { AppConfig } from '../../src/config/types'
import { Browser } from '../../harness/browser'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { startKeyward, type RunningKeyward } from '../../harness/keyward'
import { Upstream } from '../../harness/upstream'
import {
  api,
  storedAccessClaims,
  storedSession,
  untilExpired,
  waitUntil,
  type StoredSession,
} from '../support/refresh-fixture'

const admin = new KeycloakAdmin()
const PHONE_URI = 'com.example.phone:/handoff'
const json = { ...api, 'content-type': 'application/json' }

/**
 * Three apps on one keyward, told apart by Host: `web` (keyward-web, on 127.0.0.1), which may hand
 * sessions to `sibling` (keyward-sibling, set up for Standard Token Exchange, on localhost) and to
 * `short` (keyward-short, which is not set up for it, on a host only supertest reaches), and to the
 * mobile app `phone` (keyward-sibling's client too, on another such host).
 */
function siblings(config: Config): Config {
  const web = config.apps[0]
  const port = web.publicUrl.port
  const app = (id: string, host: string, clientId: string): AppConfig => {
    const publicUrl = new URL(`http://${host}:${port}`)
    return {
      ...web,
      id,
      publicUrl,
      callbackUrl: new URL('/auth/callback', publicUrl),
      allowedOrigins: new Set([publicUrl.origin]),
      clientId,
      clientSecret: `${clientId}-dev-secret`,
      handoffTargets: new Set(),
    }
  }
  return {
    ...config,
    apps: [
      { ...web, handoffTargets: new Set(['sibling', 'short', 'phone']) },
      app('sibling', 'localhost', 'keyward-sibling'),
      app('short', 'short.localhost', 'keyward-short'),
      { ...app('phone', 'phone.localhost', 'keyward-sibling'), mobileRedirectUris: new Set([PHONE_URI]) },
    ],
  }
}

/** The token sessions keyward holds, by app. */
async function sessionsByApp(
  kw: RunningKeyward,
): Promise<Record<string, { id: string; sid: string; parentId?: string }[]>> {
  const out: Record<string, { id: string; sid: string; parentId?: string }[]> = {}
  for (const key of (await kw.keys()).filter((k) => k.includes(':tok:'))) {
    const meta = JSON.parse((await kw.redis.hget(key, 'm'))!) as { app: string; sid: string; parentId?: string }
    ;(out[meta.app] ??= []).push({ id: key.slice(key.indexOf('{') + 1, -1), sid: meta.sid, parentId: meta.parentId })
  }
  return out
}

const session = async (kw: RunningKeyward, app: string): Promise<StoredSession> => {
  const [s] = (await sessionsByApp(kw))[app]
  return (await storedSession({ ...kw, keys: async () => [`${kw.config.redis.prefix}tok:{${s.id}}`] }))!
}

describe('handing a session to a sibling app (token exchange)', () => {
  let upstream: Upstream
  let kw: RunningKeyward
  beforeAll(async () => {
    upstream = await Upstream.start()
    kw = await startKeyward({ UPSTREAMS: JSON.stringify({ echo: upstream.url }) }, { adjust: siblings })
  })
  afterAll(async () => {
    await kw.close()
    await upstream.close()
  })

  const sibling = () => kw.url.replace('127.0.0.1', 'localhost')

  test('A → B with Standard Token Exchange: B holds its own tokens for its own client in the same Keycloak session, refreshes on its own, and ends with the Keycloak session', async () => {
    const browser = new Browser()
    await browser.login(kw.url, 'alice', 'alice-password')
    expect((await browser.request(`${kw.url}/api/echo/me`, { headers: api })).status).toBe(200)

    const started = await browser.request(`${kw.url}/auth/handoff`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ target: 'sibling', returnTo: '/orders?page=2' }),
    })
    expect(started.status).toBe(200)
    const { url, expiresAt } = JSON.parse(started.text) as { url: string; expiresAt: string }
    expect(url).toMatch(new RegExp(`^${sibling()}/auth/handoff/complete\\?code=[A-Za-z0-9_-]{43}&from=web$`))
    expect(Date.parse(expiresAt) - Date.now()).toBeLessThanOrEqual(60_000)
    const [codeKey] = (await kw.keys()).filter((k) => k.includes(':handoff:'))
    expect(await kw.redis.pttl(codeKey)).toBeGreaterThan(50_000) // Redis forgets it after 60 s at most
    expect(await kw.redis.pttl(codeKey)).toBeLessThanOrEqual(60_000)
    expect(codeKey).not.toContain(new URL(url).searchParams.get('code')) // stored by its hash

    const landed = await browser.request(url)
    expect([landed.status, landed.headers.get('location')]).toEqual([302, '/orders?page=2'])
    const who = await browser.request(`${sibling()}/auth/session`)
    expect(JSON.parse(who.text)).toMatchObject({ app: 'sibling', user: { preferred_username: 'alice' } })

    // B's session is its own: its own record, tokens issued to keyward-sibling, the same Keycloak sid, linked to A's.
    const byApp = await sessionsByApp(kw)
    expect([byApp.web.length, byApp.sibling.length]).toEqual([1, 1])
    expect(byApp.sibling[0]).toMatchObject({ sid: byApp.web[0].sid, parentId: byApp.web[0].id })
    const a = await session(kw, 'web')
    const b = await session(kw, 'sibling')
    expect((await storedAccessClaims(kw, b)).azp).toBe('keyward-sibling')
    expect((await storedAccessClaims(kw, a)).azp).toBe('keyward-web')
    expect((await browser.request(`${sibling()}/api/echo/me`, { headers: api })).status).toBe(200)
    expect(upstream.seen.at(-1)!.claims).toMatchObject({ azp: 'keyward-sibling', sid: a.sid })
    const [kcSession] = (await admin.userSessions('alice')).filter((s) => s.id === a.sid)
    expect(Object.values(kcSession.clients).sort()).toEqual(['keyward-sibling', 'keyward-web'])

    // A refreshes (its upstream refuses its current token), and B is untouched by it…
    const refusedBefore = Math.floor(Date.now() / 1000) + 1
    upstream.rejectToken = (claims) => claims.azp === 'keyward-web' && (claims.iat ?? 0) < refusedBefore
    // keyward refreshes for an upstream's 401 only a token older than 10 s.
    await new Promise((r) => setTimeout(r, 10_500))
    expect((await browser.request(`${kw.url}/api/echo/me`, { headers: api })).status).toBe(200)
    upstream.rejectToken = () => false
    expect((await session(kw, 'web')).version).toBe(2)
    expect((await session(kw, 'sibling')).version).toBe(1)
    // …then B's own 10-second token runs out and B refreshes as keyward-sibling, once.
    await untilExpired(await session(kw, 'sibling'))
    expect((await browser.request(`${sibling()}/api/echo/me`, { headers: api })).status).toBe(200)
    expect((await session(kw, 'sibling')).version).toBe(2)
    const refreshes = (await admin.events('alice', 'REFRESH_TOKEN')).filter((e) => e.sessionId === a.sid)
    expect(refreshes.map((e) => e.clientId).sort()).toEqual(['keyward-sibling', 'keyward-web'])
    const exchanges = (await admin.events('alice', 'TOKEN_EXCHANGE')).filter((e) => e.sessionId === a.sid)
    expect(exchanges.map((e) => e.clientId)).toEqual(['keyward-sibling'])

    // Logging out on A ends the Keycloak session, and with it B's session here.
    const out = await browser.request(`${kw.url}/auth/logout`, { method: 'POST', headers: api })
    expect(out.status).toBe(200)
    expect((await browser.request(`${sibling()}/auth/session`)).status).toBe(401)
    expect(await sessionsByApp(kw)).toEqual({})
    expect((await admin.userSessions('alice')).map((s) => s.id)).not.toContain(a.sid)
  })

  test('bad handoffs change nothing: no session, a wrong or missing CSRF header, a target outside the allowlist, a foreign returnTo', async () => {
    const post = (browser: Browser, body: unknown, headers: Record<string, string> = json) =>
      browser.request(`${kw.url}/auth/handoff`, { method: 'POST', headers, body: JSON.stringify(body) })
    const nobody = await post(new Browser(), { target: 'sibling' })
    expect([nobody.status, JSON.parse(nobody.text).code]).toEqual([401, 'not_authenticated'])

    const browser = new Browser()
    await browser.login(kw.url, 'bob', 'bob-password')
    const keys = await kw.keys()
    const noCsrf = await post(browser, { target: 'sibling' }, { 'content-type': 'application/json' })
    expect([noCsrf.status, JSON.parse(noCsrf.text).code]).toEqual([403, 'csrf_required'])
    for (const target of ['web', 'nowhere', 'http://evil.example']) {
      const refused = await post(browser, { target })
      expect([refused.status, JSON.parse(refused.text).code]).toEqual([403, 'handoff_not_allowed'])
    }
    const foreign = await post(browser, { target: 'sibling', returnTo: 'https://evil.example/' })
    expect([foreign.status, JSON.parse(foreign.text).code]).toEqual([400, 'invalid_return_to'])
    const malformed = await post(browser, { target: 42 })
    expect([malformed.status, JSON.parse(malformed.text).code]).toEqual([400, 'invalid_request'])
    expect(await kw.keys()).toEqual(keys) // no code was stored
    await browser.request(`${kw.url}/auth/logout`, { method: 'POST', headers: api })
  })

  test('bad codes change nothing: guessed, malformed, on the wrong host (left for the right one), replayed; a Keycloak refusal names the fix and creates nothing', async () => {
    const browser = new Browser()
    await browser.login(kw.url, 'alice', 'alice-password')
    const handoff = async (target: string) => {
      const res = await browser.request(`${kw.url}/auth/handoff`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ target }),
      })
      expect(res.status).toBe(200)
      return new URL((JSON.parse(res.text) as { url: string }).url)
    }
    const complete = (code: string, host = 'localhost') =>
      request(kw.composed.handler)
        .get(`/auth/handoff/complete?code=${encodeURIComponent(code)}`)
        .set('Host', `${host}:${new URL(kw.url).port}`)
    const before = await sessionsByApp(kw)

    for (const [code, status, problem] of [
      [randomBytes(32).toString('base64url'), 400, 'invalid_grant'],
      ['not-a-code', 400, 'invalid_request'],
    ] as const) {
      const res = await complete(code)
      expect([res.status, res.body.code]).toEqual([status, problem])
    }
    const url = await handoff('sibling')
    const code = url.searchParams.get('code')!
    const wrongHost = await complete(code, '127.0.0.1')
    expect([wrongHost.status, wrongHost.body.code]).toEqual([400, 'invalid_grant'])
    expect(await sessionsByApp(kw)).toEqual(before)
    const right = await complete(code)
    expect(right.status).toBe(302)
    expect(right.headers['set-cookie']).toHaveLength(1)
    const replayed = await complete(code)
    expect([replayed.status, replayed.body.code]).toEqual([400, 'invalid_grant'])
    expect((await sessionsByApp(kw)).sibling).toHaveLength(1)

    // keyward-short is not set up for Standard Token Exchange: Keycloak says no, keyward names the fix.
    const keys = await kw.keys()
    const refused = await complete((await handoff('short')).searchParams.get('code')!, 'short.localhost')
    expect([refused.status, refused.body.code]).toEqual([403, 'exchange_refused'])
    expect(refused.body.detail).toContain('standard.token.exchange.enabled) on client keyward-short')
    expect(refused.headers['set-cookie']).toBeUndefined()
    expect(await kw.keys()).toEqual(keys.filter((k) => !k.includes(':handoff:')))
    const sid = (await sessionsByApp(kw)).web[0].sid
    const [kcSession] = (await admin.userSessions('alice')).filter((s) => s.id === sid)
    expect(Object.values(kcSession.clients)).not.toContain('keyward-short')

    await browser.request(`${kw.url}/auth/logout`, { method: 'POST', headers: api })
  })

  test('a code not redeemed within HANDOFF_CODE_TTL_SECONDS is gone', async () => {
    const short = await startKeyward(
      { UPSTREAMS: JSON.stringify({ echo: upstream.url }), HANDOFF_CODE_TTL_SECONDS: '1' },
      { adjust: siblings },
    )
    try {
      const browser = new Browser()
      await browser.login(short.url, 'alice', 'alice-password')
      const res = await browser.request(`${short.url}/auth/handoff`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ target: 'sibling' }),
      })
      const url = (JSON.parse(res.text) as { url: string }).url
      await waitUntil(async () => !(await short.keys()).some((k) => k.includes(':handoff:')), 3000)
      const expired = await browser.request(url)
      expect([expired.status, JSON.parse(expired.text).code]).toEqual([400, 'invalid_grant'])
      expect(Object.keys(await sessionsByApp(short))).toEqual(['web'])
      await browser.request(`${short.url}/auth/logout`, { method: 'POST', headers: api })
    } finally {
      await short.close()
    }
  })

  test('a remembered (offline) session is not handed over: Keycloak would refuse it, so keyward says why first', async () => {
    const browser = new Browser()
    await browser.login(kw.url, 'bob', 'bob-password', '/auth/login?returnTo=/&offline=1')
    const res = await browser.request(`${kw.url}/auth/handoff`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ target: 'sibling' }),
    })
    expect([res.status, JSON.parse(res.text).code]).toEqual([403, 'handoff_not_allowed'])
    expect(JSON.parse(res.text).detail).toMatch(/offline/)
    expect(await kw.keys()).not.toContainEqual(expect.stringContaining(':handoff:'))
    await browser.request(`${kw.url}/auth/revoke`, { method: 'POST', headers: api })
  })

  test("A → a mobile app: the code goes to the app's redirect URI, and only the app, with its verifier, turns it into its own handle", async () => {
    const browser = new Browser()
    await browser.login(kw.url, 'alice', 'alice-password')
    const verifier = randomBytes(48).toString('base64url')
    const ask = (body: Record<string, string>) =>
      browser.request(`${kw.url}/auth/handoff`, {
        method: 'POST',
        headers: json,
        body: JSON.stringify({ target: 'phone', codeChallenge: s256(verifier), codeChallengeMethod: 'S256', ...body }),
      })
    const foreign = await ask({ redirectUri: 'com.example.evil:/steal' })
    expect([foreign.status, JSON.parse(foreign.text).code]).toEqual([403, 'handoff_not_allowed'])
    const noChallenge = await ask({ redirectUri: PHONE_URI, codeChallengeMethod: 'plain' })
    expect([noChallenge.status, JSON.parse(noChallenge.text).code]).toEqual([400, 'invalid_request'])

    const started = await ask({ redirectUri: PHONE_URI, state: 'st-1' })
    expect(started.status).toBe(200)
    const url = new URL((JSON.parse(started.text) as { url: string }).url)
    expect(`${url.protocol}${url.pathname}`).toBe(PHONE_URI)
    expect(url.searchParams.get('state')).toBe('st-1')
    const code = url.searchParams.get('code')!
    const phone = `phone.localhost:${new URL(kw.url).port}`
    const redeem = (body: Record<string, string>) =>
      request(kw.composed.handler)
        .post('/auth/token')
        .set('Host', phone)
        .send({ code, code_verifier: verifier, redirect_uri: PHONE_URI, ...body })

    // Wrong proofs, and the browser route, leave the code to the app.
    const wrongVerifier = await redeem({ code_verifier: randomBytes(48).toString('base64url') })
    expect([wrongVerifier.status, wrongVerifier.body.code]).toEqual([400, 'invalid_grant'])
    const wrongUri = await redeem({ redirect_uri: 'com.example.phone:/other' })
    expect([wrongUri.status, wrongUri.body.code]).toEqual([400, 'invalid_grant'])
    const asBrowser = await request(kw.composed.handler).get(`/auth/handoff/complete?code=${code}`).set('Host', phone)
    expect([asBrowser.status, asBrowser.body.code]).toEqual([400, 'invalid_grant'])
    expect((await sessionsByApp(kw)).phone).toBeUndefined()

    const redeemed = await redeem({ device_name: 'Phone of Alice' })
    expect(redeemed.status).toBe(200)
    expect(redeemed.body).toMatchObject({ session_token: expect.stringMatching(/^kw_/), kind: 'online' })
    expect((await redeem({})).body.code).toBe('invalid_grant') // used
    const sid = (await sessionsByApp(kw)).web[0].sid
    expect((await sessionsByApp(kw)).phone).toEqual([expect.objectContaining({ sid })])

    const called = await request(kw.composed.handler)
      .get('/api/echo/me')
      .set('Host', phone)
      .set('Authorization', `Bearer ${redeemed.body.session_token}`)
    expect(called.status).toBe(200)
    expect(upstream.seen.at(-1)!.claims).toMatchObject({ azp: 'keyward-sibling', sid })
    const [kcSession] = (await admin.userSessions('alice')).filter((s) => s.id === sid)
    expect(Object.values(kcSession.clients)).toContain('keyward-sibling')
    await browser.request(`${kw.url}/auth/logout`, { method: 'POST', headers: api })
    expect(await sessionsByApp(kw)).toEqual({})
  })
})
