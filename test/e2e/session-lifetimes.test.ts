import { randomBytes } from 'node:crypto'
import { Browser } from '../../harness/browser'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { startKeyward, type RunningKeyward } from '../../harness/keyward'
import { addUser, configFile, keywardKeycloak as cli } from '../support/keycloak-cli'
import { storedSession } from '../support/refresh-fixture'

/**
 * A client whose Client Session Idle is above the realm's SSO Session Idle (reached by lowering the
 * realm after the client was set): Keycloak 26.7 then reports refresh tokens that live the SSO max,
 * yet ends the session at the SSO idle. The doctor names it, and SSO_SESSION_IDLE_SECONDS makes
 * keyward's record, its TTL and /auth/session say what Keycloak will do.
 */
describe("an online session's lifetime when Client Session Idle passes SSO Session Idle", () => {
  const realm = `idle-${randomBytes(4).toString('hex')}`
  const admin = new KeycloakAdmin(realm)
  const running: RunningKeyward[] = []
  const env = { KEYCLOAK_REALM: realm, OIDC_CLIENT_ID: 'shop', OIDC_CLIENT_SECRET: 'shop-dev-secret' }

  beforeAll(async () => {
    await admin.create({ ssoSessionIdleTimeout: 172_800, ssoSessionMaxLifespan: 36_000, accessTokenLifespan: 30 })
    const kw = await startKeyward(env)
    running.push(kw)
    const setup = await cli('setup', {
      KEYCLOAK_REALM: realm,
      ...configFile([{ id: 'web', publicUrl: kw.url, clientId: 'shop' }]),
    })
    expect(setup.out).toContain('doctor: no problems')
    const shop = await admin.client('shop')
    await admin.call('PUT', `/clients/${shop.id}`, {
      ...shop,
      redirectUris: ['http://127.0.0.1:*'],
      attributes: { ...(shop.attributes as Record<string, string>), 'client.session.idle.timeout': '86400' },
    })
    // The realm lowered afterwards: what Keycloak's admin API lets happen.
    await admin.call('PUT', '', { realm, ssoSessionIdleTimeout: 60 })
    await addUser(admin, 'gil')
  })
  afterAll(async () => {
    await Promise.all(running.map((kw) => kw.close()))
    await admin.drop()
  })

  async function sessionSays(extra: Record<string, string>) {
    const kw = await startKeyward({ ...env, ...extra })
    running.push(kw)
    const browser = new Browser()
    await browser.login(kw.url, 'gil', 'gil-password')
    const info = JSON.parse((await browser.request(`${kw.url}/auth/session`)).text) as Record<string, string>
    const left = (iso: string) => Math.round((Date.parse(iso) - Date.now()) / 1000)
    const ttl = Math.round((await kw.redis.pttl((await storedSession(kw))!.key)) / 1000)
    return { refresh: left(info.refreshTokenExpiresAt), session: left(info.sessionExpiresAt), ttl, kw }
  }

  test('the doctor names it; without SSO_SESSION_IDLE_SECONDS keyward believes the 10 hours, with it the session ends at the idle', async () => {
    const doctor = await cli('doctor', {
      KEYCLOAK_REALM: realm,
      ...configFile([{ id: 'web', publicUrl: running[0].url, clientId: 'shop' }]),
    })
    expect(doctor.out).toContain("Client Session Idle (86400 s) is above the realm's SSO Session Idle (60 s)")
    expect(doctor.out).toContain('set SSO_SESSION_IDLE_SECONDS=60')

    const believed = await sessionSays({})
    expect(believed.refresh).toBeGreaterThan(35_000) // Keycloak's refresh_expires_in: the SSO max
    const told = await sessionSays({ SSO_SESSION_IDLE_SECONDS: '60' })
    expect(told.refresh).toBeLessThanOrEqual(60)
    expect(told.session).toBeLessThanOrEqual(60)
    expect(told.ttl).toBeLessThanOrEqual(60)
    expect(told.ttl).toBeGreaterThan(50)

    const capped = await cli('doctor', {
      KEYCLOAK_REALM: realm,
      SSO_SESSION_IDLE_SECONDS: '60',
      ...configFile([{ id: 'web', publicUrl: told.kw.url, clientId: 'shop' }]),
    })
    expect(capped.out).not.toContain("is above the realm's SSO Session Idle")
  })
})
