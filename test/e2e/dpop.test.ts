import { randomBytes } from 'node:crypto'
import { calculateJwkThumbprint, decodeJwt } from 'jose'
import { Browser } from '../../harness/browser'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { openTokens, startKeyward, type RunningKeyward } from '../../harness/keyward'
import { startDemoApi } from '../../harness/demo-api'
import { startHostApp, testOptions } from '../../harness/host-app'
import { freePort } from '../../harness/redis-server'
import { newDPoPKey } from '../../src/oidc/dpop'
import { dpopProof } from '../../src/domain/dpop-proof'
import type { DPoPKey } from '../../src/domain/token-session'
import type { ServerConfig as Config } from '../../src/config/types'
import { addUser, keywardKeycloak as cli, shopAndDrivers, shopAndDriversFile } from '../support/keycloak-cli'
import { api, refreshCount, storedSession, untilExpired } from '../support/refresh-fixture'

const thumbprint = (key: DPoPKey) => calculateJwkThumbprint({ kty: 'EC', crv: 'P-256', x: key.x, y: key.y })

// Tokens bound to a key of each session (DPoP, RFC 9449), on a realm of its own whose client setup
// makes require them. The upstream is the demo API itself (demo/api.mjs), which checks each proof
// and, here, asks for its DPoP-Nonce: keyward answers the challenge and carries the nonce after.
describe('DPoP-bound tokens against a live Keycloak and the demo API', () => {
  const realm = `dpop-${randomBytes(4).toString('hex')}`
  const admin = new KeycloakAdmin(realm)
  const settings = {
    KEYCLOAK_REALM: realm,
    OIDC_CLIENT_ID: 'bound',
    OIDC_CLIENT_SECRET: randomBytes(16).toString('hex'),
  }
  // One prefix and cookie secret: every keyward started here serves the same sessions.
  const shared = {
    REDIS_PREFIX: `kw-dpop-${randomBytes(3).toString('hex')}:`,
    SESSION_SECRET: randomBytes(32).toString('hex'),
  }
  let demoApi: Awaited<ReturnType<typeof startDemoApi>>
  let demoUrl: string
  let kw: RunningKeyward
  const start = (extra: Record<string, string> = {}) =>
    startKeyward({
      ...settings,
      OIDC_DPOP: 'true',
      ...shared,
      UPSTREAMS: JSON.stringify({ demo: demoUrl }),
      ...extra,
    })
  /** The session's tokens and key, as sealed in Redis. */
  const held = async (k: RunningKeyward) => {
    const s = (await storedSession(k))!
    return { session: s, ...openTokens((await k.redis.hgetBuffer(s.key, 't'))!, s.id) }
  }
  const clientErrors = () => admin.clientErrors('bound')

  /** Keycloak lets the client's logins come back to a keyward at `url` too. */
  const allowCallback = async (url: string) => {
    const client = await admin.client('bound')
    const redirectUris = [...(client.redirectUris as string[]), `${url}/auth/callback`]
    await admin.call('PUT', `/clients/${client.id}`, { ...client, redirectUris })
  }

  beforeAll(async () => {
    demoApi = await startDemoApi(realm, { nonce: true })
    demoUrl = demoApi.url
    await admin.create({
      accessTokenLifespan: 10,
      revokeRefreshToken: true,
      refreshTokenMaxReuse: 0,
      eventsEnabled: true,
      enabledEventTypes: ['LOGIN', 'CODE_TO_TOKEN', 'CODE_TO_TOKEN_ERROR', 'REFRESH_TOKEN', 'REFRESH_TOKEN_ERROR'],
    })
    await addUser(admin, 'dana')
    kw = await start()
  })
  afterAll(async () => {
    await kw?.close()
    await demoApi?.close()
    await admin.drop()
  })

  test("setup makes the client require DPoP; a login's tokens are bound to the session's key, and the demo API takes them with keyward's proofs", async () => {
    const setup = await cli('setup', { PUBLIC_URL: kw.url, ...settings, OIDC_DPOP: 'true' })
    expect(setup.out).toContain('doctor: no problems')
    expect(setup.code).toBe(0)
    expect((await admin.client('bound')).attributes).toMatchObject({ 'dpop.bound.access.tokens': 'true' })

    const browser = new Browser()
    await browser.login(kw.url, 'dana', 'dana-password')
    const { accessToken, dpopKey } = await held(kw)
    expect(dpopKey).toBeDefined()
    const jkt = await thumbprint(dpopKey!)
    expect(decodeJwt(accessToken).cnf).toMatchObject({ jkt })

    // The first call meets the API's nonce challenge, answered once; the next carries the nonce at once.
    for (let i = 0; i < 2; i++) {
      const res = await browser.request(`${kw.url}/api/demo/hello`, { headers: api })
      expect(res.status).toBe(200)
      expect(JSON.parse(res.text)).toMatchObject({ user: 'dana', dpopKeyThumbprint: jkt })
    }
    expect(await clientErrors()).toEqual([])
  })

  test('a stolen access token is refused by the demo API: bare, or with a proof of another key; only a proof of its own key passes, once', async () => {
    const { accessToken, dpopKey } = await held(kw)
    const url = `${demoUrl}/hello`
    const call = (headers: Record<string, string>) => fetch(url, { headers })
    // The nonce the API gives with any refusal.
    const nonce = (await call({ authorization: `Bearer ${accessToken}` })).headers.get('dpop-nonce')!
    const proof = (key: DPoPKey) => dpopProof(key, { method: 'GET', url, accessToken, nonce })

    const bare = await call({ authorization: `Bearer ${accessToken}` })
    expect(bare.status).toBe(401)
    expect((await bare.json()).detail).toContain('bearer use of it is refused')

    const otherKey = await call({ authorization: `DPoP ${accessToken}`, dpop: await proof(newDPoPKey()) })
    expect(otherKey.status).toBe(401)
    expect((await otherKey.json()).detail).toBe('the DPoP proof is made with a key the token is not bound to')

    const noProof = await call({ authorization: `DPoP ${accessToken}` })
    expect(noProof.status).toBe(401)

    // The same check passes a proof of the token's own key (the test can tell), and only once.
    const own = await proof(dpopKey!)
    expect((await call({ authorization: `DPoP ${accessToken}`, dpop: own })).status).toBe(200)
    const replayed = await call({ authorization: `DPoP ${accessToken}`, dpop: own })
    expect(replayed.status).toBe(401)
    expect((await replayed.json()).detail).toBe('the DPoP proof was used before')
  })

  test('at expiry, two instances under parallel calls refresh once, with a proof of the same key: the new token is bound to it', async () => {
    const other = await start()
    try {
      const before = await held(kw)
      const browser = new Browser()
      await browser.login(kw.url, 'dana', 'dana-password')
      const mine = (await storedSession(kw, [before.session.key]))!
      const { dpopKey } = openTokens((await kw.redis.hgetBuffer(mine.key, 't'))!, mine.id)
      await untilExpired(mine)
      const calls = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          browser.request(`${[kw, other][i % 2].url}/api/demo/hello`, { headers: api }),
        ),
      )
      expect(calls.map((c) => c.status)).toEqual(Array(12).fill(200))
      expect(await refreshCount(admin, 'dana', mine.sid)).toBe(1)
      const after = openTokens((await kw.redis.hgetBuffer(mine.key, 't'))!, mine.id)
      expect(after.dpopKey).toEqual(dpopKey)
      expect(decodeJwt(after.accessToken).cnf).toMatchObject({ jkt: await thumbprint(dpopKey!) })
      expect(await clientErrors()).toEqual([])
    } finally {
      await other.close()
    }
  })

  test("no session's private key is in keyward's logs, or in Redis in clear", async () => {
    const keys: DPoPKey[] = []
    for (const key of await kw.keys()) {
      if (!key.includes(':tok:')) continue
      const id = key.slice(key.indexOf('{') + 1, -1)
      keys.push(openTokens((await kw.redis.hgetBuffer(key, 't'))!, id).dpopKey!)
    }
    expect(keys.length).toBeGreaterThanOrEqual(2)
    const logs = kw.logs.join('')
    for (const key of await kw.keys()) {
      const type = await kw.redis.type(key)
      const values =
        type === 'hash'
          ? Object.values(await kw.redis.hgetallBuffer(key))
          : type === 'string'
            ? [(await kw.redis.getBuffer(key))!]
            : []
      for (const { d } of keys) {
        expect(logs).not.toContain(d)
        for (const value of values) {
          expect(value.includes(Buffer.from(d, 'base64url'))).toBe(false)
          expect(value.toString('latin1')).not.toContain(d)
        }
      }
    }
  })

  test("the library: a handler calls the demo API with req.keyward.authorization(), the proof made for it, answering the API's nonce", async () => {
    const port = await freePort()
    await allowCallback(`http://127.0.0.1:${port}`)
    const host = await startHostApp({
      port,
      keyward: (url) =>
        testOptions(url, {
          keycloak: { realm, clientId: 'bound', clientSecret: settings.OIDC_CLIENT_SECRET, dpop: true },
        }),
      routes: (app, k) => {
        app.get('/hello', k.requireSession(), async (req, res) => {
          const url = `${demoUrl}/hello`
          const call = async (nonce?: string) =>
            fetch(url, { headers: await req.keyward.authorization({ method: 'GET', url, nonce }) })
          let answer = await call()
          const nonce = answer.headers.get('dpop-nonce')
          if (answer.status === 401 && nonce) answer = await call(nonce)
          res.status(answer.status).json(await answer.json())
        })
      },
    })
    try {
      const browser = new Browser()
      await browser.login(host.url, 'dana', 'dana-password')
      const res = await browser.request(`${host.url}/hello`)
      expect(res.status).toBe(200)
      expect(JSON.parse(res.text)).toMatchObject({ user: 'dana', dpopKeyThumbprint: expect.any(String) })
    } finally {
      await host.close()
    }
  })

  test('keyward without DPoP: Keycloak refuses its login, and the doctor says which setting is missing', async () => {
    const plain = await startKeyward({ ...settings, UPSTREAMS: JSON.stringify({ demo: demoUrl }) })
    await allowCallback(plain.url)
    try {
      const callback = (await new Browser().login(plain.url, 'dana', 'dana-password')).at(-1)!
      expect(callback.url).toContain(`${plain.url}/auth/callback`)
      expect(callback.status).toBe(400)
      expect(callback.text).toContain('Keycloak refused the code')
      expect(await clientErrors()).toEqual([expect.stringMatching(/^CODE_TO_TOKEN_ERROR /)])
      const doctor = await cli('doctor', { PUBLIC_URL: plain.url, ...settings })
      expect(doctor.code).toBe(1)
      expect(doctor.out).toContain('set OIDC_DPOP=true')
    } finally {
      await plain.close()
    }
  })
})

