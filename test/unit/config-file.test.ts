import { randomBytes } from 'node:crypto'
import { rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigError, loadConfig } from '../../src/config/load'
import { tempDir } from '../../harness/temp-dir'

const dir = tempDir('config')
let files = 0
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** The common variables, and KEYWARD_CONFIG naming a file with `content`. */
function envWith(content: unknown, extra: Record<string, string> = {}): Record<string, string> {
  const path = join(dir, `keyward-${files++}.json`)
  writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content))
  return {
    KEYWARD_CONFIG: path,
    KEYCLOAK_URL: 'https://sso.example.com',
    KEYCLOAK_REALM: 'acme',
    SESSION_SECRET: 'x'.repeat(32),
    TOKEN_ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}`,
    UPSTREAMS: '{"orders":"https://orders.internal","billing":"https://billing.internal"}',
    SHOP_SECRET: 'shop-secret',
    DRIVERS_SECRET: 'drivers-secret',
    ...extra,
  }
}

const shop = {
  id: 'shop',
  publicUrl: 'https://shop.example.com',
  clientId: 'acme-shop',
  clientSecretEnv: 'SHOP_SECRET',
  handoffTargets: ['drivers'],
}
const drivers = {
  id: 'drivers',
  publicUrl: 'https://drivers.example.net',
  clientId: 'acme-drivers',
  clientSecretEnv: 'DRIVERS_SECRET',
  cookieName: 'drv',
  upstreams: ['orders'],
}

function problems(env: Record<string, string>): string[] {
  try {
    loadConfig(env)
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => p.replace(env.KEYWARD_CONFIG, 'FILE'))
    throw err
  }
  return []
}

describe('KEYWARD_CONFIG: several apps in one file', () => {
  test('each app has its origin, client, secret from the environment, cookie, handoff targets and upstreams', () => {
    const config = loadConfig(envWith({ apps: [shop, drivers] }))
    expect(config.apps.map((a) => [a.id, a.publicUrl.host, a.clientId, a.clientSecret, a.cookie.name])).toEqual([
      ['shop', 'shop.example.com', 'acme-shop', 'shop-secret', '__Host-keyward'],
      ['drivers', 'drivers.example.net', 'acme-drivers', 'drivers-secret', '__Host-drv'],
    ])
    expect([...config.apps[0].handoffTargets]).toEqual(['drivers'])
    expect([...config.apps[1].handoffTargets]).toEqual([])
    expect([...config.apps[0].upstreams]).toEqual(['orders', 'billing']) // all, when not said
    expect([...config.apps[1].upstreams]).toEqual(['orders'])
    expect(config.apps[1].scopes).toBe('openid profile email')
  })

  test('each problem is named by its place in the file, with what a right value looks like', () => {
    const env = envWith({
      apps: [
        { ...shop, publicUrl: 'http://shop.example.com', handoffTargets: ['nowhere', 'shop'] },
        { ...drivers, clientSecretEnv: 'MISSING_SECRET', upstreams: ['payroll'], cookeName: 'typo' },
        { ...drivers, publicUrl: 'https://drivers.example.net/app' },
      ],
    })
    expect(problems(env)).toEqual([
      'FILE: apps[1]: Unrecognized key: "cookeName"',
      'FILE: apps[2].publicUrl: an origin without a path, e.g. https://drivers.example.net',
    ])
    const env2 = envWith({
      apps: [
        { ...shop, publicUrl: 'http://shop.example.com', handoffTargets: ['nowhere', 'shop'] },
        { ...drivers, clientSecretEnv: 'MISSING_SECRET', upstreams: ['payroll'] },
        { ...drivers, publicUrl: 'https://drivers.example.net' },
      ],
    })
    expect(problems(env2)).toEqual([
      'FILE: apps[0].publicUrl: must be https unless it is http://localhost (or a name under it) or http://127.0.0.1 (got "http://shop.example.com")',
      "FILE: apps[1].clientSecretEnv: MISSING_SECRET is not set; set it to the client's secret",
      'FILE: apps[1].upstreams: "payroll" is not one of UPSTREAMS (orders, billing)',
      'FILE: apps[0].handoffTargets: "nowhere" is not the id of another app',
      'FILE: apps[0].handoffTargets: "shop" is not the id of another app',
      'FILE: apps[2].id: "drivers" is already the id of apps[1]',
      'FILE: apps[2].publicUrl: drivers.example.net already serves apps[1]; the Host picks the app, so each needs its own',
    ])
  })

  test('an app pushes its logins (PAR) when its "par" says so; OIDC_PAR beside a file is refused', () => {
    const config = loadConfig(envWith({ apps: [{ ...shop, par: true }, drivers] }))
    expect(config.apps.map((a) => a.par)).toEqual([true, false])
    expect(problems(envWith({ apps: [{ ...shop, par: 'yes' }] }))).toEqual([
      'FILE: apps[0].par: true or false: whether logins are pushed to Keycloak first (PAR)',
    ])
    expect(problems(envWith({ apps: [drivers] }, { OIDC_PAR: 'true' }))).toEqual([
      "OIDC_PAR: with KEYWARD_CONFIG, each app's settings are in that file; unset OIDC_PAR",
    ])
  })

  test('an app binds its tokens to keys (DPoP) when its "dpop" says so; OIDC_DPOP beside a file is refused', () => {
    const config = loadConfig(envWith({ apps: [shop, { ...drivers, dpop: true }] }))
    expect(config.apps.map((a) => a.dpop)).toEqual([false, true])
    expect(problems(envWith({ apps: [{ ...shop, dpop: 1 }] }))).toEqual([
      "FILE: apps[0].dpop: true or false: whether the app's tokens are bound to a key of each session (DPoP)",
    ])
    expect(problems(envWith({ apps: [drivers] }, { OIDC_DPOP: 'true' }))).toEqual([
      "OIDC_DPOP: with KEYWARD_CONFIG, each app's settings are in that file; unset OIDC_DPOP",
    ])
  })

  test('the single-app variables are refused beside a file; a file that is not JSON is named', () => {
    expect(
      problems(envWith({ apps: [drivers] }, { PUBLIC_URL: 'https://x.example.com', OIDC_CLIENT_ID: 'x' })),
    ).toEqual([
      "PUBLIC_URL: with KEYWARD_CONFIG, each app's settings are in that file; unset PUBLIC_URL",
      "OIDC_CLIENT_ID: with KEYWARD_CONFIG, each app's settings are in that file; unset OIDC_CLIENT_ID",
    ])
    expect(problems(envWith('{"apps": ['))[0]).toMatch(/^KEYWARD_CONFIG: FILE is not JSON \(/)
    expect(problems(envWith({ apps: [] }))).toEqual(['FILE: apps: at least one app'])
    expect(problems({ ...envWith({ apps: [shop] }), KEYWARD_CONFIG: join(dir, 'absent.json') })[0]).toMatch(
      /^KEYWARD_CONFIG: FILE could not be read \(ENOENT/,
    )
  })

  test('an app another deployment serves needs no secret here; its codes are redeemed at its redeemUrl', () => {
    const remoteDrivers = {
      id: 'drivers',
      publicUrl: 'https://drivers.example.net',
      clientId: 'acme-drivers',
      remote: {},
    }
    const config = loadConfig(envWith({ apps: [shop, remoteDrivers] }, { DRIVERS_SECRET: '' }))
    expect(config.apps[1].remote).toEqual({ redeemUrl: new URL('https://drivers.example.net') })
    expect(config.apps[0].remote).toBeUndefined()
    const internal = { ...remoteDrivers, remote: { redeemUrl: 'https://keyward-drivers.internal' } }
    expect(loadConfig(envWith({ apps: [shop, internal] })).apps[1].remote!.redeemUrl.host).toBe(
      'keyward-drivers.internal',
    )
    expect(problems(envWith({ apps: [{ ...shop, handoffTargets: [], remote: {} }] }))).toEqual([
      'FILE: apps: at least one app this deployment serves',
    ])
    expect(problems(envWith({ apps: [{ ...shop, clientSecretEnv: undefined }] }))).toEqual([
      "FILE: apps[0].clientSecretEnv: the name of the environment variable holding the client's secret, e.g. DRIVERS_CLIENT_SECRET (not set)",
      'FILE: apps[0].handoffTargets: "drivers" is not the id of another app',
    ])
  })

  test("a second secret during a rotation comes from the variable the file names; a back-channel logout URL of the app's own", () => {
    const apps = loadConfig(
      envWith(
        {
          apps: [
            {
              ...shop,
              nextClientSecretEnv: 'SHOP_NEXT_SECRET',
              backchannelLogoutUrl: 'http://keyward:3000/auth/backchannel-logout',
            },
            drivers,
          ],
        },
        { SHOP_NEXT_SECRET: 'shop-next' },
      ),
    ).apps
    expect(apps[0]).toMatchObject({ clientSecret: 'shop-secret', nextClientSecret: 'shop-next' })
    expect(apps[0].backchannelLogoutUrl.href).toBe('http://keyward:3000/auth/backchannel-logout')
    expect(apps[1].backchannelLogoutUrl.href).toBe('https://drivers.example.net/auth/backchannel-logout')
    expect(problems(envWith({ apps: [{ ...shop, nextClientSecretEnv: 'SHOP_NEXT_SECRET' }, drivers] }))).toEqual([
      `FILE: apps[0].nextClientSecretEnv: SHOP_NEXT_SECRET is not set; set it, or leave the field out`,
    ])
  })
})
