import { randomBytes } from 'node:crypto'
import { Browser } from '../../harness/browser'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { startKeyward, type RunningKeyward } from '../../harness/keyward'
import { Upstream } from '../../harness/upstream'
import {
  addUser,
  configFile,
  keywardKeycloak as cli,
  shopAndDrivers,
  shopAndDriversFile,
} from '../support/keycloak-cli'
import { api, storedSession } from '../support/refresh-fixture'

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

/**
 * Keycloak counts the SSO Session Idle from the last grant of any client of the user session: an app
 * left unused while another app of the same session is used stays logged in, and keyward's record of
 * it follows Keycloak's clock rather than ending at its own last refresh.
 */
describe('the SSO Session Idle, shared by the apps of one Keycloak session', () => {
  const realm = `shared-idle-${randomBytes(4).toString('hex')}`
  const admin = new KeycloakAdmin(realm)
  const IDLE = 20
  let kw: RunningKeyward
  let upstream: Upstream

  beforeAll(async () => {
    await admin.create({ ssoSessionIdleTimeout: 172_800, ssoSessionMaxLifespan: 36_000, accessTokenLifespan: 6 })
    upstream = await Upstream.start(realm)
    kw = await startKeyward(
      {
        KEYCLOAK_REALM: realm,
        SSO_SESSION_IDLE_SECONDS: String(IDLE),
        UPSTREAMS: JSON.stringify({ echo: upstream.url }),
      },
      { adjust: shopAndDrivers() },
    )
    expect((await cli('setup', shopAndDriversFile(kw.url, realm))).out).toContain('doctor: no problems')
    for (const clientId of ['shop', 'drivers']) {
      const client = await admin.client(clientId)
      await admin.call('PUT', `/clients/${client.id}`, {
        ...client,
        attributes: { ...(client.attributes as Record<string, string>), 'client.session.idle.timeout': '86400' },
      })
    }
    await admin.call('PUT', '', { realm, ssoSessionIdleTimeout: IDLE })
    await addUser(admin, 'ida')
  })
  afterAll(async () => {
    await kw?.close()
    await upstream?.close()
    await admin.drop()
  })

  test("one app used past the idle: the other's session lives on, ending when Keycloak's does, and still refreshes", async () => {
    const shop = kw.url
    const drivers = kw.url.replace('127.0.0.1', 'localhost')
    const browser = new Browser()
    await browser.login(shop, 'ida', 'ida-password')
    await browser.login(drivers, 'ida', 'ida-password') // single sign-on: the same Keycloak session
    const shopEnds = async () => {
      const res = await browser.request(`${shop}/auth/session`)
      expect(res.status).toBe(200)
      return Date.parse((JSON.parse(res.text) as { sessionExpiresAt: string }).sessionExpiresAt)
    }
    const endedAtFirst = await shopEnds()
    expect(endedAtFirst - Date.now()).toBeLessThanOrEqual(IDLE * 1000)

    // Only drivers is used, its access token refreshed every few seconds, until past shop's own idle.
    const quietUntil = endedAtFirst + 8_000
    while (Date.now() < quietUntil) {
      expect((await browser.request(`${drivers}/api/echo/me`, { headers: api })).status).toBe(200)
      await new Promise((r) => setTimeout(r, 2_000))
    }
    const [keycloak] = await admin.call<{ lastAccess: number; clients: Record<string, string> }[]>(
      'GET',
      `/users/${await admin.userId('ida')}/sessions`,
    )
    expect(Object.values(keycloak.clients).sort()).toEqual(['drivers', 'shop'])
    const ends = await shopEnds()
    expect(ends).toBeGreaterThan(Date.now())
    // Keycloak's last access is in whole seconds; keyward counts from when it sent the refresh.
    expect(Math.abs(ends - (keycloak.lastAccess + IDLE * 1000))).toBeLessThan(2_000)

    // Used again, shop refreshes with its own refresh token, and Keycloak honours it.
    const shopVersion = async () => {
      for (const key of (await kw.keys()).filter((k) => k.includes(':tok:'))) {
        const h = await kw.redis.hgetall(key)
        if ((JSON.parse(h.m) as { app: string }).app === 'shop') return Number(h.v)
      }
      throw new Error('no session of shop')
    }
    const before = await shopVersion()
    expect((await browser.request(`${shop}/api/echo/me`, { headers: api })).status).toBe(200)
    expect(await shopVersion()).toBe(before + 1)
    expect(await shopEnds()).toBeGreaterThan(ends)
  })
})
