import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { Browser } from '../../harness/browser'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { startKeyward, type RunningKeyward } from '../../harness/keyward'
import { addUser, keywardKeycloak, shopAndDrivers, shopAndDriversFile } from '../support/keycloak-cli'
import { api, storedAccessClaims, storedSession } from '../support/refresh-fixture'

// A Keycloak of its own with the legacy token exchange (V1) turned on, and nothing else (no
// fine-grained permissions), beside the usual one: it takes a minute to start, so this runs with the
// serial suites.
const script = join(__dirname, '../../scripts/keycloak.sh')
const legacyKeycloak: NodeJS.ProcessEnv = {
  ...process.env,
  KEYCLOAK_URL: '',
  KEYCLOAK_PORT: '8182',
  KEYCLOAK_MANAGEMENT_PORT: '9182',
  KEYCLOAK_FEATURES: 'token-exchange',
}
const base = 'http://127.0.0.1:8182'
const cli = (command: 'doctor' | 'setup', env: Record<string, string>) => keywardKeycloak(command, env, base)

describe('legacy token exchange (V1), set up by keyward-keycloak setup, granting nothing', () => {
  const realm = `legacy-${randomBytes(4).toString('hex')}`
  const admin = new KeycloakAdmin(realm, base)
  let kw: RunningKeyward
  let env: Record<string, string>

  beforeAll(async () => {
    execFileSync('bash', [script, 'start'], { env: legacyKeycloak, stdio: ['ignore', 'ignore', 'inherit'] })
    await admin.create({ revokeRefreshToken: true })
    kw = await startKeyward({ KEYCLOAK_URL: base, KEYCLOAK_REALM: realm }, { adjust: shopAndDrivers('legacy') })
    env = shopAndDriversFile(kw.url, realm, 'legacy')
  }, 300_000)
  afterAll(async () => {
    await kw?.close()
    await admin.drop().catch(() => undefined)
    execFileSync('bash', [script, 'stop'], { env: legacyKeycloak, stdio: 'inherit' })
  })

  async function handoff(browser: Browser) {
    const res = await browser.request(`${kw.url}/auth/handoff`, {
      method: 'POST',
      headers: { ...api, 'content-type': 'application/json' },
      body: JSON.stringify({ target: 'drivers' }),
    })
    expect(res.status).toBe(200)
    return browser.request((JSON.parse(res.text) as { url: string }).url)
  }

  test('setup asks nothing of V1 beyond the audience: the handoff works by V1 with no permission; without the audience Keycloak refuses it and keyward names the fix', async () => {
    const setup = await cli('setup', env)
    expect(setup.out).toContain('changed: handoff shop → drivers: add an Audience mapper for drivers to shop')
    expect(setup.out).toContain('granted no role, permission or service account')
    expect(setup.out).toContain('doctor: no problems')
    expect(setup.code).toBe(0)
    expect((await cli('setup', env)).out).toContain('setup: nothing to change')

    await addUser(admin, 'erin')
    const browser = new Browser()
    await browser.login(kw.url, 'erin', 'erin-password')
    // drivers has no Standard Token Exchange switch: only the legacy exchange can have done this.
    const drivers = await admin.client('drivers')
    expect((drivers.attributes as Record<string, string>)['standard.token.exchange.enabled']).toBeUndefined()
    expect((await handoff(browser)).status).toBe(302)
    const sessions = await Promise.all(
      (await kw.keys())
        .filter((k) => k.includes(':tok:'))
        .map(async (k) => ({
          app: (JSON.parse((await kw.redis.hget(k, 'm'))!) as { app: string }).app,
          stored: (await storedSession({ ...kw, keys: async () => [k] }))!,
        })),
    )
    const of = (app: string) => sessions.find((s) => s.app === app)!.stored
    expect((await storedAccessClaims(kw, of('drivers'))).azp).toBe('drivers')
    expect(of('drivers').sid).toBe(of('shop').sid)

    // Without drivers in shop's audience, V1 says no too, and keyward names the fix.
    const shop = await admin.client('shop')
    for (const m of (shop.protocolMappers as { id: string; protocolMapper: string }[]) ?? []) {
      if (m.protocolMapper === 'oidc-audience-mapper') {
        await admin.call('DELETE', `/clients/${shop.id}/protocol-mappers/models/${m.id}`)
      }
    }
    await browser.request(`${kw.url}/auth/logout`, { method: 'POST', headers: api })
    await browser.login(kw.url, 'erin', 'erin-password')
    const refused = await handoff(browser)
    expect([refused.status, JSON.parse(refused.text).code]).toEqual([403, 'exchange_refused'])
    expect(JSON.parse(refused.text).detail).toContain('give client shop an Audience mapper that puts drivers')
    const doctor = await cli('doctor', env)
    expect(doctor.code).toBe(1)
    expect(doctor.out).toContain('drivers is not in the audience of shop')
    await browser.request(`${kw.url}/auth/logout`, { method: 'POST', headers: api })
  })
})
