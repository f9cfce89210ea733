import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { ServerConfig as Config } from '../../src/config/load'
import { Browser } from '../../harness/browser'
import { tempDir } from '../../harness/temp-dir'
import type { KeycloakAdmin } from '../../harness/keycloak-admin'
import { keycloakUrl, TEST_KEYS } from '../../harness/keyward'

let dir: string | undefined // made on first use, inside the test run's folder

/** Runs `keyward-keycloak <command>` as a user would, with keyward's environment and a KEYWARD_CONFIG file. */
export function keywardKeycloak(
  command: 'doctor' | 'setup',
  env: Record<string, string>,
  keycloak = keycloakUrl(),
): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/setup/cli.ts', command],
      {
        env: {
          PATH: process.env.PATH,
          KEYCLOAK_URL: keycloak,
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

/** A KEYWARD_CONFIG file for `apps`, each client's secret `<client>-dev-secret`; returns the environment naming it. */
export function configFile(
  apps: { id: string; publicUrl: string; clientId: string; targets?: string[]; tokenExchange?: string }[],
): Record<string, string> {
  dir ??= tempDir('setup')
  const path = join(dir, `${randomBytes(4).toString('hex')}.json`)
  const env: Record<string, string> = { KEYWARD_CONFIG: path }
  const file = apps.map((a) => {
    env[`${a.id.toUpperCase()}_SECRET`] = `${a.clientId}-dev-secret`
    return {
      id: a.id,
      publicUrl: a.publicUrl,
      clientId: a.clientId,
      clientSecretEnv: `${a.id.toUpperCase()}_SECRET`,
      handoffTargets: a.targets ?? [],
      ...(a.tokenExchange ? { tokenExchange: a.tokenExchange } : {}),
    }
  })
  writeFileSync(path, JSON.stringify({ apps: file }))
  return env
}

/** keyward serving `shop` on 127.0.0.1 and `drivers` on localhost, shop handing sessions to drivers. */
export const shopAndDrivers =
  (driversExchange: 'standard' | 'legacy' = 'standard') =>
  (config: Config): Config => {
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
          backchannelLogoutUrl: new URL('/auth/backchannel-logout', drivers),
          clientId: 'drivers',
          clientSecret: 'drivers-dev-secret',
          handoffTargets: new Set(),
          tokenExchange: driversExchange,
        },
      ],
    }
  }

/** The KEYWARD_CONFIG environment matching `shopAndDrivers` for a keyward at `url`. */
export const shopAndDriversFile = (url: string, realm: string, driversExchange?: 'legacy') => ({
  KEYCLOAK_REALM: realm,
  ...configFile([
    { id: 'shop', publicUrl: url, clientId: 'shop', targets: ['drivers'] },
    {
      id: 'drivers',
      publicUrl: url.replace('127.0.0.1', 'localhost'),
      clientId: 'drivers',
      tokenExchange: driversExchange,
    },
  ]),
})

/** A user who can log in at once (Keycloak 26's user profile wants a name and a verified email). */
export async function addUser(admin: KeycloakAdmin, username: string): Promise<void> {
  await admin.call('POST', '/users', {
    username,
    enabled: true,
    email: `${username}@example.com`,
    emailVerified: true,
    firstName: username,
    lastName: 'Doe',
    credentials: [{ type: 'password', value: `${username}-password`, temporary: false }],
  })
}

/** A browser in which `username` logged in on the app at `url` and handed the session to `target`. */
export async function handedOver(url: string, username: string, target: string): Promise<Browser> {
  const browser = new Browser()
  await browser.login(url, username, `${username}-password`)
  const started = await browser.request(`${url}/auth/handoff`, {
    method: 'POST',
    headers: { 'x-csrf': '1', 'content-type': 'application/json' },
    body: JSON.stringify({ target }),
  })
  if (started.status !== 200) throw new Error(`POST /auth/handoff answered ${started.status}: ${started.text}`)
  const landed = await browser.request((JSON.parse(started.text) as { url: string }).url)
  if (landed.status !== 302) throw new Error(`the handoff URL answered ${landed.status}: ${landed.text}`)
  return browser
}

/** Names of a test's own: a realm role, a user who will hold it and one who will not. */
export function roleNames(prefix: string) {
  const tag = randomBytes(3).toString('hex')
  return { tag, role: `${prefix}-${tag}`, holder: `${prefix}-holder-${tag}`, other: `${prefix}-other-${tag}` }
}

/** Makes the role and both users of `names`, the role given to its holder; the role, to give and take. */
export async function roleAndUsers(admin: KeycloakAdmin, names: ReturnType<typeof roleNames>) {
  const realmRole = await admin.realmRole(names.role)
  await addUser(admin, names.holder)
  await addUser(admin, names.other)
  await realmRole.grant(names.holder)
  return realmRole
}
