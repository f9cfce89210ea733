import { randomBytes } from 'node:crypto'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { startKeyward, type RunningKeyward } from '../../harness/keyward'
import { Upstream } from '../../harness/upstream'
import { addUser, configFile, keywardKeycloak as cli } from '../support/keycloak-cli'
import { api, loggedIn, untilExpired } from '../support/refresh-fixture'

/**
 * A client secret rotated in Keycloak before keyward knows it: Keycloak answers `invalid_client`,
 * which is keyward's fault, not the user's. Sessions are kept (503), and a keyward given both
 * secrets carries on with the one Keycloak accepts. A realm of its own: its client's secret changes.
 */
describe('a client secret rotated in Keycloak under live sessions', () => {
  const realm = `rot-${randomBytes(4).toString('hex')}`
  const admin = new KeycloakAdmin(realm)
  const shared = {
    KEYCLOAK_REALM: realm,
    OIDC_CLIENT_ID: 'shop',
    SESSION_SECRET: randomBytes(32).toString('hex'),
    REDIS_PREFIX: `kwtest:${randomBytes(4).toString('hex')}:`,
  }
  let upstream: Upstream
  const running: RunningKeyward[] = []

  beforeAll(async () => {
    // Access tokens of 10 s: a refresh is due soon after each login.
    await admin.create({ revokeRefreshToken: true, refreshTokenMaxReuse: 0, accessTokenLifespan: 10 })
    upstream = await Upstream.start(realm)
    const setup = await cli('setup', {
      KEYCLOAK_REALM: realm,
      ...configFile([{ id: 'web', publicUrl: 'http://127.0.0.1:3000', clientId: 'shop' }]),
    })
    expect(setup.out).toContain('changed: app web (client shop): create shop')
    await admin.call('PUT', `/clients/${(await admin.client('shop')).id}`, {
      ...(await admin.client('shop')),
      redirectUris: ['http://127.0.0.1:*'],
    })
    await addUser(admin, 'fay')
  })
  afterAll(async () => {
    await Promise.all(running.map((kw) => kw.close()))
    await upstream.close()
    await admin.drop()
  })

  async function keyward(secrets: Record<string, string>): Promise<RunningKeyward> {
    const kw = await startKeyward({ ...shared, ...secrets, UPSTREAMS: JSON.stringify({ echo: upstream.url }) })
    running.push(kw)
    return kw
  }
  const setSecret = async (secret: string) =>
    admin.call('PUT', `/clients/${(await admin.client('shop')).id}`, { ...(await admin.client('shop')), secret })

  test('refused credentials: 503 naming the client, the session kept; with the new secret as OIDC_CLIENT_SECRET_NEXT, refresh works again', async () => {
    const before = await keyward({ OIDC_CLIENT_SECRET: 'shop-dev-secret' })
    const { browser, session } = await loggedIn(before, 'fay')
    await setSecret('shop-rotated-secret')
    await untilExpired(session)

    // The access token has expired and cannot be refreshed: no upstream call, but nothing is lost.
    const call = await browser.request(`${before.url}/api/echo/orders`, { headers: api })
    expect(call.status).toBe(503)
    expect(JSON.parse(call.text)).toMatchObject({
      code: 'client_misconfigured',
      detail: expect.stringContaining('client shop'),
    })
    expect(call.headers.get('retry-after')).toBe('30')
    const logout = await browser.request(`${before.url}/auth/logout`, { method: 'POST', headers: api })
    expect(logout.status).toBe(503)
    expect((await browser.request(`${before.url}/auth/session`)).status).toBe(200)
    expect(await before.redis.exists(session.key)).toBe(1)
    expect((await admin.userSessions('fay')).map((s) => s.id)).toEqual([session.sid])
    const loud = before.logs.filter((l) => l.includes('Keycloak refuses the credentials of client shop'))
    expect(loud.length).toBeGreaterThan(0)
    expect(JSON.parse(loud[0])).toMatchObject({ level: 50, clientId: 'shop' })

    // A keyward that has both secrets, the old one first: it tries the next one and keeps to it.
    const after = await keyward({
      OIDC_CLIENT_SECRET: 'shop-dev-secret',
      OIDC_CLIENT_SECRET_NEXT: 'shop-rotated-secret',
    })
    const again = await browser.request(`${after.url}/api/echo/orders`, { headers: api })
    expect(again.status).toBe(200)
    expect(after.logs.join('')).toContain('Keycloak now accepts the other client secret; using it')
    const out = await browser.request(`${after.url}/auth/logout`, { method: 'POST', headers: api })
    expect(out.status).toBe(200)
    expect(await admin.userSessions('fay')).toEqual([])
  })
})
