import { Browser } from '../../harness/browser'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { startKeyward, type RunningKeyward } from '../../harness/keyward'
import { findJwts } from '../../harness/leaks'
import { APP_URI, bearer, MOBILE, MobileApp, OTHER_APP_URI } from '../../harness/mobile-app'
import { RedisServer } from '../../harness/redis-server'
import { refreshCount, SHORT_CLIENT, storedSession, storedSid, untilExpired } from '../support/refresh-fixture'
import { Upstream } from '../../harness/upstream'
import { digest } from '../../src/domain/opaque'

const admin = new KeycloakAdmin()
const offlineIds = async (user: string) => (await admin.offlineSessions(user, 'keyward-short')).map((s) => s.id)

describe('mobile apps: one-time code, session handle, bearer calls, offline tokens, devices', () => {
  let upstream: Upstream
  let kw: RunningKeyward
  const env = () => ({ ...SHORT_CLIENT, ...MOBILE, UPSTREAMS: JSON.stringify({ echo: upstream.url }) })
  beforeAll(async () => {
    upstream = await Upstream.start()
  })
  afterAll(() => upstream.close())
  beforeEach(async () => {
    kw = await startKeyward(env())
  })
  afterEach(() => kw.close())

  test('the full flow: code at the app URI, handle for code + verifier, bearer calls with no CSRF, no token or cookie for the app', async () => {
    const app = new MobileApp(kw.url)
    const back = await app.authorize('alice', { state: 'app-state-1' })
    expect(`${back.protocol}${back.pathname}`).toBe(APP_URI)
    expect(back.searchParams.get('state')).toBe('app-state-1')
    const code = back.searchParams.get('code')!
    expect(code).toMatch(/^[A-Za-z0-9_-]{43}$/)

    const res = await app.exchange({ code, code_verifier: app.verifier, redirect_uri: APP_URI, device_name: 'Pixel 9' })
    expect(res.status).toBe(200)
    expect(res.headers.get('set-cookie')).toBeNull()
    const body = (await res.json()) as { session_token: string; expires_at: string; kind: string }
    expect(body).toEqual({
      session_token: expect.stringMatching(/^kw_[A-Za-z0-9_-]{43}$/),
      expires_at: expect.any(String),
      kind: 'online',
    })
    expect(Date.parse(body.expires_at)).toBeGreaterThan(Date.now() + 29 * 60_000)

    // Redis keeps only the handle's hash.
    const read = async (k: string) =>
      ({ string: () => kw.redis.get(k), hash: () => kw.redis.hgetall(k), zset: () => kw.redis.zrange(k, '0', '-1') })[
        (await kw.redis.type(k)) as 'string' | 'hash' | 'zset'
      ]()
    const dump = JSON.stringify(await Promise.all((await kw.keys()).map(async (k) => [k, await read(k)])))
    expect(dump).not.toContain(body.session_token.slice(3))

    const info = await fetch(`${kw.url}/auth/session`, { headers: bearer(body.session_token) })
    expect(info.status).toBe(200)
    expect(await info.json()).toMatchObject({ kind: 'online', user: { preferred_username: 'alice' } })
    const call = await fetch(`${kw.url}/api/echo/orders`, {
      method: 'POST',
      headers: bearer(body.session_token),
      body: 'x',
    }) // no X-CSRF
    expect(call.status).toBe(200)
    expect(call.headers.get('set-cookie')).toBeNull()
    expect(upstream.seen.at(-1)!.headers.authorization).toMatch(/^Bearer eyJ/) // Keycloak's token, not the handle
    expect(JSON.stringify(upstream.seen.at(-1)!.headers)).not.toContain(body.session_token)
    expect(findJwts(app.browser.transcriptFor(kw.url) + JSON.stringify(await call.text()))).toEqual([])
  })

  test('offline=1: an offline session at Keycloak, refreshed through the handle like any other', async () => {
    const app = new MobileApp(kw.url)
    const token = await app.signIn('bob', { offline: true })
    const session = (await storedSession(kw))!
    expect(await offlineIds('bob')).toContain(session.sid)
    expect(await (await fetch(`${kw.url}/auth/session`, { headers: bearer(token) })).json()).toMatchObject({
      kind: 'offline',
      refreshTokenExpiresAt: null,
    })
    await untilExpired(session)
    expect((await fetch(`${kw.url}/api/echo/x`, { headers: bearer(token) })).status).toBe(200)
    expect(await refreshCount(admin, 'bob', session.sid)).toBe(1)
    // The handle opens the session by its hash alone: there is no other key to slide along.
    expect(session.key).toBe(`${kw.config.redis.prefix}tok:{${digest(token)}}`)
    expect((await kw.keys()).filter((k) => !/:(tok|idx):/.test(k))).toEqual([])

    const revoked = await fetch(`${kw.url}/auth/revoke`, { method: 'POST', headers: bearer(token) }) // no X-CSRF
    expect(revoked.status).toBe(200)
    expect(await offlineIds('bob')).not.toContain(session.sid)
    expect((await fetch(`${kw.url}/auth/session`, { headers: bearer(token) })).status).toBe(401)
    expect(await kw.keys()).toEqual([])
  })

  test('logout with the handle ends the Keycloak session and the handle', async () => {
    const app = new MobileApp(kw.url)
    const token = await app.signIn('alice')
    const session = (await storedSession(kw))!
    expect((await admin.userSessions('alice')).map((s) => s.id)).toContain(session.sid)
    const out = await fetch(`${kw.url}/auth/logout`, { method: 'POST', headers: bearer(token) }) // no X-CSRF
    expect(out.status).toBe(200)
    expect(out.headers.get('set-cookie')).toBeNull()
    expect((await admin.userSessions('alice')).map((s) => s.id)).not.toContain(session.sid)
    expect((await fetch(`${kw.url}/auth/session`, { headers: bearer(token) })).status).toBe(401)
    expect(await kw.keys()).toEqual([])
  })

  test('the code is single-use, short-lived, and bound to its redirect URI and verifier; wrong guesses do not burn it', async () => {
    const app = new MobileApp(kw.url)
    const code = (await app.authorize('alice')).searchParams.get('code')!
    const keys = await kw.keys()
    const refused = async (body: Record<string, string>, status = 400, problem = 'invalid_grant') => {
      const res = await app.exchange(body)
      expect(res.status).toBe(status)
      expect(await res.json()).toMatchObject({ code: problem })
      expect(await kw.keys()).toEqual(keys)
    }
    await refused({ code, code_verifier: new MobileApp(kw.url).verifier, redirect_uri: APP_URI }) // another app's verifier
    await refused({ code, code_verifier: app.verifier, redirect_uri: OTHER_APP_URI }) // another allowlisted URI
    await refused({ code: 'A'.repeat(43), code_verifier: app.verifier, redirect_uri: APP_URI })
    await refused({ code, code_verifier: 'short', redirect_uri: APP_URI }, 400, 'invalid_request')
    await refused({ code, redirect_uri: APP_URI }, 400, 'invalid_request')
    await refused({ code: `${code}x`, code_verifier: app.verifier, redirect_uri: APP_URI }, 400, 'invalid_request')
    const form = await fetch(`${kw.url}/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{not json',
    })
    expect(form.status).toBe(400)
    expect(await form.json()).toMatchObject({ code: 'invalid_request' })

    // The rightful owner still gets its handle, once; then the code is gone.
    const ok = await app.exchange({ code, code_verifier: app.verifier, redirect_uri: APP_URI })
    expect(ok.status).toBe(200)
    const replay = await app.exchange({ code, code_verifier: app.verifier, redirect_uri: APP_URI })
    expect(replay.status).toBe(400)
    expect(await replay.json()).toMatchObject({ code: 'invalid_grant' })
  })

  test('an unredeemed code expires', async () => {
    await kw.close()
    kw = await startKeyward({ ...env(), MOBILE_CODE_TTL_SECONDS: '1' })
    const app = new MobileApp(kw.url)
    const code = (await app.authorize('alice')).searchParams.get('code')!
    await new Promise((r) => setTimeout(r, 1500))
    const res = await app.exchange({ code, code_verifier: app.verifier, redirect_uri: APP_URI })
    expect(res.status).toBe(400)
    expect(await res.json()).toMatchObject({ code: 'invalid_grant' })
  })

  test.each([
    ['a redirect URI not on the allowlist', { redirect_uri: 'com.evil.app:/oauth' }],
    ['a redirect URI that only starts like an allowed one', { redirect_uri: `${APP_URI}/more` }],
    ['no code challenge', { code_challenge: '' }],
    ['the plain method', { code_challenge_method: 'plain' }],
    ['a malformed challenge', { code_challenge: 'abc' }],
    ['an unknown client', { client: 'desktop' }],
  ])('a mobile login with %s is refused before anything is stored', async (_what, change) => {
    const app = new MobileApp(kw.url)
    const q = new URLSearchParams(app.loginPath().split('?')[1])
    for (const [k, v] of Object.entries(change)) q.set(k, v)
    const res = await new Browser().request(`${kw.url}/auth/login?${q}`)
    expect(res.status).toBe(400)
    expect(JSON.parse(res.text)).toMatchObject({ code: 'invalid_request' })
    expect(await kw.keys()).toEqual([])
  })

  test('a login error from Keycloak goes back to the app as an OAuth error, with its state', async () => {
    const app = new MobileApp(kw.url)
    const start = await app.browser.request(`${kw.url}${app.loginPath({ state: 's-9' })}`)
    const state = new URL(start.headers.get('location')!).searchParams.get('state')!
    const res = await app.browser.request(`${kw.url}/auth/callback?error=access_denied&state=${state}`)
    expect(res.status).toBe(302)
    const back = new URL(res.headers.get('location')!)
    expect(`${back.protocol}${back.pathname}`).toBe(APP_URI)
    expect(Object.fromEntries(back.searchParams)).toEqual({ error: 'access_denied', state: 's-9' })
  })

  test.each([
    ['no token', 'Bearer'],
    ['no scheme', 'kw_' + 'a'.repeat(43)],
    ['another scheme', 'Basic ' + Buffer.from('a:b').toString('base64')],
    ['a short token', 'Bearer kw_abc'],
    ['a token of another kind', 'Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig'],
    ['an unknown token', 'Bearer kw_' + 'A'.repeat(43)],
    ['extra spaces', `Bearer  kw_${'a'.repeat(43)}`],
    ['trailing garbage', `Bearer kw_${'a'.repeat(43)} x`],
  ])('Authorization with %s answers 401 invalid_token and reaches nothing', async (_what, authorization) => {
    const count = upstream.seen.length
    for (const [method, path] of [
      ['GET', '/auth/session'],
      ['GET', '/api/echo/x'],
      ['POST', '/auth/revoke'],
      ['GET', '/auth/sessions'],
      ['POST', '/auth/logout'],
    ]) {
      const res = await fetch(`${kw.url}${path}`, { method, headers: { authorization } })
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
      expect(await res.json()).toMatchObject({ code: 'invalid_token' })
    }
    expect(upstream.seen.length).toBe(count)
  })

  test('my sessions: list every device, revoke one, then all; Keycloak agrees at each step', async () => {
    const web = new Browser()
    await web.login(kw.url, 'bob', 'bob-password')
    const phone = await new MobileApp(kw.url).signIn('bob', { offline: true, device: 'Bob’s phone' })
    const tablet = await new MobileApp(kw.url).signIn('bob', { offline: true, device: 'Bob’s tablet' })
    const alice = await new MobileApp(kw.url).signIn('alice')

    const listed = await fetch(`${kw.url}/auth/sessions`, { headers: bearer(phone) })
    expect(listed.status).toBe(200)
    const { sessions } = (await listed.json()) as {
      sessions: { id: string; current: boolean; device: string; kind: string; client: string }[]
    }
    expect(sessions).toHaveLength(3) // Bob's only
    expect(sessions.map((s) => [s.device, s.kind, s.client, s.current]).sort()).toEqual(
      [
        ['Bob’s phone', 'offline', 'mobile', true],
        ['Bob’s tablet', 'offline', 'mobile', false],
        [expect.stringMatching(/./), 'online', 'web', false],
      ].sort(),
    )
    expect(JSON.stringify(sessions)).not.toMatch(/eyJ|kw_/)
    // Keycloak's session id of each, from keyward's records (other suites share Bob at Keycloak).
    const sidOf = new Map<string, string>()
    for (const s of sessions) sidOf.set(s.id, await storedSid(kw, s.id))
    const atKeycloak = async () =>
      new Set([...(await offlineIds('bob')), ...(await admin.userSessions('bob')).map((s) => s.id)])
    expect([...sidOf.values()].every((sid) => sid)).toBe(true)
    const live = await atKeycloak()
    expect([...sidOf.values()].filter((sid) => live.has(sid))).toHaveLength(3)

    // The cookie caller needs CSRF to delete; a foreign id is not found.
    const tabletId = sessions.find((s) => s.device === 'Bob’s tablet')!.id
    expect((await web.request(`${kw.url}/auth/sessions/${tabletId}`, { method: 'DELETE' })).status).toBe(403)
    const aliceId = (
      (await (await fetch(`${kw.url}/auth/sessions`, { headers: bearer(alice) })).json()) as {
        sessions: { id: string }[]
      }
    ).sessions[0].id
    expect(
      (await fetch(`${kw.url}/auth/sessions/${aliceId}`, { method: 'DELETE', headers: bearer(phone) })).status,
    ).toBe(404)
    expect((await fetch(`${kw.url}/auth/session`, { headers: bearer(alice) })).status).toBe(200)

    const one = await web.request(`${kw.url}/auth/sessions/${tabletId}`, {
      method: 'DELETE',
      headers: { 'x-csrf': '1' },
    })
    expect(one.status).toBe(200)
    expect((await fetch(`${kw.url}/auth/session`, { headers: bearer(tablet) })).status).toBe(401)
    expect((await fetch(`${kw.url}/auth/session`, { headers: bearer(phone) })).status).toBe(200)
    const afterOne = await atKeycloak()
    expect(
      [...sidOf]
        .filter(([, sid]) => afterOne.has(sid))
        .map(([id]) => id)
        .sort(),
    ).toEqual([...sidOf.keys()].filter((id) => id !== tabletId).sort())

    const all = await fetch(`${kw.url}/auth/sessions`, { method: 'DELETE', headers: bearer(phone) })
    expect(all.status).toBe(200)
    expect(((await all.json()) as { revoked: string[] }).revoked).toHaveLength(2)
    expect((await fetch(`${kw.url}/auth/session`, { headers: bearer(phone) })).status).toBe(401)
    expect((await web.request(`${kw.url}/auth/session`)).status).toBe(401)
    const afterAll = await atKeycloak()
    expect([...sidOf.values()].filter((sid) => afterAll.has(sid))).toEqual([])
    for (const s of sessions) expect(await kw.redis.exists(`${kw.config.redis.prefix}tok:{${s.id}}`)).toBe(0)
    expect((await fetch(`${kw.url}/auth/session`, { headers: bearer(alice) })).status).toBe(200) // Alice untouched
  })

  /** A web session, and a mobile login in the same browser: Keycloak's single sign-on puts both in one client session. */
  async function webAndPhoneInOneKeycloakSession(user: string) {
    const web = new Browser()
    await web.login(kw.url, user, `${user}-password`)
    const phone = await new MobileApp(kw.url, web).signIn(user)
    const sessions = (
      (await (await fetch(`${kw.url}/auth/sessions`, { headers: bearer(phone) })).json()) as {
        sessions: { id: string; client: string }[]
      }
    ).sessions
    const [webId, phoneId] = ['web', 'mobile'].map((c) => sessions.find((s) => s.client === c)!.id) as [string, string]
    expect(await storedSid(kw, webId)).toBe(await storedSid(kw, phoneId))
    return { web, phone, webId, phoneId, sid: await storedSid(kw, webId) }
  }

  test('two devices in one Keycloak client session: revoking one leaves the other working; revoking the last ends it at Keycloak', async () => {
    const { web, phone, webId, sid } = await webAndPhoneInOneKeycloakSession('alice')
    expect((await fetch(`${kw.url}/auth/revoke`, { method: 'POST', headers: bearer(phone) })).status).toBe(200)
    expect((await fetch(`${kw.url}/auth/session`, { headers: bearer(phone) })).status).toBe(401)
    // The web session goes on, refreshes included: Keycloak's client session was not revoked under it.
    expect((await admin.userSessions('alice')).map((s) => s.id)).toContain(sid)
    await untilExpired((await storedSession(kw))!)
    expect((await web.request(`${kw.url}/api/echo/after`, { headers: { 'x-csrf': '1' } })).status).toBe(200)

    const last = await web.request(`${kw.url}/auth/sessions/${webId}`, { method: 'DELETE', headers: { 'x-csrf': '1' } })
    expect(last.status).toBe(200)
    expect((await admin.userSessions('alice')).map((s) => s.id)).not.toContain(sid)
    expect(await kw.keys()).toEqual([])
  })

  test('logging out on the web ends the phone that shares its Keycloak session too', async () => {
    const { web, phone, sid } = await webAndPhoneInOneKeycloakSession('bob')
    expect((await web.request(`${kw.url}/auth/logout`, { method: 'POST', headers: { 'x-csrf': '1' } })).status).toBe(
      200,
    )
    expect((await admin.userSessions('bob')).map((s) => s.id)).not.toContain(sid)
    expect((await fetch(`${kw.url}/auth/session`, { headers: bearer(phone) })).status).toBe(401)
    expect(await kw.keys()).toEqual([])
  })

  test('logging out on the web leaves an offline phone in the same Keycloak session alone, at Keycloak and here', async () => {
    const web = new Browser()
    await web.login(kw.url, 'alice', 'alice-password')
    const webSession = (await storedSession(kw))!
    const phone = await new MobileApp(kw.url, web).signIn('alice', { offline: true }) // single sign-on
    const phoneSession = (await storedSession(kw, [webSession.key]))!
    const webSid = webSession.sid
    expect(phoneSession.sid).toBe(webSid)
    expect(await offlineIds('alice')).toContain(webSid)

    expect((await web.request(`${kw.url}/auth/logout`, { method: 'POST', headers: { 'x-csrf': '1' } })).status).toBe(
      200,
    )
    expect((await admin.userSessions('alice')).map((s) => s.id)).not.toContain(webSid)
    expect(await offlineIds('alice')).toContain(webSid)
    await untilExpired(phoneSession)
    expect((await fetch(`${kw.url}/api/echo/still-here`, { headers: bearer(phone) })).status).toBe(200) // refreshed: alive at Keycloak
    expect((await fetch(`${kw.url}/auth/revoke`, { method: 'POST', headers: bearer(phone) })).status).toBe(200)
    expect(await offlineIds('alice')).not.toContain(webSid)
  })

  test('an offline session survives a keyward restart and a Redis restart (AOF)', async () => {
    const redis = await RedisServer.create(['--save', '', '--appendonly', 'yes', '--appendfsync', 'always'])
    await redis.start()
    await kw.close()
    kw = await startKeyward({ ...env(), REDIS_URL: redis.url })
    const same = {
      ...env(),
      REDIS_URL: redis.url,
      REDIS_PREFIX: kw.config.redis.prefix,
      SESSION_SECRET: kw.config.session.secrets[0],
    }
    try {
      const token = await new MobileApp(kw.url).signIn('bob', { offline: true })
      await kw.close()
      kw = await startKeyward(same)
      expect((await fetch(`${kw.url}/api/echo/after-keyward-restart`, { headers: bearer(token) })).status).toBe(200)

      await redis.stop()
      await redis.start()
      await new Promise((r) => setTimeout(r, 1500)) // ioredis reconnects
      expect((await fetch(`${kw.url}/api/echo/after-redis-restart`, { headers: bearer(token) })).status).toBe(200)
      await fetch(`${kw.url}/auth/revoke`, { method: 'POST', headers: bearer(token) })
    } finally {
      await kw.close()
      kw = await startKeyward(env()) // for afterEach
      await redis.stop()
    }
  })
})
