import { randomBytes } from 'node:crypto'
import { SignJWT } from 'jose'
import { Browser } from '../../harness/browser'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { startKeyward, type RunningKeyward } from '../../harness/keyward'
import { bearer, MobileApp, MOBILE } from '../../harness/mobile-app'
import { addUser, configFile, keywardKeycloak as cli } from '../support/keycloak-cli'
import { importSigningKey } from '../support/realm-key'

/**
 * The /admin routes against a real Keycloak: a realm of its own where client `shop` has the role
 * keyward-admin, held by an operator client's service account (client credentials) and by a user
 * (password grant on a console client); Keycloak's own admin API says what ended.
 */
describe('admin routes: a user’s sessions, listed and ended by an admin with a Keycloak token', () => {
  const realm = `adm-${randomBytes(4).toString('hex')}`
  const admin = new KeycloakAdmin(realm)
  let kw: RunningKeyward
  let signing: { key: CryptoKey; kid: string }

  /** A client with a service account holding shop's `roles` (client credentials). */
  async function operator(clientId: string, roles: string[]): Promise<void> {
    await admin.call('POST', '/clients', {
      clientId,
      secret: `${clientId}-secret`,
      publicClient: false,
      serviceAccountsEnabled: true,
      standardFlowEnabled: false,
    })
    const user = await admin.call<{ id: string }>(
      'GET',
      `/clients/${(await admin.client(clientId)).id}/service-account-user`,
    )
    await grant(user.id, roles)
  }

  async function grant(userId: string, roles: string[]): Promise<void> {
    const shop = await admin.client('shop')
    const reps = await Promise.all(roles.map((r) => admin.call('GET', `/clients/${shop.id}/roles/${r}`)))
    await admin.call('POST', `/users/${userId}/role-mappings/clients/${shop.id}`, reps)
  }

  async function tokenOf(body: Record<string, string>): Promise<string> {
    const res = await fetch(`${kw.config.keycloak.issuer.href}/protocol/openid-connect/token`, {
      method: 'POST',
      body: new URLSearchParams(body),
    })
    if (!res.ok) throw new Error(`token: ${res.status} ${await res.text()}`)
    return ((await res.json()) as { access_token: string }).access_token
  }
  const clientToken = (clientId: string) =>
    tokenOf({ grant_type: 'client_credentials', client_id: clientId, client_secret: `${clientId}-secret` })

  beforeAll(async () => {
    await admin.create({ revokeRefreshToken: true, refreshTokenMaxReuse: 0 })
    signing = await importSigningKey(admin)
    kw = await startKeyward({
      KEYCLOAK_REALM: realm,
      OIDC_CLIENT_ID: 'shop',
      OIDC_CLIENT_SECRET: 'shop-dev-secret',
      ...MOBILE,
    })
    const setup = await cli('setup', {
      KEYCLOAK_REALM: realm,
      ...configFile([{ id: 'web', publicUrl: kw.url, clientId: 'shop' }]),
    })
    expect(setup.out).toContain('doctor: no problems')
    const shop = await admin.client('shop')
    for (const name of ['keyward-admin', 'viewer']) await admin.call('POST', `/clients/${shop.id}/roles`, { name })
    await operator('ops', ['keyward-admin'])
    await operator('ops-viewer', ['viewer'])
    // A person at a console: the password grant, on a client of its own.
    await admin.call('POST', '/clients', {
      clientId: 'console',
      publicClient: true,
      directAccessGrantsEnabled: true,
      standardFlowEnabled: false,
    })
    await addUser(admin, 'root')
    await grant(await admin.userId('root'), ['keyward-admin'])
    await addUser(admin, 'erin')
  })
  afterAll(async () => {
    await kw?.close()
    await admin.drop()
  })

  const adminCall = (method: string, path: string, headers: Record<string, string> = {}) =>
    fetch(`${kw.url}${path}`, { method, headers })

  /** erin in two browsers, and a phone with an offline session in the first browser's Keycloak session. */
  async function erinEverywhere() {
    const browser = new Browser()
    await browser.login(kw.url, 'erin', 'erin-password')
    const laptop = new Browser()
    await laptop.login(kw.url, 'erin', 'erin-password')
    const handle = await new MobileApp(kw.url, browser).signIn('erin', { offline: true })
    const statuses = async () =>
      Promise.all([
        browser.request(`${kw.url}/auth/session`).then((r) => r.status),
        laptop.request(`${kw.url}/auth/session`).then((r) => r.status),
        fetch(`${kw.url}/auth/session`, { headers: bearer(handle) }).then((r) => r.status),
      ])
    expect(await statuses()).toEqual([200, 200, 200])
    return { browser, handle, statuses, sub: await admin.userId('erin') }
  }

  test('an operator (client credentials) lists the user’s sessions, then logs the user out: Keycloak keeps no online or offline session, keyward none', async () => {
    const erin = await erinEverywhere()
    const auth = bearer(await clientToken('ops'))
    const listed = await adminCall('GET', `/admin/users/${erin.sub}/sessions`, auth)
    expect(listed.status).toBe(200)
    expect(listed.headers.get('cache-control')).toBe('no-store')
    const { sessions } = (await listed.json()) as { sessions: { id: string; kind: string; client: string }[] }
    expect(sessions.map((s) => `${s.client} ${s.kind}`).sort()).toEqual(['mobile offline', 'web online', 'web online'])
    expect(await admin.userSessions('erin')).toHaveLength(2)
    expect(await admin.offlineSessions('erin', 'shop')).toHaveLength(1)

    const out = await adminCall('POST', `/admin/users/${erin.sub}/logout`, auth)
    expect(out.status).toBe(200)
    expect(((await out.json()) as { revoked: string[] }).revoked.sort()).toEqual(sessions.map((s) => s.id).sort())
    expect(await erin.statuses()).toEqual([401, 401, 401])
    expect(await admin.userSessions('erin')).toEqual([])
    expect(await admin.offlineSessions('erin', 'shop')).toEqual([])
    expect((await kw.keys()).filter((k) => /:(tok|idx|sess):/.test(k))).toEqual([])
    expect(kw.logs.join('')).toContain('"msg":"admin logged a user out"')
  })

  test('a person with the role (a user’s token) revokes one session by its id; the others stay', async () => {
    const erin = await erinEverywhere()
    const auth = bearer(
      await tokenOf({ grant_type: 'password', client_id: 'console', username: 'root', password: 'root-password' }),
    )
    const { sessions } = (await (await adminCall('GET', `/admin/users/${erin.sub}/sessions`, auth)).json()) as {
      sessions: { id: string; client: string }[]
    }
    const phone = sessions.find((s) => s.client === 'mobile')!
    expect((await adminCall('DELETE', `/admin/sessions/${phone.id}`, auth)).status).toBe(200)
    expect(await erin.statuses()).toEqual([200, 200, 401])
    expect(await admin.offlineSessions('erin', 'shop')).toEqual([])
    expect((await adminCall('DELETE', `/admin/sessions/${phone.id}`, auth)).status).toBe(404)
    await adminCall('POST', `/admin/users/${erin.sub}/logout`, auth)
  })

  test('refused, and nothing changes: no token, a cookie, a session handle, another role, another audience, expired, unsigned, forged', async () => {
    const erin = await erinEverywhere()
    const now = Math.floor(Date.now() / 1000)
    const realmSigned = (claims: Record<string, unknown>, key = signing.key) =>
      new SignJWT({
        iss: kw.config.keycloak.issuer.href,
        aud: 'shop',
        typ: 'Bearer',
        azp: 'ops',
        iat: now,
        exp: now + 60,
        resource_access: { shop: { roles: ['keyward-admin'] } },
        ...claims,
      })
        .setProtectedHeader({ alg: 'RS256', kid: signing.kid, typ: 'JWT' })
        .sign(key)
    const good = await realmSigned({})
    const [header, payload] = good.split('.')
    const cases: [string, Record<string, string>, number][] = [
      ['no token', {}, 401],
      ['a session handle', bearer(erin.handle), 401],
      ['a Keycloak token with another role of shop', bearer(await clientToken('ops-viewer')), 403],
      ['a token with the role for another audience', bearer(await realmSigned({ aud: 'drivers' })), 401],
      ['an ID token, not an access token', bearer(await realmSigned({ typ: 'ID' })), 401],
      ['expired', bearer(await realmSigned({ iat: now - 600, exp: now - 300 })), 401],
      ['unsigned (alg none)', bearer(`${Buffer.from('{"alg":"none"}').toString('base64url')}.${payload}.`), 401],
      [
        'forged: the signature of another token',
        bearer(`${header}.${payload}.${(await realmSigned({ azp: 'x' })).split('.')[2]}`),
        401,
      ],
    ]
    for (const [what, headers, status] of cases) {
      for (const [method, path] of [
        ['GET', `/admin/users/${erin.sub}/sessions`],
        ['POST', `/admin/users/${erin.sub}/logout`],
      ]) {
        const res = await adminCall(method, path, headers)
        expect({ what, method, status: res.status }).toEqual({ what, method, status })
        expect(res.headers.get('content-type')).toContain('application/problem+json')
      }
    }
    // A browser with a live session of its own (and an admin's cookie would be no different).
    const viaCookie = await erin.browser.request(`${kw.url}/admin/users/${erin.sub}/logout`, {
      method: 'POST',
      headers: { 'x-csrf': '1' },
    })
    expect(viaCookie.status).toBe(401)
    expect(await erin.statuses()).toEqual([200, 200, 200])
    expect(await admin.userSessions('erin')).toHaveLength(2)
    // The same claims, signed by the realm, are let in: what was refused above was the token alone.
    expect((await adminCall('GET', `/admin/users/${erin.sub}/sessions`, bearer(good))).status).toBe(200)
    expect((await adminCall('GET', '/admin/users/not a sub/sessions', bearer(good))).status).toBe(400)
    await adminCall('POST', `/admin/users/${erin.sub}/logout`, bearer(good))
  })
})
