import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { decodeJwt, decodeProtectedHeader } from 'jose'
import { Browser } from '../../harness/browser'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { openTokens, startKeyward, waitUntil, type RunningKeyward } from '../../harness/keyward'
import { startDemoApi } from '../../harness/demo-api'
import { freePort } from '../../harness/redis-server'
import { tempDir } from '../../harness/temp-dir'
import { TlsFront } from '../../harness/tls-front'
import { addUser, keywardKeycloak as cli } from '../support/keycloak-cli'
import { api, refreshCount, storedSession, untilExpired } from '../support/refresh-fixture'

// Keycloak's own FAPI 2.0 enforcement: a realm whose client policy applies Keycloak's built-in
// `fapi-2-dpop-security-profile` (confidential client, "Signed JWT" client authentication with an
// assertion whose audience is the issuer, https URIs only, PS256 tokens, consent, no full scope,
// PKCE S256, pushed requests only, DPoP-bound tokens) to every client. keyward runs with a key, PAR and
// DPoP behind https (a TLS front with the certificate Keycloak trusts, which Keycloak fetches the
// JWKS and posts back-channel logouts through). The demo API checks every proof.
/** The code block of docs/fapi2.md whose info string is `<lang> fapi2-<name>`: the realm and settings as written there. */
function documented(name: string): string {
  const doc = readFileSync(join(__dirname, '../../docs/fapi2.md'), 'utf8')
  const block = new RegExp('```\\w+ fapi2-' + name + '\\n([\\s\\S]*?)```').exec(doc)
  if (!block) throw new Error(`docs/fapi2.md has no fapi2-${name} block`)
  return block[1]
}

