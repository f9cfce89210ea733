import { randomBytes } from 'node:crypto'
import { request } from 'node:http'
import { generateKeyPair, SignJWT } from 'jose'
import { Browser } from '../../harness/browser'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { startKeyward, testEnv, type RunningKeyward } from '../../harness/keyward'
import { startKeywardProcess, type KeywardProcess } from '../../harness/keyward-process'
import { bearer, MobileApp, MOBILE } from '../../harness/mobile-app'
import { freePort } from '../../harness/redis-server'
import {
  addUser,
  handedOver,
  keywardKeycloak as cli,
  shopAndDrivers,
  shopAndDriversFile,
} from '../support/keycloak-cli'
import { activeKid, importSigningKey } from '../support/realm-key'
import { api, waitUntil } from '../support/refresh-fixture'

const EVENT = 'http://schemas.openid.net/event/backchannel-logout'

/**
 * Back-channel logout against a real Keycloak: a realm of its own, set up by `keyward-keycloak setup`
 * (which registers each app's back-channel logout URL), keyward serving shop and drivers in this
 * process, and a second keyward process serving shop on the same Redis. The realm signs with a key
 * this test imported, so it can also sign logout tokens that Keycloak never would.
 */
describe('back-channel logout from Keycloak', () => {
  const realm = `bcl-${randomBytes(4).toString('hex')}`
  const admin = new KeycloakAdmin(realm)
  const shared = {
    SESSION_SECRET: randomBytes(32).toString('hex'),
    REDIS_PREFIX: `kwtest:${randomBytes(4).toString('hex')}:`,
  }
  let kw: RunningKeyward
  let second: KeywardProcess
  let secondUrl: string
  let drivers: string
  let realmKey: CryptoKey
  let realmKid: string

  /** Another keyward process serving shop alone, on the same Redis with the same secrets. */
  const shopProcess = (url: string) =>
    startKeywardProcess(
      url,
      testEnv({
        ...shared,
        KEYCLOAK_REALM: realm,
        APP_ID: 'shop',
        OIDC_CLIENT_ID: 'shop',
        OIDC_CLIENT_SECRET: 'shop-dev-secret',
        PUBLIC_URL: url,
        LOG_LEVEL: 'info',
      }),
    )

  beforeAll(async () => {
    await admin.create({ revokeRefreshToken: true, refreshTokenMaxReuse: 0 })
    ;({ key: realmKey, kid: realmKid } = await importSigningKey(admin))

    kw = await startKeyward({ KEYCLOAK_REALM: realm, ...MOBILE, ...shared }, { adjust: shopAndDrivers() })
    drivers = kw.url.replace('127.0.0.1', 'localhost')
    const setup = await cli('setup', shopAndDriversFile(kw.url, realm))
    const registered = async (clientId: string) =>
      ((await admin.client(clientId)).attributes as Record<string, string>)['backchannel.logout.url']
    expect(await registered('shop')).toBe(`${kw.url}/auth/backchannel-logout`)
    expect(await registered('drivers')).toBe(`${drivers}/auth/backchannel-logout`)
    expect(setup.out).toContain('doctor: no problems')
    await addUser(admin, 'dana')

    // The second process serves shop alone, on the same Redis with the same secrets: the browser's
    // cookie for 127.0.0.1 opens the same session there.
    secondUrl = `http://127.0.0.1:${await freePort()}`
    second = await shopProcess(secondUrl)
  })
  afterAll(async () => {
    await second?.kill()
    await kw?.close()
    await admin.drop()
  })

  /** dana logged in on shop, her session handed to drivers; both of the browser's cookies work. */
  async function shopAndDriversSession(): Promise<Browser> {
    const browser = await handedOver(kw.url, 'dana', 'drivers')
    expect(await sessionStatus(browser)).toEqual({ shop: 200, drivers: 200, second: 200 })
    return browser
  }

  /** What /auth/session answers the browser: on shop and drivers here, and on shop in the second process. */
  async function sessionStatus(browser: Browser) {
    const [shop, drv, other] = await Promise.all(
      [kw.url, drivers, secondUrl].map(async (base) => (await browser.request(`${base}/auth/session`)).status),
    )
    return { shop, drivers: drv, second: other }
  }

  const sessionKeys = async () => (await kw.keys()).filter((k) => !k.startsWith(`${shared.REDIS_PREFIX}jti:`))
  const sidOf = async () => (await admin.userSessions('dana'))[0].id
  const logoutLines = () => kw.logs.filter((l) => l.includes('"msg":"back-channel logout"'))

  test('a logout on shop reaches the session handed to drivers through Keycloak, and both processes agree within a second', async () => {
    const browser = await shopAndDriversSession()
    const before = logoutLines().length
    expect((await browser.request(`${kw.url}/auth/logout`, { method: 'POST', headers: api })).status).toBe(200)
    const loggedOutAt = Date.now()
    await waitUntil(async () => {
      const s = await sessionStatus(browser)
      return s.shop === 401 && s.drivers === 401 && s.second === 401
    }, 1000)
    expect(Date.now() - loggedOutAt).toBeLessThan(1000)
    // Keycloak called both apps' back-channel logout URLs, as its client sessions' clients.
    expect(logoutLines().slice(before).join('')).toContain('"client":"drivers"')
    expect(logoutLines().slice(before).join('')).toContain('"client":"shop"')
    expect(await admin.userSessions('dana')).toEqual([])
    expect(await sessionKeys()).toEqual([])
  })

  test('an admin ends the user session in Keycloak: every keyward session of its sid ends, on both processes, and Redis keeps none of them', async () => {
    const browser = await shopAndDriversSession()
    await admin.call('DELETE', `/sessions/${await sidOf()}`)
    await waitUntil(async () => {
      const s = await sessionStatus(browser)
      return s.shop === 401 && s.drivers === 401 && s.second === 401
    }, 1000)
    expect(await sessionKeys()).toEqual([])
  })

  test('offline sessions follow Keycloak: signing out the online session keeps the offline one of the same sid; revoking the offline one ends it', async () => {
    const browser = new Browser()
    await browser.login(kw.url, 'dana', 'dana-password')
    // A phone signs in through the same browser: an offline session in the same Keycloak session.
    const phone = new MobileApp(kw.url, browser)
    const handle = await phone.signIn('dana', { offline: true })
    const sid = await sidOf()
    expect((await admin.offlineSessions('dana', 'shop')).map((s) => s.id)).toEqual([sid])
    const phoneStatus = async () => (await fetch(`${kw.url}/auth/session`, { headers: bearer(handle) })).status

    await admin.call('DELETE', `/sessions/${sid}`) // the console's "Sign out"
    await waitUntil(async () => (await browser.request(`${kw.url}/auth/session`)).status === 401, 1000)
    // keyward asks Keycloak again once it is done (1 s and 3 s after): the offline session stays.
    await new Promise((r) => setTimeout(r, 4000))
    expect(await phoneStatus()).toBe(200)
    expect((await admin.offlineSessions('dana', 'shop')).map((s) => s.id)).toEqual([sid])

    await admin.call('DELETE', `/sessions/${sid}?isOffline=true`) // the console's "Revoke" of the offline session
    await waitUntil(async () => (await phoneStatus()) === 401, 5000)
    expect(await admin.offlineSessions('dana', 'shop')).toEqual([])
    expect(await sessionKeys()).toEqual([])
  })

  const now = () => Math.floor(Date.now() / 1000)
  /** A logout token for shop's client, as Keycloak would sign it (with the realm's key), with `claims` its own. */
  const logoutToken = (claims: Record<string, unknown>, header: Record<string, unknown> = {}, key = realmKey) =>
    new SignJWT({
      iss: `${new URL(kw.config.keycloak.issuer).href}`,
      aud: 'shop',
      iat: now(),
      exp: now() + 120,
      jti: randomBytes(8).toString('hex'),
      events: { [EVENT]: {} },
      ...claims,
    })
      .setProtectedHeader({ alg: 'RS256', kid: realmKid, typ: 'logout+jwt', ...header })
      .sign(key)

  test('the offline recheck outlives the process that received the logout: another instance makes it', async () => {
    const browser = new Browser()
    await browser.login(kw.url, 'dana', 'dana-password')
    const handle = await new MobileApp(kw.url, browser).signIn('dana', { offline: true })
    const sid = await sidOf()
    const phoneStatus = async () => (await fetch(`${kw.url}/auth/session`, { headers: bearer(handle) })).status
    // Keycloak's own logout notice goes nowhere this time: the only one is the token sent below, to a
    // third process, which dies before its first recheck (1 s later) could run.
    const shop = await admin.client('shop')
    const attributes = shop.attributes as Record<string, string>
    const url = attributes['backchannel.logout.url']
    const setNotice = (to: string) =>
      admin.call('PUT', `/clients/${shop.id}`, { ...shop, attributes: { ...attributes, 'backchannel.logout.url': to } })
    await setNotice('http://127.0.0.1:1/nowhere')
    try {
      await admin.call('DELETE', `/sessions/${sid}?isOffline=true`) // Keycloak no longer honours the offline token
      const thirdUrl = `http://127.0.0.1:${await freePort()}`
      const third = await shopProcess(thirdUrl)
      const notice = await fetch(`${thirdUrl}/auth/backchannel-logout`, {
        method: 'POST',
        body: new URLSearchParams({ logout_token: await logoutToken({ sid, sub: await admin.userId('dana') }) }),
      })
      await third.kill('SIGKILL')
      expect(notice.status).toBe(200)
      expect(await phoneStatus()).toBe(200) // not ended yet: an offline session waits for its recheck
      // An instance still running (this process, or the second) takes the recheck from Redis when it
      // is due, and ends the offline session.
      await waitUntil(async () => (await phoneStatus()) === 401, 10_000)
      expect(kw.logs.join('') + second.output()).toContain('back-channel logout ended an offline session')
      expect(third.output()).not.toContain('back-channel logout ended an offline session')
      expect(await kw.redis.zcard(`${shared.REDIS_PREFIX}recheck`)).toBe(0)
      expect(await sessionKeys()).toEqual([])
    } finally {
      await setNotice(url)
    }
  })

  describe('logout tokens Keycloak would never send', () => {
    let browser: Browser
    let sid: string
    let sub: string
    beforeAll(async () => {
      browser = new Browser()
      await browser.login(kw.url, 'dana', 'dana-password')
      sid = await sidOf()
      sub = await admin.userId('dana')
    })

    /** A logout token for dana's session, as Keycloak would sign it, with `claims` changed. */
    const token = (claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}, key = realmKey) =>
      logoutToken({ sid, sub, ...claims }, header, key)
    const post = (body: Record<string, string>, base = kw.url) =>
      fetch(`${base}/auth/backchannel-logout`, { method: 'POST', body: new URLSearchParams(body) })

    test.each([
      [
        'forged: signed with a key of its own under the realm key id',
        async () => token({}, {}, (await generateKeyPair('RS256')).privateKey),
      ],
      [
        'unsigned (alg none)',
        async () => {
          const part = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url')
          const payload = JSON.parse(Buffer.from((await token()).split('.')[1], 'base64url').toString()) as object
          return `${part({ alg: 'none', typ: 'logout+jwt' })}.${part(payload)}.`
        },
      ],
      [
        'wrongly signed: the signature of another token',
        async () => {
          const [h, p] = (await token()).split('.')
          return `${h}.${p}.${(await token({ sid: 'other' })).split('.')[2]}`
        },
      ],
      ['expired', () => token({ iat: now() - 300, exp: now() - 180 })],
      ['for a client keyward serves no app of', () => token({ aud: 'account' })],
      ['from another issuer', () => token({ iss: 'http://127.0.0.1:1/realms/elsewhere' })],
      ['carrying a nonce', () => token({ nonce: 'abc' })],
      ['without the back-channel logout event', () => token({ events: {} })],
    ])('refused with 400, nothing ended: %s', async (_name, make) => {
      const res = await post({ logout_token: await make() })
      expect(res.status).toBe(400)
      expect(res.headers.get('cache-control')).toBe('no-store')
      expect(await res.json()).toMatchObject({
        error: 'invalid_request',
        error_description: expect.stringContaining('Logout token refused'),
      })
      expect((await browser.request(`${kw.url}/auth/session`)).status).toBe(200)
    })

    test('no logout_token at all: 400, nothing ended', async () => {
      expect((await post({})).status).toBe(400)
      expect((await post({ logout: await token() })).status).toBe(400)
      expect((await browser.request(`${kw.url}/auth/session`)).status).toBe(200)
    })

    test("Keycloak may reach keyward by a host that is no app's (BACKCHANNEL_LOGOUT_URL): the token's audience names the app", async () => {
      const signedIn = new Browser()
      await signedIn.login(kw.url, 'dana', 'dana-password')
      const other = (await admin.userSessions('dana')).find((s) => s.id !== sid)!.id
      const body = new URLSearchParams({ logout_token: await token({ aud: 'drivers', sid: other }) }).toString()
      const status = await new Promise<number>((resolve, reject) => {
        const req = request(
          `${kw.url}/auth/backchannel-logout`,
          {
            method: 'POST',
            headers: { host: 'keyward.internal:3000', 'content-type': 'application/x-www-form-urlencoded' },
          },
          (res) => resolve(res.resume().statusCode!),
        )
        req.on('error', reject)
        req.end(body)
      })
      expect(status).toBe(200)
      expect((await signedIn.request(`${kw.url}/auth/session`)).status).toBe(401)
      expect((await browser.request(`${kw.url}/auth/session`)).status).toBe(200)
      await admin.call('DELETE', `/sessions/${other}`)
    })

    test('a replayed token is refused, on either process: its jti was seen', async () => {
      const once = await token({ sid: 'a-session-keyward-does-not-hold' })
      expect((await post({ logout_token: once })).status).toBe(200)
      expect((await post({ logout_token: once })).status).toBe(400)
      expect((await post({ logout_token: once }, secondUrl)).status).toBe(400)
      expect((await browser.request(`${kw.url}/auth/session`)).status).toBe(200)
    })

    test('a key rotation in the realm between two logouts: both are honoured', async () => {
      // The first logout, signed with the key keyward has fetched.
      expect((await post({ logout_token: await token() })).status).toBe(200)
      expect((await browser.request(`${kw.url}/auth/session`)).status).toBe(401)
      await admin.call('DELETE', `/sessions/${sid}`) // Keycloak heard nothing of that one: end it there too

      await admin.call('POST', '/components', {
        name: 'rotated',
        providerId: 'rsa-generated',
        providerType: 'org.keycloak.keys.KeyProvider',
        config: { priority: ['1000'] },
      })
      const rotated = await activeKid(admin)
      expect(rotated).not.toBe(realmKid)
      // The second, from Keycloak itself, signed with the new key keyward has never seen.
      const again = new Browser()
      await again.login(kw.url, 'dana', 'dana-password')
      await admin.call('DELETE', `/sessions/${await sidOf()}`)
      await waitUntil(async () => (await again.request(`${kw.url}/auth/session`)).status === 401, 1000)
      expect(kw.logs.join('')).not.toContain('signed with a key the realm does not have')
    })
  })
})
