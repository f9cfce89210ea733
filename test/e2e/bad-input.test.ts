import { Browser, type Hop } from '../../harness/browser'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { startKeyward, type RunningKeyward } from '../../harness/keyward'

const admin = new KeycloakAdmin()

/**
 * Everything keyward holds in Redis (values, not TTLs, which tick), and which of the Keycloak sessions
 * it holds Keycloak still lists (other suites log Alice in and out meanwhile, so only ours count).
 */
async function snapshot(kw: RunningKeyward) {
  const redis: Record<string, unknown> = {}
  for (const key of await kw.keys()) {
    const type = await kw.redis.type(key)
    redis[key] =
      type === 'hash'
        ? await kw.redis.hgetall(key)
        : type === 'zset'
          ? await kw.redis.zrange(key, '0', '-1', 'WITHSCORES')
          : await kw.redis.get(key)
  }
  const ours = Object.keys(redis)
    .filter((k) => k.includes(':idx:sid:'))
    .map((k) => k.slice(k.lastIndexOf(':') + 1))
  const listed = new Set(
    [...(await admin.userSessions('alice')), ...(await admin.userSessions('bob'))].map((s) => s.id),
  )
  return { redis, keycloak: ours.filter((sid) => listed.has(sid)).sort(), ours: ours.length }
}

function expectProblem(hop: Hop, status: number, code: string) {
  expect({ status: hop.status, type: hop.headers.get('content-type') }).toEqual({
    status,
    type: expect.stringMatching(/^application\/problem\+json/),
  })
  const body = JSON.parse(hop.text)
  expect(body).toMatchObject({ status, code, detail: expect.any(String) })
  expect(hop.headers.get('set-cookie') ?? '').not.toMatch(/keyward=s%3A/) // no session was handed out
}