describe("FAPI 2.0 (Keycloak's fapi-2-dpop-security-profile) against a live Keycloak", () => {
  const realm = `fapi2-${randomBytes(4).toString('hex')}`
  const admin = new KeycloakAdmin(realm)
  const dir = tempDir('fapi2')
  const keyFile = join(dir, 'client-key.pem')
  writeFileSync(
    keyFile,
    generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }),
  )
  // One prefix and cookie secret: every keyward started here serves the same sessions.
  const shared = {
    REDIS_PREFIX: `kw-fapi-${randomBytes(3).toString('hex')}:`,
    SESSION_SECRET: randomBytes(32).toString('hex'),
  }
  let front: TlsFront
  let kw: RunningKeyward
  let demoApi: Awaited<ReturnType<typeof startDemoApi>>
  let demoUrl: string
  /** keyward behind the TLS front: its public URL is https. */
  const env = () => ({
    ...settings,
    PUBLIC_URL: front.url,
    TRUST_PROXY: '1',
    ...shared,
    UPSTREAMS: JSON.stringify({ demo: demoUrl }),
  })
  // The documented settings, but for where this test's key is and its own realm and client.
  const { PUBLIC_URL: _documentedUrl, ...documentedEnv } = Object.fromEntries(
    documented('env')
      .trim()
      .split('\n')
      .map((line) => line.split('=', 2)),
  ) as Record<string, string>
  const settings = {
    ...documentedEnv,
    KEYCLOAK_REALM: realm,
    OIDC_CLIENT_ID: 'fapi',
    OIDC_CLIENT_SECRET: '',
    OIDC_CLIENT_KEY_FILE: keyFile,
  }
  const clientErrors = () => admin.clientErrors('fapi')
  /** Keycloak's error events for the client since `before` (a count of them), newest first. */
  const errorsSince = async (before: number) => {
    const all = await clientErrors()
    return all.slice(0, all.length - before)
  }

  beforeAll(async () => {
    demoApi = await startDemoApi(realm)
    demoUrl = demoApi.url
    await admin.create({
      id: realm,
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
        'PUSHED_AUTHORIZATION_REQUEST',
        'PUSHED_AUTHORIZATION_REQUEST_ERROR',
      ],
    })
    // FAPI 2.0 signs tokens with PS256: the realm gets a key for it.
    await admin.call('POST', '/components', { ...JSON.parse(documented('key')), parentId: realm })
    await admin.call('PUT', '/client-policies/policies', JSON.parse(documented('policy')))
    await addUser(admin, 'dana')
    const port = await freePort()
    front = await TlsFront.start(port)
    kw = await startKeyward(env(), { port })
  })
  afterAll(async () => {
    await kw?.close()
    await front?.close()
    await demoApi?.close()
    await admin.drop()
  })

  test('setup creates a client the profile accepts; a login (with consent) gets PS256 tokens bound to the session key; the demo API through the proxy and a refresh at expiry on two instances (one) pass with no client error', async () => {
    const setup = await cli('setup', { PUBLIC_URL: front.url, ...settings })
    expect(setup.out).toContain('doctor: no problems')
    expect(setup.code).toBe(0)
    const client = await admin.client('fapi')
    // What the profile's executors set up themselves.
    expect(client).toMatchObject({
      consentRequired: true,
      fullScopeAllowed: false,
      clientAuthenticatorType: 'client-jwt',
    })
    expect(client.attributes).toMatchObject({
      'dpop.bound.access.tokens': 'true',
      'require.pushed.authorization.requests': 'true',
    })

    const other = await startKeyward(env())
    try {
      const b = new Browser({ https: front.url, http: kw.url })
      // The same browser, its calls reaching the other instance.
      const b2 = new Browser({ https: front.url, http: other.url }, b.jar)
      await b.login(front.url, 'dana', 'dana-password')
      const session = (await storedSession(kw))!
      const { accessToken } = openTokens((await kw.redis.hgetBuffer(session.key, 't'))!, session.id)
      expect(decodeProtectedHeader(accessToken).alg).toBe('PS256')
      expect(decodeJwt(accessToken).cnf).toHaveProperty('jkt')
      const hello = await b.request(`${front.url}/api/demo/hello`, { headers: api })
      expect(hello.status).toBe(200)

      await untilExpired(session)
      const calls = await Promise.all(
        Array.from({ length: 10 }, (_, i) => [b, b2][i % 2].request(`${front.url}/api/demo/hello`, { headers: api })),
      )
      expect(calls.map((c) => c.status)).toEqual(Array(10).fill(200))
      expect(await refreshCount(admin, 'dana', session.sid)).toBe(1)
    } finally {
      await other.close()
    }
    expect(await clientErrors()).toEqual([])
  })

  test('logout and a back-channel logout (posted by Keycloak over https) end the session at Keycloak and here; a revocation, which the profile refuses at Keycloak, ends it here with its key', async () => {
    const userSessions = async () => (await admin.userSessions('dana')).length
    const loggedIn = async () => {
      const b = new Browser({ https: front.url, http: kw.url })
      await b.login(front.url, 'dana', 'dana-password')
      expect(await hello(b)).toBe(200)
      return b
    }
    const hello = async (b: Browser) => (await b.request(`${front.url}/api/demo/hello`, { headers: api })).status
    const post = (b: Browser, path: string) => b.request(`${front.url}${path}`, { method: 'POST', headers: api })
    const errorsBefore = (await clientErrors()).length

    // Keycloak's dpop-bind-enforcer wants a revoked token bound to the proof's key, and Keycloak binds
    // no refresh token of a confidential client: it refuses. keyward ends the session, key and all.
    const revoked = await loggedIn()
    const listed = await userSessions()
    expect((await post(revoked, '/auth/revoke')).status).toBe(200)
    expect(await hello(revoked)).toBe(401)
    expect(kw.logs.join('')).toContain("Keycloak's DPoP policy refuses to revoke a refresh token it bound to no key")
    expect(await userSessions()).toBe(listed)
    expect(await errorsSince(errorsBefore)).toEqual(['REVOKE_GRANT_ERROR invalid_token'])

    const loggedOut = await loggedIn()
    expect((await post(loggedOut, '/auth/logout')).status).toBe(200)
    expect(await hello(loggedOut)).toBe(401)
    expect(await userSessions()).toBe(listed)

    const ended = await loggedIn()
    await admin.call('POST', `/users/${await admin.userId('dana')}/logout`)
    // Ended by Keycloak's post over https, well before its 10-second token could have run out.
    await waitUntil(async () => (await hello(ended)) === 401, 3_000)
    expect(kw.logs.join('')).toMatch(/"method":"POST","path":"\/auth\/backchannel-logout","status":200/)
    expect(await userSessions()).toBe(0)
    // The only errors: the revocations the profile refuses (the one above, and the one a logout makes
    // for an offline token's sake, after Keycloak ended the session).
    expect(await errorsSince(errorsBefore)).toEqual(Array(2).fill('REVOKE_GRANT_ERROR invalid_token'))
  })

  test("the profile is enforced: a keyward without DPoP is refused its tokens; today's keyward, with a client secret, is named by the doctor, and the client cannot be made to take one", async () => {
    /** The newest event of `type` in the realm (a policy's refusal names no client), if it is new. */
    const since = Date.now()
    const latest = async (type: string) =>
      (await admin.call<{ time: number }[]>('GET', `/events?type=${type}&max=1`)).find((e) => e.time >= since)
    const withoutDpop = await startKeyward({ ...env(), OIDC_DPOP: 'false' })
    try {
      const hops = await new Browser({ https: front.url, http: withoutDpop.url }).login(
        front.url,
        'dana',
        'dana-password',
      )
      const callback = hops.find((h) => h.url.startsWith(`${front.url}/auth/callback`))!
      expect(callback.status).toBe(400)
      expect(await latest('CODE_TO_TOKEN_ERROR')).toMatchObject({
        details: { reason: 'client_policy_error', client_policy_error_detail: 'DPoP proof is missing' },
      })
    } finally {
      await withoutDpop.close()
    }
    // Today's keyward, with a client secret: the doctor names the mismatch, and the client cannot be
    // made to take a secret (the profile's secure-client-authenticator refuses the change).
    const withSecret = await cli('setup', {
      PUBLIC_URL: front.url,
      KEYCLOAK_REALM: realm,
      OIDC_CLIENT_ID: 'fapi',
      OIDC_CLIENT_SECRET: randomBytes(16).toString('hex'),
    })
    expect(withSecret.code).toBe(1)
    expect(withSecret.out).toContain('the client authenticates with client-jwt, but keyward with a secret')
    const client = await admin.client('fapi')
    await expect(
      admin.call('PUT', `/clients/${client.id}`, { ...client, clientAuthenticatorType: 'client-secret' }),
    ).rejects.toThrow(/: 400 /)
    expect((await admin.client('fapi')).clientAuthenticatorType).toBe('client-jwt')
  })
})
