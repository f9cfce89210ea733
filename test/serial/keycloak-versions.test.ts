import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { Browser } from '../../harness/browser'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { keycloakUrl, startKeyward, waitUntil, type RunningKeyward } from '../../harness/keyward'
import { Upstream } from '../../harness/upstream'
import { TESTED_KEYCLOAK } from '../../src/setup/version-checks'
import { addUser, keywardKeycloak, shopAndDrivers, shopAndDriversFile } from '../support/keycloak-cli'
import { api, storedAccessClaims, storedSession, type StoredSession } from '../support/refresh-fixture'

// The oldest Keycloak keyward claims to support runs beside the usual one (the newest), on a port of
// its own, from Maven like the other: the same flows run against both. It takes a minute to start, so
// this runs with the serial suites.
const script = join(__dirname, '../../scripts/keycloak.sh')
const oldest: NodeJS.ProcessEnv = {
  ...process.env,
  KEYCLOAK_URL: '',
  KEYCLOAK_VERSION: TESTED_KEYCLOAK.oldest,
  KEYCLOAK_PORT: '8183',
  KEYCLOAK_MANAGEMENT_PORT: '9183',
}

const versions = [
  { version: TESTED_KEYCLOAK.oldest, base: 'http://127.0.0.1:8183', own: true },
  { version: process.env.KEYCLOAK_VERSION ?? TESTED_KEYCLOAK.newest, base: keycloakUrl(), own: false },
]

describe.each(versions)('Keycloak $version', ({ version, base, own }) => {
  const realm = `compat-${randomBytes(4).toString('hex')}`
  const admin = new KeycloakAdmin(realm, base)
  let kw: RunningKeyward
  let upstream: Upstream
  let env: Record<string, string>
  const browser = new Browser()

  beforeAll(async () => {
    if (own) execFileSync('bash', [script, 'start'], { env: oldest, stdio: ['ignore', 'ignore', 'inherit'] })
    // Rotation on, reuse none; 10-second access tokens; the refreshes recorded as Keycloak's events.
    await admin.create({
      revokeRefreshToken: true,
      refreshTokenMaxReuse: 0,
      accessTokenLifespan: 10,
      eventsEnabled: true,
      enabledEventTypes: ['LOGIN', 'REFRESH_TOKEN', 'REFRESH_TOKEN_ERROR', 'TOKEN_EXCHANGE', 'LOGOUT'],
    })
    await addUser(admin, 'erin')
    upstream = await Upstream.start(realm, base)
    kw = await startKeyward(
      { KEYCLOAK_URL: base, KEYCLOAK_REALM: realm, UPSTREAMS: JSON.stringify({ echo: upstream.url }) },
      { adjust: shopAndDrivers() },
    )
    env = shopAndDriversFile(kw.url, realm)
  }, 300_000)
  afterAll(async () => {
    await kw?.close()
    await upstream?.close()
    await admin.drop().catch(() => undefined)
    if (own) execFileSync('bash', [script, 'stop'], { env: oldest, stdio: 'inherit' })
  })

  const session = () => browser.request(`${kw.url}/auth/session`)

  test('setup makes the clients, and the doctor names the version and finds nothing wrong', async () => {
    const setup = await keywardKeycloak('setup', env, base)
    expect(setup.out).toContain(`Keycloak ${version}`)
    expect(setup.out).toContain('doctor: no problems')
    expect(setup.code).toBe(0)
  })

  test('login; at expiry, eight calls at once make one refresh at Keycloak, with rotation', async () => {
    await browser.login(kw.url, 'erin', 'erin-password')
    expect((await session()).status).toBe(200)
    const stored = (await storedSession(kw)) as StoredSession
    await new Promise((r) => setTimeout(r, Math.max(0, stored.accessExpiresAt - Date.now() + 300)))
    const calls = await Promise.all(
      Array.from({ length: 8 }, () => browser.request(`${kw.url}/api/echo/x`, { headers: api })),
    )
    expect(calls.map((c) => c.status)).toEqual(Array(8).fill(200))
    const refreshes = (await admin.events('erin', 'REFRESH_TOKEN')).filter((e) => e.sessionId === stored.sid)
    expect(refreshes).toHaveLength(1)
    expect(await admin.events('erin', 'REFRESH_TOKEN_ERROR')).toEqual([])
    expect((await storedSession(kw))!.version).toBe(stored.version + 1)
  }, 30_000)

  test('handoff to the sibling app by Standard Token Exchange: its own session, same Keycloak session', async () => {
    const started = await browser.request(`${kw.url}/auth/handoff`, {
      method: 'POST',
      headers: { ...api, 'content-type': 'application/json' },
      body: JSON.stringify({ target: 'drivers' }),
    })
    expect(started.status).toBe(200)
    const done = await browser.request((JSON.parse(started.text) as { url: string }).url)
    expect(done.status).toBe(302)
    const keys = (await kw.keys()).filter((k) => k.includes(':tok:'))
    expect(keys).toHaveLength(2)
    const sessions = await Promise.all(keys.map((k) => storedSession({ ...kw, keys: async () => [k] })))
    const claims = await Promise.all(sessions.map((s) => storedAccessClaims(kw, s!)))
    expect(claims.map((c) => c.azp).sort()).toEqual(['drivers', 'shop'])
    expect(new Set(sessions.map((s) => s!.sid)).size).toBe(1)
  })

  test("Keycloak's back-channel logout ends both apps' sessions here", async () => {
    const { sid } = (await storedSession(kw))!
    await admin.call('DELETE', `/sessions/${sid}`)
    await waitUntil(async () => (await session()).status === 401, 10_000)
    expect((await kw.keys()).filter((k) => k.includes(':tok:'))).toEqual([])
  })

  test('an offline ("remember me") session: kept by Keycloak as one, refreshed at expiry', async () => {
    const remembering = new Browser()
    await remembering.login(kw.url, 'erin', 'erin-password', '/auth/login?offline=1')
    const info = JSON.parse((await remembering.request(`${kw.url}/auth/session`)).text) as { kind: string }
    expect(info.kind).toBe('offline')
    expect(await admin.offlineSessions('erin', 'shop')).toHaveLength(1)
    const stored = (await storedSession(kw))!
    await new Promise((r) => setTimeout(r, Math.max(0, stored.accessExpiresAt - Date.now() + 300)))
    expect((await remembering.request(`${kw.url}/api/echo/x`, { headers: api })).status).toBe(200)
    expect((await storedSession(kw))!.version).toBe(stored.version + 1)
    expect((await remembering.request(`${kw.url}/auth/revoke`, { method: 'POST', headers: api })).status).toBe(200)
    expect(await admin.offlineSessions('erin', 'shop')).toEqual([])
  }, 30_000)
})
