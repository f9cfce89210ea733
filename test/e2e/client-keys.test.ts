import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Browser } from '../../harness/browser'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { startKeyward, type RunningKeyward } from '../../harness/keyward'
import { freePort } from '../../harness/redis-server'
import { tempDir } from '../../harness/temp-dir'
import { Upstream } from '../../harness/upstream'
import { addUser, keywardKeycloak as cli } from '../support/keycloak-cli'
import { api, refreshCount, storedSession, untilExpired, type StoredSession } from '../support/refresh-fixture'

// keyward authenticating to Keycloak with a key instead of a secret (private_key_jwt), on a realm of
// its own that setup prepares: Keycloak fetches the keys from keyward's /auth/jwks and checks an
// assertion on every call (code, refresh, revocation, logout).
describe('private_key_jwt against a live Keycloak', () => {
  const realm = `pkjwt-${randomBytes(4).toString('hex')}`
  const admin = new KeycloakAdmin(realm)
  const dir = tempDir('client-keys')
  const keyFile = (name: string, text: string) => {
    writeFileSync(join(dir, name), text)
    return join(dir, name)
  }
  // The first key a PEM (EC P-256: ES256), the second a JWK with a kid of its own (RSA: PS256).
  const first = keyFile(
    'first.pem',
    generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
  )
  const second = keyFile(
    'second.json',
    JSON.stringify({
      ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
      kid: 'rotation-2',
    }),
  )
  let upstream: Upstream
  let port: number
  let kw: RunningKeyward
  // The same prefix and cookie secret across restarts: sessions outlive each keyward.
  const kept = {
    REDIS_PREFIX: `kwtest:${randomBytes(4).toString('hex')}:`,
    SESSION_SECRET: randomBytes(32).toString('hex'),
  }
  const settings = (keys: Record<string, string>) => ({
    KEYCLOAK_REALM: realm,
    OIDC_CLIENT_ID: 'pk',
    OIDC_CLIENT_SECRET: '',
    OIDC_CLIENT_AUTH: 'private_key_jwt',
    ...keys,
  })
  const run = async (keys: Record<string, string>, upstreams: object = { echo: upstream.url }) => {
    await kw?.close()
    kw = await startKeyward({ ...settings(keys), ...kept, UPSTREAMS: JSON.stringify(upstreams) }, { port })
  }
  const callApi = async (browser: Browser) => (await browser.request(`${kw.url}/api/echo/me`, { headers: api })).status
  /**
   * Keycloak's error events for the client about its authentication (a refused assertion is
   * `invalid_client_credentials`, on CODE_TO_TOKEN_ERROR, REFRESH_TOKEN_ERROR, …). Not counted: a
   * logout's revocation after Keycloak ended the session (REVOKE_GRANT_ERROR user_session_not_found).
   */
  const authErrors = async () =>
    (await admin.call<{ type: string; error?: string }[]>('GET', '/events?client=pk&max=500'))
      .filter((e) => e.type.endsWith('_ERROR') && e.error?.includes('client'))
      .map((e) => `${e.type} ${e.error}`)

  beforeAll(async () => {
    upstream = await Upstream.start(realm)
    port = await freePort()
    await admin.create({
      accessTokenLifespan: 10,
      revokeRefreshToken: true,
      refreshTokenMaxReuse: 0,
      eventsEnabled: true,
      enabledEventTypes: [
        'LOGIN',
        'CODE_TO_TOKEN',
        'CODE_TO_TOKEN_ERROR',
        'REFRESH_TOKEN',
        'REFRESH_TOKEN_ERROR',
        'LOGOUT',
        'LOGOUT_ERROR',
        'REVOKE_GRANT',
        'REVOKE_GRANT_ERROR',
        'CLIENT_LOGIN',
        'CLIENT_LOGIN_ERROR',
        'TOKEN_EXCHANGE',
        'TOKEN_EXCHANGE_ERROR',
      ],
    })
    await addUser(admin, 'dana')
    await run({ OIDC_CLIENT_KEY_FILE: first })
  })
  afterAll(async () => {
    await kw?.close()
    await upstream.close()
    await admin.drop()
  })

  test('setup creates the client with "Signed JWT" and keyward\'s JWKS URL; the doctor then finds nothing; login, refresh, revocation and logout each authenticate with an assertion', async () => {
    const setup = await cli('setup', { PUBLIC_URL: kw.url, ...settings({ OIDC_CLIENT_KEY_FILE: first }) })
    expect(setup.out).toContain('changed: app web (client pk): create pk')
    expect(setup.out).toContain('doctor: no problems')
    expect(setup.code).toBe(0)
    const client = await admin.client('pk')
    expect(client).toMatchObject({
      clientAuthenticatorType: 'client-jwt',
      attributes: expect.objectContaining({ 'use.jwks.url': 'true', 'jwks.url': `${kw.url}/auth/jwks` }),
    })

    // Two sessions: one refreshed, then revoked; the other logged out.
    const revoked = new Browser()
    await revoked.login(kw.url, 'dana', 'dana-password')
    const session = (await storedSession(kw))!
    const loggedOut = new Browser()
    await loggedOut.login(kw.url, 'dana', 'dana-password')
    expect(await admin.userSessions('dana')).toHaveLength(2)
    expect(await callApi(revoked)).toBe(200)
    await untilExpired(session)
    expect(await callApi(revoked)).toBe(200)
    expect(await refreshCount(admin, 'dana', session.sid)).toBe(1)

    const post = (b: Browser, path: string) => b.request(`${kw.url}${path}`, { method: 'POST', headers: api })
    expect((await post(revoked, '/auth/revoke')).status).toBe(200)
    expect((await post(loggedOut, '/auth/logout')).status).toBe(200)
    expect(await admin.userSessions('dana')).toEqual([]) // both ended at Keycloak
    expect(await authErrors()).toEqual([])
  })

  test('a key rotation with a live session: the next key published, then signing, then the old one removed; every refresh accepted', async () => {
    const before = await kw.keys()
    const browser = new Browser()
    await browser.login(kw.url, 'dana', 'dana-password')
    let session = (await storedSession(kw, before))!
    const kids = async () =>
      ((await (await fetch(`${kw.url}/auth/jwks`)).json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid)
    const [firstKid] = await kids()
    /** After keyward restarts with `keys`: the session's token expires, and its next call refreshes it. */
    const refreshedWith = async (keys: Record<string, string>) => {
      await run(keys)
      await untilExpired(session)
      expect(await callApi(browser)).toBe(200)
      const now: StoredSession = (await storedSession(kw, before))!
      expect(now.version).toBe(session.version + 1)
      session = now
      // The first key tried was accepted: keyward never fell back to the other one.
      expect(kw.logs.join('')).not.toMatch(/now accepts the other client/)
    }

    await refreshedWith({ OIDC_CLIENT_KEY_FILE: first, OIDC_CLIENT_KEY_NEXT_FILE: second })
    expect(await kids()).toEqual([firstKid, 'rotation-2'])
    await refreshedWith({ OIDC_CLIENT_KEY_FILE: second, OIDC_CLIENT_KEY_NEXT_FILE: first })
    await refreshedWith({ OIDC_CLIENT_KEY_FILE: second })
    expect(await kids()).toEqual(['rotation-2'])

    expect(await refreshCount(admin, 'dana', session.sid)).toBe(3)
    expect(await authErrors()).toEqual([])
    const doctor = await cli('doctor', { PUBLIC_URL: kw.url, ...settings({ OIDC_CLIENT_KEY_FILE: second }) })
    expect(doctor.out).toContain('doctor: no problems')
  })

  test("client credentials and token exchange authenticate with keyward's key too", async () => {
    // An API with a client of its own (pk-api, the audience of its exchanged tokens), and pk's service account.
    await admin.call('POST', '/clients', {
      clientId: 'pk-api',
      enabled: true,
      publicClient: false,
      standardFlowEnabled: false,
    })
    const pk = await admin.client('pk')
    await admin.call('PUT', `/clients/${pk.id}`, { ...pk, serviceAccountsEnabled: true })
    const upstreams = {
      echo: upstream.url,
      own: { url: upstream.url, audience: 'pk-api' },
      svc: { url: upstream.url, token: 'client' },
    }
    const env = { ...settings({ OIDC_CLIENT_KEY_FILE: second }), UPSTREAMS: JSON.stringify(upstreams) }
    const setup = await cli('setup', { PUBLIC_URL: kw.url, ...env }) // the exchange's switch and audience mapper
    expect(setup.out).toContain('doctor: no problems')
    await run({ OIDC_CLIENT_KEY_FILE: second }, upstreams)

    const browser = new Browser()
    await browser.login(kw.url, 'dana', 'dana-password')
    const claims = async (path: string) => {
      const res = await browser.request(`${kw.url}/api/${path}`, { headers: api })
      expect([path, res.status]).toEqual([path, 200])
      return upstream.seen.at(-1)!.claims!
    }
    const exchanged = await claims('own/x')
    expect([exchanged.aud, exchanged.azp, exchanged.sub]).toEqual(['pk-api', 'pk', await admin.userId('dana')])
    const service = await claims('svc/x')
    expect([service.azp, service.preferred_username]).toEqual(['pk', 'service-account-pk'])
    const events = await admin.call<{ type: string }[]>('GET', '/events?client=pk&max=500')
    expect(events.filter((e) => e.type === 'TOKEN_EXCHANGE')).toHaveLength(1)
    expect(events.filter((e) => e.type === 'CLIENT_LOGIN')).toHaveLength(1)
    expect(await authErrors()).toEqual([])
  })

  test('Keycloak checks the signature: another key under a kid it knows is refused, 503 client_misconfigured, the session kept', async () => {
    const before = await kw.keys() // the last test's session is still there
    const browser = new Browser()
    await browser.login(kw.url, 'dana', 'dana-password')
    const session = (await storedSession(kw, before))!
    const impostor = keyFile(
      'impostor.json',
      JSON.stringify({
        ...generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }),
        kid: 'rotation-2', // Keycloak holds the real rotation-2, so it does not fetch the JWKS again
      }),
    )
    await run({ OIDC_CLIENT_KEY_FILE: impostor })
    await untilExpired(session)
    const res = await browser.request(`${kw.url}/api/echo/me`, { headers: api })
    expect(res.status).toBe(503)
    expect(JSON.parse(res.text)).toMatchObject({ code: 'client_misconfigured' })
    expect(await authErrors()).toEqual(['REFRESH_TOKEN_ERROR invalid_client_credentials'])
    expect((await storedSession(kw, before))!.version).toBe(session.version) // kept, for keyward's configuration to be mended
  })
})
