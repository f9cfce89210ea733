import { randomBytes } from 'node:crypto'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { startKeyward, type RunningKeyward } from '../../harness/keyward'
import {
  addUser,
  configFile,
  handedOver,
  keywardKeycloak as cli,
  shopAndDrivers,
  shopAndDriversFile,
} from '../support/keycloak-cli'
import { api } from '../support/refresh-fixture'

const faults = (out: string) => out.split('\n').filter((line) => line.startsWith('✗ '))

describe('keyward-keycloak: setup and doctor against a live Keycloak', () => {
  test('the doctor passes on the shipped realm', async () => {
    const env = configFile([
      { id: 'web', publicUrl: 'http://localhost:3000', clientId: 'keyward-web', targets: ['sibling'] },
      { id: 'sibling', publicUrl: 'http://127.0.0.1:3000', clientId: 'keyward-sibling' },
    ])
    const { code, out } = await cli('doctor', { ...env, KEYCLOAK_REALM: 'keyward' })
    expect(out).toContain('doctor: no problems')
    expect(code).toBe(0)
  })

  test('a legacy (V1) handoff on a Keycloak without the legacy feature: the doctor says which feature to turn on, and that V2 would answer instead', async () => {
    const env = configFile([
      { id: 'web', publicUrl: 'http://localhost:3000', clientId: 'keyward-web', targets: ['sibling'] },
      { id: 'sibling', publicUrl: 'http://127.0.0.1:3000', clientId: 'keyward-sibling', tokenExchange: 'legacy' },
    ])
    const { code, out } = await cli('doctor', { ...env, KEYCLOAK_REALM: 'keyward' })
    expect(faults(out)).toEqual([
      "✗ handoff web → sibling: Keycloak's legacy token exchange (feature token-exchange) is off",
      '✗ handoff web → sibling: Standard token exchange is on for keyward-sibling, so Keycloak answers with it rather than the legacy exchange',
    ])
    expect(out).toContain('fix: start Keycloak with --features=token-exchange (no fine-grained permission is needed)')
    expect(code).toBe(1)
  })

  describe('on a realm of its own', () => {
    const realm = `setup-${randomBytes(4).toString('hex')}`
    const admin = new KeycloakAdmin(realm)
    let kw: RunningKeyward
    let env: Record<string, string>

    beforeAll(async () => {
      await admin.create({ revokeRefreshToken: true, refreshTokenMaxReuse: 0 })
      // keyward serves shop on 127.0.0.1 and drivers on localhost; Keycloak knows neither client yet.
      kw = await startKeyward({ KEYCLOAK_REALM: realm }, { adjust: shopAndDrivers() })
      env = shopAndDriversFile(kw.url, realm)
    })
    afterAll(async () => {
      await kw.close()
      await admin.drop()
    })

    test('setup makes an empty realm ready: the clients, PKCE, redirect URIs, token exchange; run again it changes nothing; a login and a handoff then work', async () => {
      const before = await cli('doctor', env)
      expect(before.code).toBe(1)
      expect(faults(before.out)).toEqual([
        `✗ app shop (client shop): realm ${realm} has no client shop`,
        `✗ app drivers (client drivers): realm ${realm} has no client drivers`,
      ])

      const setup = await cli('setup', env)
      expect(setup.out).toContain('changed: app shop (client shop): create shop')
      expect(setup.out).toContain('changed: handoff shop → drivers: add an Audience mapper for drivers to shop')
      expect(setup.out).toContain('doctor: no problems')
      expect(setup.code).toBe(0)
      const again = await cli('setup', env)
      expect(again.out).toContain('setup: nothing to change')
      expect(again.out).not.toContain('changed:')
      expect(again.code).toBe(0)

      // What setup made is what a real login and handoff need.
      await addUser(admin, 'dana')
      const browser = await handedOver(kw.url, 'dana', 'drivers')
      const drivers = kw.url.replace('127.0.0.1', 'localhost')
      expect(JSON.parse((await browser.request(`${drivers}/auth/session`)).text)).toMatchObject({
        app: 'drivers',
        user: { preferred_username: 'dana' },
      })
      await browser.request(`${kw.url}/auth/logout`, { method: 'POST', headers: api })
    })

    /** Changes one client the way `edit` says (on its full representation). */
    async function editClient(clientId: string, edit: (c: Record<string, unknown>) => Record<string, unknown>) {
      const c = await admin.client(clientId)
      await admin.call('PUT', `/clients/${c.id}`, edit(c))
    }
    const attributes = (c: Record<string, unknown>, set: Record<string, string>) => ({
      ...c,
      attributes: { ...(c.attributes as Record<string, string>), ...set },
    })

    test.each([
      {
        fault: 'PKCE is not required',
        breakIt: () => editClient('shop', (c) => attributes(c, { 'pkce.code.challenge.method': '' })),
      },
      {
        fault: 'the client is public',
        breakIt: () => editClient('drivers', (c) => ({ ...c, publicClient: true })),
      },
      {
        fault: "the redirect URIs do not allow keyward's callback",
        breakIt: () => editClient('shop', (c) => ({ ...c, redirectUris: ['https://elsewhere.example/*'] })),
      },
      {
        fault: 'the post-logout redirect URIs do not allow',
        breakIt: () =>
          editClient('drivers', (c) => attributes(c, { 'post.logout.redirect.uris': 'https://elsewhere.example/' })),
      },
      {
        fault: 'Keycloak sends no back-channel logout to keyward',
        breakIt: () => editClient('shop', (c) => attributes(c, { 'backchannel.logout.url': '' })),
      },
      {
        fault: 'front-channel logout is on',
        breakIt: () => editClient('drivers', (c) => ({ ...c, frontchannelLogout: true })),
      },
      {
        fault: 'Standard token exchange is off on drivers',
        breakIt: () => editClient('drivers', (c) => attributes(c, { 'standard.token.exchange.enabled': 'false' })),
      },
      {
        fault: 'drivers may not get a refresh token by exchange',
        breakIt: () =>
          editClient('drivers', (c) =>
            attributes(c, { 'standard.token.exchange.enableRefreshRequestedTokenType': 'NO' }),
          ),
      },
      {
        fault: "drivers is not in the audience of shop's access tokens",
        breakIt: async () => {
          const shop = await admin.client('shop')
          for (const m of (shop.protocolMappers as { id: string; protocolMapper: string }[]) ?? []) {
            if (m.protocolMapper === 'oidc-audience-mapper')
              await admin.call('DELETE', `/clients/${shop.id}/protocol-mappers/models/${m.id}`)
          }
        },
      },
    ])('the doctor names one fault, and setup repairs it: $fault', async ({ fault, breakIt }) => {
      await breakIt()
      const doctor = await cli('doctor', env)
      expect(doctor.code).toBe(1)
      expect(faults(doctor.out)).toHaveLength(1)
      expect(faults(doctor.out)[0]).toContain(fault)
      expect(doctor.out).toContain('(setup does this)')
      const setup = await cli('setup', env)
      expect(setup.out).toContain('doctor: no problems')
      expect(setup.code).toBe(0)
    })

    test.each([
      {
        fault: 'its service account holds realm-management roles keyward never needs: impersonation, manage-users',
        fix: 'remove impersonation, manage-users from service-account-shop',
        breakIt: async () => {
          await editClient('shop', (c) => ({ ...c, serviceAccountsEnabled: true }))
          const shop = await admin.client('shop')
          const user = await admin.call<{ id: string }>('GET', `/clients/${shop.id}/service-account-user`)
          const rm = await admin.client('realm-management')
          const roles = await Promise.all(
            ['impersonation', 'manage-users'].map((r) => admin.call('GET', `/clients/${rm.id}/roles/${r}`)),
          )
          await admin.call('POST', `/users/${user.id}/role-mappings/clients/${rm.id}`, roles)
        },
        repair: () => editClient('shop', (c) => ({ ...c, serviceAccountsEnabled: false })),
      },
      {
        fault: 'a refresh token outlives no access token',
        fix: 'make the access token lifespan shorter than 1800 s',
        breakIt: () => editClient('drivers', (c) => attributes(c, { 'access.token.lifespan': '3600' })),
        repair: () => editClient('drivers', (c) => attributes(c, { 'access.token.lifespan': '' })),
      },
      {
        fault: "the client's secret is not the one keyward is configured with",
        fix: "copy the secret from the client's Credentials tab",
        breakIt: () => editClient('shop', (c) => ({ ...c, secret: 'another-secret' })),
        repair: () => editClient('shop', (c) => ({ ...c, secret: 'shop-dev-secret' })),
      },
      {
        fault: 'the client is disabled',
        fix: 'turn the client on',
        breakIt: () => editClient('drivers', (c) => ({ ...c, enabled: false })),
        repair: () => editClient('drivers', (c) => ({ ...c, enabled: true })),
      },
    ])('the doctor names one fault that only a person should fix: $fault', async ({ fault, fix, breakIt, repair }) => {
      await breakIt()
      try {
        const doctor = await cli('doctor', env)
        expect(doctor.code).toBe(1)
        expect(faults(doctor.out)).toHaveLength(1)
        expect(faults(doctor.out)[0]).toContain(fault)
        expect(doctor.out).toContain(`fix: ${fix}`)
        const setup = await cli('setup', env) // setup leaves it to a person: the fault stays
        expect(setup.out).toContain('setup: nothing to change')
        expect(setup.code).toBe(1)
      } finally {
        await repair()
      }
      expect((await cli('doctor', env)).code).toBe(0)
    })
  })
})
