import { Browser } from '../../harness/browser'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { startKeyward, waitUntil, type RunningKeyward } from '../../harness/keyward'
import { Upstream } from '../../harness/upstream'
import { addUser, roleAndUsers, roleNames } from '../support/keycloak-cli'
import { api } from '../support/refresh-fixture'

const admin = new KeycloakAdmin()
const SHORT = { OIDC_CLIENT_ID: 'keyward-short', OIDC_CLIENT_SECRET: 'keyward-short-dev-secret' }

/**
 * Who may call which upstream (roles and claims of the user's current access token, which Keycloak's
 * admin API grants and takes away), and what each upstream gets: the user's token, the app's own
 * client-credentials token, or the user's when there is one and nothing otherwise.
 */
describe('upstream gates and token types', () => {
  const names = roleNames('up')
  const { tag, role, holder, other } = names
  const prefix = `kwtest:up-${tag}:`
  let upstream: Upstream
  let kw: RunningKeyward
  let twin: RunningKeyward
  let realmRole: Awaited<ReturnType<KeycloakAdmin['realmRole']>>

  beforeAll(async () => {
    upstream = await Upstream.start()
    realmRole = await roleAndUsers(admin, names)
    const u = upstream.url
    const env = {
      ...SHORT,
      REDIS_PREFIX: prefix, // the twin shares it: one client token for both
      UPSTREAMS: JSON.stringify({
        gated: { url: u, requireRoles: [`realm:${role}`] },
        both: { url: u, requireRoles: { allOf: [`realm:${role}`, 'realm:no-such-role'] } },
        verified: { url: u, requireClaims: { email: { endsWith: '@example.com' }, email_verified: true } },
        svc: { url: u, token: 'client' },
        open: { url: u, token: 'client', anonymous: true },
        maybe: { url: u, token: 'userOrNone' },
      }),
    }
    kw = await startKeyward(env)
    twin = await startKeyward(env)
  })
  afterAll(async () => {
    await kw?.close()
    await twin?.close()
    await upstream?.close()
    await realmRole?.drop()
  })

  const loggedIn = async (user: string) => {
    const browser = new Browser()
    await browser.login(kw.url, user, `${user}-password`)
    return browser
  }
  const call = (browser: Browser, path: string) => browser.request(`${kw.url}/api/${path}`, { headers: api })

  test('roles: a user with the role gets through; one without gets 403 naming it, and the upstream never hears', async () => {
    const withRole = await loggedIn(holder)
    const ok = await call(withRole, 'gated/orders')
    expect(ok.status).toBe(200)
    expect(JSON.parse(ok.text).sub).toBe(await admin.userId(holder))

    const without = await loggedIn(other)
    const heard = upstream.seen.length
    const refused = await call(without, 'gated/orders')
    expect([refused.status, refused.headers.get('content-type')]).toEqual([
      403,
      'application/problem+json; charset=utf-8',
    ])
    expect(JSON.parse(refused.text)).toMatchObject({ code: 'forbidden', detail: `The role realm:${role} is required.` })
    // allOf names what is missing of them.
    expect(JSON.parse((await call(withRole, 'both/x')).text)).toMatchObject({
      code: 'forbidden',
      detail: 'The role realm:no-such-role is required.',
    })
    expect(upstream.seen.length).toBe(heard)
  })

  test('claims: a verified e-mail of the domain gets through; an unverified one gets 403 naming the claim', async () => {
    const user = `up-unverified-${tag}`
    await addUser(admin, user)
    await admin.call('PUT', `/users/${await admin.userId(user)}`, { emailVerified: false })
    expect((await call(await loggedIn(holder), 'verified/x')).status).toBe(200)
    const refused = await call(await loggedIn(user), 'verified/x')
    expect(refused.status).toBe(403)
    expect(JSON.parse(refused.text).detail).toBe('The claim email_verified must be true.')
  })

  test('a role taken away in Keycloak is refused from the next refresh on', async () => {
    const user = `up-removed-${tag}`
    await addUser(admin, user)
    await realmRole.grant(user)
    const browser = await loggedIn(user)
    expect((await call(browser, 'gated/a')).status).toBe(200)
    const removedAt = Date.now()
    await realmRole.revoke(user)
    // keyward-short's access tokens live 10 s: until a refresh, the token still says what it said.
    let status = 200
    await waitUntil(async () => {
      status = (await call(browser, 'gated/a')).status
      return status === 403
    }, 20_000)
    expect(status).toBe(403)
    const refreshes = await admin.events(user, 'REFRESH_TOKEN')
    expect(refreshes.some((e) => e.time >= removedAt && e.clientId === 'keyward-short')).toBe(true)
  })

  test('token "client": the app’s own token, shared by its processes; a session is needed unless anonymous', async () => {
    const serviceAccount = await admin.call<{ id: string }>(
      'GET',
      `/clients/${(await admin.client('keyward-short')).id}/service-account-user`,
    )
    // No session: refused, and the CSRF header is needed whatever the upstream.
    expect((await fetch(`${kw.url}/api/svc/x`, { headers: api })).status).toBe(401)
    expect((await fetch(`${kw.url}/api/open/x`)).status).toBe(403)
    const since = Date.now()
    const heard = upstream.seen.length
    // Forty anonymous calls at once, on two processes: one token from Keycloak, the same for every call.
    const answers = await Promise.all(
      Array.from({ length: 40 }, (_, i) => fetch(`${(i % 2 ? twin : kw).url}/api/open/x`, { headers: api })),
    )
    expect(answers.map((a) => a.status)).toEqual(Array(40).fill(200))
    const calls = upstream.seen.slice(heard)
    expect(new Set(calls.map((c) => c.claims?.sub))).toEqual(new Set([serviceAccount.id]))
    expect(new Set(calls.map((c) => c.claims?.jti)).size).toBe(1)
    const clientLogins = await admin.call<{ time: number }[]>(
      'GET',
      `/events?type=CLIENT_LOGIN&client=keyward-short&dateFrom=${new Date(since - 86_400_000).toISOString().slice(0, 10)}&max=1000`,
    )
    expect(clientLogins.filter((e) => e.time >= since)).toHaveLength(1)
    // With a session, the upstream still gets the app's token, not the user's.
    const browser = await loggedIn(holder)
    expect(JSON.parse((await call(browser, 'svc/x')).text).sub).toBe(serviceAccount.id)
    // Kept in Redis sealed, like every token.
    const [key] = (await kw.keys()).filter((k) => k.includes(':ctok:'))
    expect(key).toBe(`${prefix}ctok:{web}`)
    expect((await kw.redis.getBuffer(key))!.toString('latin1')).not.toMatch(/eyJ/)
  })

  test('token "userOrNone": the user’s token with a session, no Authorization without one', async () => {
    const heard = upstream.seen.length
    const anonymous = await fetch(`${kw.url}/api/maybe/public/items`, { headers: api })
    expect([anonymous.status, await anonymous.json()]).toEqual([200, { anonymous: true }])
    expect(upstream.seen[heard].headers.authorization).toBeUndefined()
    const browser = await loggedIn(holder)
    const known = JSON.parse((await call(browser, 'maybe/public/items')).text)
    expect(known.sub).toBe(await admin.userId(holder))
    expect(upstream.seen.at(-1)!.claims!.azp).toBe('keyward-short')
    // An ended session's cookie is dropped, and the call goes on without a token.
    const cookie = await browser.jar.getCookieString(kw.url)
    await browser.request(`${kw.url}/auth/logout`, { method: 'POST', headers: api })
    const after = await fetch(`${kw.url}/api/maybe/public/items`, { headers: { ...api, cookie } })
    expect([after.status, await after.json()]).toEqual([200, { anonymous: true }])
    expect(after.headers.getSetCookie().join()).toMatch(/^keyward=;/)
  })
})