// A handoff between two apps that bind their tokens: Keycloak exchanges a sender-constrained token
// for no client but its own ("Sender-constrained token exchange rejected as the token was not issued
// for the requesting client"), so keyward refuses to start one, with the way out; a login to the other
// app (single sign-on) gets that app's session a key of its own.
describe('a handoff between DPoP apps against a live Keycloak', () => {
  const realm = `dpop-handoff-${randomBytes(4).toString('hex')}`
  const admin = new KeycloakAdmin(realm)
  let demoApi: Awaited<ReturnType<typeof startDemoApi>>
  let kw: RunningKeyward

  beforeAll(async () => {
    await admin.create({ revokeRefreshToken: true, refreshTokenMaxReuse: 0 })
    await addUser(admin, 'dana')
    demoApi = await startDemoApi(realm)
    const bound = (config: Config): Config => {
      const both = shopAndDrivers()(config)
      return { ...both, apps: both.apps.map((app) => ({ ...app, dpop: true })) }
    }
    kw = await startKeyward(
      { KEYCLOAK_REALM: realm, UPSTREAMS: JSON.stringify({ demo: demoApi.url }) },
      { adjust: bound },
    )
    expect((await cli('setup', shopAndDriversFile(kw.url, realm))).code).toBe(0)
  })
  afterAll(async () => {
    await kw?.close()
    await demoApi?.close()
    await admin.drop()
  })

  test('POST /auth/handoff is refused, naming why and what to do; a login to the other app gets its session a key of its own', async () => {
    const browser = new Browser()
    await browser.login(kw.url, 'dana', 'dana-password')
    const before = await kw.keys()
    const started = await browser.request(`${kw.url}/auth/handoff`, {
      method: 'POST',
      headers: { 'x-csrf': '1', 'content-type': 'application/json' },
      body: JSON.stringify({ target: 'drivers' }),
    })
    expect(started.status).toBe(403)
    expect(JSON.parse(started.text)).toMatchObject({
      code: 'handoff_not_allowed',
      detail: expect.stringContaining('Keycloak exchanges a sender-constrained token for no other client'),
    })
    expect(await kw.keys()).toEqual(before)

    const drivers = kw.url.replace('127.0.0.1', 'localhost')
    await browser.login(drivers, 'dana', 'dana-password')
    const thumbprints: string[] = []
    for (const base of [kw.url, drivers]) {
      const res = await browser.request(`${base}/api/demo/hello`, { headers: api })
      expect(res.status).toBe(200)
      thumbprints.push((JSON.parse(res.text) as { dpopKeyThumbprint: string }).dpopKeyThumbprint)
    }
    expect(thumbprints[1]).not.toBe(thumbprints[0])
  })
})
