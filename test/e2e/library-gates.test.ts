import { Browser } from '../../harness/browser'
import { hostRoutes, startHostApp, testOptions, type HostApp } from '../../harness/host-app'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { Upstream } from '../../harness/upstream'
import { roleAndUsers, roleNames } from '../support/keycloak-cli'

const admin = new KeycloakAdmin()
const api = { accept: 'application/json' }

/**
 * requireRole and requireClaims against roles and claims Keycloak itself grants: a realm role of the
 * test's own, given and taken away through Keycloak's admin API.
 */
describe("keyward()'s role and claims gates", () => {
  const names = roleNames('gate')
  const { role, holder, other } = names
  let upstream: Upstream
  let host: HostApp
  let realmRole: Awaited<ReturnType<KeycloakAdmin['realmRole']>>

  beforeAll(async () => {
    upstream = await Upstream.start()
    realmRole = await roleAndUsers(admin, names)
    await admin.call('PUT', `/users/${await admin.userId(other)}`, { emailVerified: false })
    // keyward-short: 10-second access tokens, so a role taken away shows within the test.
    host = await startHostApp({
      upstream: upstream.url,
      keyward: (url) =>
        testOptions(url, { keycloak: { clientId: 'keyward-short', clientSecret: 'keyward-short-dev-secret' } }),
      routes: (app, kw) => hostRoutes(app, kw, upstream.url, `realm:${role}`),
    })
  })
  afterAll(async () => {
    await host?.close()
    await upstream?.close()
    await realmRole?.drop()
  })

  const loggedIn = async (user: string) => {
    const browser = new Browser()
    await browser.login(host.url, user, `${user}-password`)
    return browser
  }

  test('a user without the role gets 403 forbidden, naming the role; a user with it gets through', async () => {
    const without = await loggedIn(other)
    const refused = await without.request(`${host.url}/admin-only`, { headers: api })
    expect(refused.status).toBe(403)
    expect(refused.headers.get('content-type')).toMatch(/^application\/problem\+json/)
    expect(JSON.parse(refused.text)).toMatchObject({
      code: 'forbidden',
      detail: `The role realm:${role} is required.`,
    })
    // The application renders the refusal of a page itself (its error handler before kw.errorHandler()).
    const page = await without.request(`${host.url}/admin-only`, { headers: { accept: 'text/html' } })
    expect([page.status, page.text]).toEqual([403, '<h1>You are not allowed to do this</h1>'])
    expect(JSON.parse((await without.request(`${host.url}/has-role`, { headers: api })).text)).toEqual({ admin: false })
    const withRole = await loggedIn(holder)
    expect(JSON.parse((await withRole.request(`${host.url}/admin-only`, { headers: api })).text)).toEqual({
      admin: true,
    })
    expect(JSON.parse((await withRole.request(`${host.url}/has-role`, { headers: api })).text)).toEqual({ admin: true })
    // No session: a page goes to the login, an API call gets 401.
    const anonymous = await fetch(`${host.url}/admin-only`, { redirect: 'manual', headers: { accept: 'text/html' } })
    expect(anonymous.headers.get('location')).toBe('/auth/login?returnTo=%2Fadmin-only')
    expect((await fetch(`${host.url}/admin-only`, { headers: api })).status).toBe(401)
  })

  test('a role taken away in Keycloak is gone from the next refresh on', async () => {
    const browser = await loggedIn(holder)
    expect((await browser.request(`${host.url}/admin-only`, { headers: api })).status).toBe(200)
    await realmRole.revoke(holder)
    try {
      const { session } = JSON.parse((await browser.request(`${host.url}/me`, { headers: api })).text)
      await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(session.accessTokenExpiresAt) - Date.now() + 200)))
      const after = await browser.request(`${host.url}/admin-only`, { headers: api })
      expect(after.status).toBe(403)
      expect(JSON.parse(after.text)).toMatchObject({ code: 'forbidden' })
      // The session itself goes on: only the gate says no.
      expect((await browser.request(`${host.url}/orders/1`, { headers: api })).status).toBe(200)
    } finally {
      await realmRole.grant(holder)
    }
  })

  test('requireClaims: a verified e-mail gets through, an unverified one gets 403 naming the claim', async () => {
    expect((await (await loggedIn(holder)).request(`${host.url}/verified`, { headers: api })).status).toBe(200)
    const refused = await (await loggedIn(other)).request(`${host.url}/verified`, { headers: api })
    expect(refused.status).toBe(403)
    expect(JSON.parse(refused.text)).toMatchObject({
      code: 'forbidden',
      detail: 'The claim email_verified must be true.',
    })
  })
})