describe('bad input gets a clear problem+json answer and changes nothing', () => {
  let kw: RunningKeyward
  const alice = new Browser()
  let callbackUrl: string

  beforeAll(async () => {
    kw = await startKeyward()
    const hops = await alice.login(kw.url, 'alice', 'alice-password')
    callbackUrl = hops.find((h) => h.url.startsWith(`${kw.url}/auth/callback`))!.url
  })
  afterAll(() => kw.close())

  async function unchangedAfter(attempt: () => Promise<void>) {
    const before = await snapshot(kw)
    expect(before.ours).toBeGreaterThan(0)
    expect(before.keycloak).toHaveLength(before.ours) // every session keyward holds is live at Keycloak
    await attempt()
    expect(await snapshot(kw)).toEqual(before)
    expect((await alice.request(`${kw.url}/auth/session`)).status).toBe(200) // Alice is still logged in
  }

  test('a callback without state, with an unknown state, or with a repeated state is refused', async () => {
    await unchangedAfter(async () => {
      expectProblem(await alice.request(`${kw.url}/auth/callback?code=abc`), 400, 'invalid_state')
      expectProblem(await alice.request(`${kw.url}/auth/callback?state=nope&code=abc`), 400, 'invalid_state')
      expectProblem(await alice.request(`${kw.url}/auth/callback?state=a&state=b&code=abc`), 400, 'invalid_state')
      expectProblem(await alice.request(`${kw.url}/auth/callback?state=nope`), 400, 'invalid_request')
    })
  })

  test('a replayed callback (same code, same state) is refused and leaves the first session intact', async () => {
    await unchangedAfter(async () => {
      expectProblem(await alice.request(callbackUrl), 400, 'invalid_state')
    })
  })

  test('an authorization code used a second time, under a fresh login of the same browser, is refused by Keycloak', async () => {
    const oldCode = new URL(callbackUrl).searchParams.get('code')!
    const start = await alice.request(`${kw.url}/auth/login`) // only the first hop: Keycloak would log Alice straight in
    const state = new URL(start.headers.get('location')!).searchParams.get('state')!
    const iss = `${admin.base}/realms/keyward`
    const before = await snapshot(kw)
    const res = await alice.request(
      `${kw.url}/auth/callback?state=${state}&code=${encodeURIComponent(oldCode)}&iss=${encodeURIComponent(iss)}`,
    )
    expectProblem(res, 400, 'login_failed')
    expect(JSON.parse(res.text).detail).toContain('invalid_grant')
    // The fresh login's transaction is spent (one attempt, one transaction); nothing else changed.
    const after = await snapshot(kw)
    expect(Object.keys(before.redis).filter((k) => !(k in after.redis))).toEqual([expect.stringContaining(state)])
    expect(after).toEqual({
      ...before,
      redis: Object.fromEntries(Object.entries(before.redis).filter(([k]) => !k.includes(state))),
    })
    expect((await alice.request(`${kw.url}/auth/session`)).status).toBe(200)
  })

  test("a callback carrying another browser's state is refused, and that browser can still finish its login", async () => {
    const bob = new Browser()
    const toForm = await bob.follow(`${kw.url}/auth/login?returnTo=/bob`)
    const state = new URL(toForm[0].headers.get('location')!).searchParams.get('state')!
    const attacker = new Browser()
    await unchangedAfter(async () => {
      expectProblem(await attacker.request(`${kw.url}/auth/callback?state=${state}&code=forged`), 400, 'invalid_state')
    })
    // Bob's pending login survived the forged callback.
    const hops = await bob.login(kw.url, 'bob', 'bob-password', `/auth/login?returnTo=/bob`)
    expect(hops.find((h) => h.url.startsWith(`${kw.url}/auth/callback`))!.headers.get('location')).toBe('/bob')
  })

  test('an error from Keycloak (access_denied) ends that login attempt with login_failed and no session', async () => {
    const browser = new Browser()
    const toForm = await browser.follow(`${kw.url}/auth/login`)
    const state = new URL(toForm[0].headers.get('location')!).searchParams.get('state')!
    const keysBefore = await kw.keys()
    const res = await browser.request(`${kw.url}/auth/callback?error=access_denied&state=${state}`)
    expectProblem(res, 400, 'login_failed')
    expect(JSON.parse(res.text).detail).toContain('access_denied')
    expect((await kw.keys()).filter((k) => !keysBefore.includes(k))).toEqual([])
    expect((await browser.request(`${kw.url}/auth/session`)).status).toBe(401)
    // The attempt is spent: the same state cannot be used again.
    expectProblem(
      await browser.request(`${kw.url}/auth/callback?error=access_denied&state=${state}`),
      400,
      'invalid_state',
    )
  })

  test.each([
    'https://evil.example/',
    '//evil.example/path',
    '/\\evil.example',
    'javascript:alert(1)',
    'http://127.0.0.1:1/elsewhere',
    '/.//evil.example/x',
  ])('login with returnTo %s is refused before anything is stored', async (returnTo) => {
    await unchangedAfter(async () => {
      const res = await new Browser().request(`${kw.url}/auth/login?returnTo=${encodeURIComponent(returnTo)}`)
      expectProblem(res, 400, 'invalid_return_to')
      expect(res.headers.get('location')).toBeNull()
    })
  })

  test('logout without the CSRF header, or from a foreign origin, is refused and logs nobody out', async () => {
    await unchangedAfter(async () => {
      expectProblem(await alice.request(`${kw.url}/auth/logout`, { method: 'POST' }), 403, 'csrf_required')
      expectProblem(
        await alice.request(`${kw.url}/auth/logout`, { method: 'POST', headers: { 'x-csrf': 'yes' } }),
        403,
        'csrf_required',
      )
      expectProblem(
        await alice.request(`${kw.url}/auth/logout`, {
          method: 'POST',
          headers: { 'x-csrf': '1', origin: 'https://evil.example' },
        }),
        403,
        'origin_not_allowed',
      )
      expectProblem(
        await alice.request(`${kw.url}/auth/logout?returnTo=https://evil.example`, {
          method: 'POST',
          headers: { 'x-csrf': '1' },
        }),
        400,
        'invalid_return_to',
      )
    })
  })

  test('a garbage or tampered session cookie is treated as no session', async () => {
    const [real] = (await alice.jar.getCookies(kw.url)).filter((c) => c.key === 'keyward')
    const value = decodeURIComponent(real.value) // s:<id>.<signature>
    const tampered = `s:${value[2] === 'A' ? 'B' : 'A'}${value.slice(3)}`
    await unchangedAfter(async () => {
      for (const cookie of ['keyward=garbage', `keyward=${encodeURIComponent(tampered)}`, 'keyward=s%3A']) {
        const res = await fetch(`${kw.url}/auth/session`, { headers: { cookie } })
        expect(res.status).toBe(401)
        expect(await res.json()).toMatchObject({ code: 'not_authenticated' })
        const out = await fetch(`${kw.url}/auth/logout`, { method: 'POST', headers: { cookie, 'x-csrf': '1' } })
        expect(await out.json()).toEqual({ loggedOut: true, endSessionUrl: null })
      }
    })
  })

  test('starting logins faster than LOGIN_RATE_LIMIT from one address is refused with 429, and stores nothing', async () => {
    const limited = await startKeyward({ LOGIN_RATE_LIMIT: '3' })
    try {
      for (let i = 0; i < 3; i++)
        expect((await fetch(`${limited.url}/auth/login`, { redirect: 'manual' })).status).toBe(302)
      const keys = await limited.keys()
      expect(keys.filter((k) => k.includes(':tx:'))).toHaveLength(3)
      const res = await new Browser().request(`${limited.url}/auth/login`)
      expectProblem(res, 429, 'too_many_requests')
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0)
      expect(Number(res.headers.get('retry-after'))).toBeLessThanOrEqual(60)
      expect(await limited.keys()).toEqual(keys)
    } finally {
      await limited.close()
    }
  })

  test('unknown routes answer problem+json 404', async () => {
    expectProblem(await new Browser().request(`${kw.url}/auth/nope`), 404, 'not_found')
  })
})
