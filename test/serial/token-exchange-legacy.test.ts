import { execFile, execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Config } from '../../src/config/load'
import { Browser } from '../../harness/browser'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { startKeyward, TEST_KEYS, type RunningKeyward } from '../../harness/keyward'
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
const dir = mkdtempSync(join(tmpdir(), 'keyward-legacy-'))

function cli(command: 'doctor' | 'setup', env: Record<string, string>): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/setup/cli.ts', command],
      {
        env: {
          PATH: process.env.PATH,
          KEYCLOAK_URL: base,
          DEV_ALLOW_HTTP: 'true',
          SESSION_SECRET: randomBytes(32).toString('hex'),
          TOKEN_ENCRYPTION_KEYS: TEST_KEYS,
          KEYCLOAK_ADMIN_USER: process.env.KEYCLOAK_ADMIN_USER ?? 'admin',
          KEYCLOAK_ADMIN_PASSWORD: process.env.KEYCLOAK_ADMIN_PASSWORD ?? 'admin',
          ...env,
        },
        timeout: 60_000,
      },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, out: stdout + stderr }),
    )
  })
}

describe('legacy token exchange (V1), set up by keyward-keycloak setup, granting nothing', () => {
  const realm = `legacy-${randomBytes(4).toString('hex')}`
  const admin = new KeycloakAdmin(realm, base)
  let kw: RunningKeyward
  let env: Record<string, string>

  beforeAll(async () => {
    execFileSync('bash', [script, 'start'], { env: legacyKeycloak, stdio: ['ignore', 'ignore', 'inherit'] })
    await admin.create({ revokeRefreshToken: true })
    const twoApps = (config: Config): Config => {
      const [shop] = config.apps
      const drivers = new URL(shop.publicUrl.href.replace('127.0.0.1', 'localhost'))
      return {
        ...config,
        apps: [
          {
            ...shop,
            id: 'shop',
            clientId: 'shop',
            clientSecret: 'shop-dev-secret',
            handoffTargets: new Set(['drivers']),
          },
          {
            ...shop,
            id: 'drivers',
            publicUrl: drivers,
            callbackUrl: new URL('/auth/callback', drivers),
            allowedOrigins: new Set([drivers.origin]),
            clientId: 'drivers',
            clientSecret: 'drivers-dev-secret',
            handoffTargets: new Set(),
            tokenExchange: 'legacy',
          },
        ],
      }
    }
    kw = await startKeyward({ KEYCLOAK_URL: base, KEYCLOAK_REALM: realm }, { adjust: twoApps })
    const path = join(dir, 'keyward.json')
    writeFileSync(
      path,
      JSON.stringify({
        apps: [
          {
            id: 'shop',
            publicUrl: kw.url,
            clientId: 'shop',
            clientSecretEnv: 'SHOP_SECRET',
            handoffTargets: ['drivers'],
          },
          {
            id: 'drivers',
            publicUrl: kw.url.replace('127.0.0.1', 'localhost'),
            clientId: 'drivers',
            clientSecretEnv: 'DRIVERS_SECRET',
            tokenExchange: 'legacy',
          },
        ],
      }),
    )
    env = {
      KEYWARD_CONFIG: path,
      KEYCLOAK_REALM: realm,
      SHOP_SECRET: 'shop-dev-secret',
      DRIVERS_SECRET: 'drivers-dev-secret',
    }
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

    await admin.call('POST', '/users', {
      username: 'erin',
      enabled: true,
      email: 'erin@example.com',
      emailVerified: true,
      firstName: 'Erin',
      lastName: 'Doe',
      credentials: [{ type: 'password', value: 'erin-password', temporary: false }],
    })
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
