import { randomBytes } from 'node:crypto'
import type { ServerConfig as Config } from '../../src/config/load'
import type { AppConfig } from '../../src/config/types'
import { Browser } from '../../harness/browser'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { keycloakUrl, startKeyward, type RunningKeyward } from '../../harness/keyward'
import { freePort, RedisServer } from '../../harness/redis-server'
import { Upstream } from '../../harness/upstream'
import { api, storedAccessClaims, storedSession } from '../support/refresh-fixture'

const admin = new KeycloakAdmin()
const json = { ...api, 'content-type': 'application/json' }

/** An app of `config` moved to `origin`, as another of its kind (`more` says how). */
function appAt(base: AppConfig, origin: string, more: Partial<AppConfig>): AppConfig {
  const publicUrl = new URL(origin)
  return {
    ...base,
    publicUrl,
    callbackUrl: new URL('/auth/callback', publicUrl),
    allowedOrigins: new Set([publicUrl.origin]),
    handoffTargets: new Set(),
    ...more,
  }
}

/** A token Keycloak issues to a client for itself (client credentials), as another deployment would hold. */
async function serviceToken(clientId: string, secret: string): Promise<string> {
  const res = await fetch(`${keycloakUrl()}/realms/keyward/protocol/openid-connect/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: secret }),
  })
  expect(res.status).toBe(200)
  return ((await res.json()) as { access_token: string }).access_token
}

/**
 * Two deployments, each with its own Redis: A (127.0.0.1:portA) serves `web` and knows `sibling` and
 * `other` as apps of another deployment; B (localhost:portB) serves `sibling` and knows `web` as A's.
 */
describe('handoff between deployments with separate Redis', () => {
  let upstream: Upstream
  let redisB: RedisServer
  let a: RunningKeyward
  let b: RunningKeyward
  let c: RunningKeyward
  let urlA: string
  let urlB: string
  let urlC: string

  beforeAll(async () => {
    upstream = await Upstream.start()
    redisB = await RedisServer.create()
    await redisB.start()
    const [portA, portB, portC] = [await freePort(), await freePort(), await freePort()]
    urlA = `http://127.0.0.1:${portA}`
    urlB = `http://localhost:${portB}`
    urlC = `http://localhost:${portC}`
    const remote = (url: string) => ({ redeemUrl: new URL(url) })
    const deploymentA = (config: Config): Config => {
      const [web] = config.apps
      return {
        ...config,
        apps: [
          { ...web, handoffTargets: new Set(['sibling', 'other', 'shared']) },
          appAt(web, urlB, { id: 'sibling', clientId: 'keyward-sibling', clientSecret: '', remote: remote(urlB) }),
          appAt(web, urlC, { id: 'shared', clientId: 'keyward-sibling', clientSecret: '', remote: remote(urlC) }),
          appAt(web, 'http://other.localhost', {
            id: 'other',
            clientId: 'keyward-short',
            clientSecret: '',
            remote: remote(urlB),
          }),
        ],
      }
    }
    const deploymentB = (config: Config): Config => {
      const [web] = config.apps
      return {
        ...config,
        apps: [
          appAt(web, urlB, { id: 'sibling', clientId: 'keyward-sibling', clientSecret: 'keyward-sibling-dev-secret' }),
          appAt(web, urlA, { id: 'web', handoffTargets: new Set(['sibling']), clientSecret: '', remote: remote(urlA) }),
        ],
      }
    }
    // C serves `shared` and shares A's Redis (and key prefix): it asks A all the same, since only A can
    // refresh A's sessions.
    const deploymentC = (config: Config): Config => {
      const [web] = config.apps
      return {
        ...config,
        apps: [
          appAt(web, urlC, { id: 'shared', clientId: 'keyward-sibling', clientSecret: 'keyward-sibling-dev-secret' }),
          appAt(web, urlA, { id: 'web', handoffTargets: new Set(['shared']), clientSecret: '', remote: remote(urlA) }),
        ],
      }
    }
    const upstreams = { UPSTREAMS: JSON.stringify({ echo: upstream.url }) }
    a = await startKeyward(upstreams, { port: portA, adjust: deploymentA })
    b = await startKeyward({ ...upstreams, REDIS_URL: redisB.url }, { port: portB, adjust: deploymentB })
    c = await startKeyward({ ...upstreams, REDIS_PREFIX: a.config.redis.prefix }, { port: portC, adjust: deploymentC })
  })
  afterAll(async () => {
    await c.close()
    await b.close()
    await a.close()
    await redisB.stop()
    await upstream.close()
  })

  test("B redeems A's code at A with its client's own Keycloak token, exchanges it, and keeps its session in its own Redis", async () => {
    const browser = new Browser()
    await browser.login(urlA, 'alice', 'alice-password')
    const started = await browser.request(`${urlA}/auth/handoff`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ target: 'sibling', returnTo: '/drive' }),
    })
    expect(started.status).toBe(200)
    const { url } = JSON.parse(started.text) as { url: string }
    expect(url).toMatch(new RegExp(`^${urlB}/auth/handoff/complete\\?code=[A-Za-z0-9_-]{43}&from=web$`))

    const landed = await browser.request(url)
    expect([landed.status, landed.headers.get('location')]).toEqual([302, '/drive'])
    const replayed = await browser.request(url)
    expect([replayed.status, (JSON.parse(replayed.text) as { code: string }).code]).toEqual([400, 'invalid_grant'])
    expect(JSON.parse((await browser.request(`${urlB}/auth/session`)).text)).toMatchObject({
      app: 'sibling',
      user: { preferred_username: 'alice' },
    })
    // Each deployment holds its own: A the web session (the code is spent), B the sibling's, in B's Redis.
    const records = async (kw: RunningKeyward) => (await kw.keys()).filter((k) => /:(tok|handoff):/.test(k))
    expect(await records(a)).toEqual([expect.stringContaining(':tok:')])
    expect(await records(b)).toEqual([expect.stringContaining(':tok:')])
    const [sessionA, sessionB] = [(await storedSession(a))!, (await storedSession(b))!]
    expect(sessionB.sid).toBe(sessionA.sid)
    expect((await storedAccessClaims(b, sessionB)).azp).toBe('keyward-sibling')
    expect((await browser.request(`${urlB}/api/echo/me`, { headers: api })).status).toBe(200)
    expect(upstream.seen.at(-1)!.claims).toMatchObject({ azp: 'keyward-sibling', sid: sessionA.sid })
    const [kcSession] = (await admin.userSessions('alice')).filter((s) => s.id === sessionA.sid)
    expect(Object.values(kcSession.clients).sort()).toEqual(['keyward-sibling', 'keyward-web'])
    await browser.request(`${urlB}/auth/logout`, { method: 'POST', headers: api })
    expect((await admin.userSessions('alice')).map((s) => s.id)).not.toContain(sessionA.sid)
  })

  test('bad redemptions change nothing: no token, a forged or foreign one, a code for another app (left in place), a replayed or unknown code', async () => {
    const redeem = (body: unknown, authorization?: string) =>
      fetch(`${urlA}/auth/handoff/redeem`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
        body: JSON.stringify(body),
      })
    const code = randomBytes(32).toString('base64url')
    for (const authorization of [undefined, 'Bearer not.a.token', `Bearer ${await adminToken()}`]) {
      const res = await redeem({ code }, authorization)
      expect([res.status, ((await res.json()) as { code: string }).code]).toEqual([401, 'invalid_token'])
    }
    const sibling = `Bearer ${await serviceToken('keyward-sibling', 'keyward-sibling-dev-secret')}`
    const unknown = await redeem({ code, app: 'sibling' }, sibling)
    expect([unknown.status, ((await unknown.json()) as { code: string }).code]).toEqual([400, 'invalid_grant'])

    // A code made for `other` (another app of B's deployment): the sibling's token does not take it.
    const browser = new Browser()
    await browser.login(urlA, 'bob', 'bob-password')
    const started = await browser.request(`${urlA}/auth/handoff`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ target: 'other' }),
    })
    const otherCode = new URL((JSON.parse(started.text) as { url: string }).url).searchParams.get('code')!
    const foreign = await redeem({ code: otherCode, app: 'sibling' }, sibling)
    expect([foreign.status, ((await foreign.json()) as { code: string }).code]).toEqual([400, 'invalid_grant'])
    const posing = await redeem({ code: otherCode, app: 'other' }, sibling) // keyward-sibling's token, other's id
    expect([posing.status, ((await posing.json()) as { code: string }).code]).toEqual([403, 'handoff_not_allowed'])
    expect((await a.keys()).filter((k) => k.includes(':handoff:'))).toHaveLength(1) // still there for `other`
    // `other`'s own token, but keyward-web's tokens do not name keyward-short in their audience (no
    // Audience mapper for it): the token is not handed over, and the refusal says what to fix.
    const other = `Bearer ${await serviceToken('keyward-short', 'keyward-short-dev-secret')}`
    const unaddressed = await redeem({ code: otherCode, app: 'other' }, other)
    const refusal = (await unaddressed.json()) as Record<string, string>
    expect([unaddressed.status, refusal.code]).toEqual([403, 'handoff_not_allowed'])
    expect(refusal.detail).toMatch(
      /does not name keyward-short in its audience.*add an Audience mapper for keyward-short to client keyward-web/,
    )
    expect(JSON.stringify(refusal)).not.toMatch(/eyJ/)

    // At B: an unknown code from A, or a code from an app B does not know, creates nothing.
    const before = await b.keys()
    for (const from of ['web', 'nowhere']) {
      const res = await new Browser().request(`${urlB}/auth/handoff/complete?code=${code}&from=${from}`)
      expect([res.status, (JSON.parse(res.text) as { code: string }).code]).toEqual([400, 'invalid_grant'])
    }
    expect(await b.keys()).toEqual(before)
    await browser.request(`${urlA}/auth/logout`, { method: 'POST', headers: api })
  })

  test('a deployment that shares the Redis of the source asks the source deployment all the same, and the handoff works', async () => {
    const browser = new Browser()
    await browser.login(urlA, 'alice', 'alice-password')
    const started = await browser.request(`${urlA}/auth/handoff`, {
      method: 'POST',
      headers: json,
      body: JSON.stringify({ target: 'shared' }),
    })
    const landed = await browser.request((JSON.parse(started.text) as { url: string }).url)
    expect(landed.status).toBe(302)
    expect(JSON.parse((await browser.request(`${urlC}/auth/session`)).text)).toMatchObject({
      app: 'shared',
      user: { preferred_username: 'alice' },
    })
    expect((await browser.request(`${urlC}/api/echo/me`, { headers: api })).status).toBe(200)
    expect(upstream.seen.at(-1)!.claims).toMatchObject({ azp: 'keyward-sibling' })
    expect(a.logs.join('')).toContain('handoff code redeemed by another deployment')
    await browser.request(`${urlA}/auth/logout`, { method: 'POST', headers: api })
  })
})

/** A token of Keycloak's own admin realm: signed, but by another issuer. */
async function adminToken(): Promise<string> {
  const res = await fetch(`${keycloakUrl()}/realms/master/protocol/openid-connect/token`, {
    method: 'POST',
    body: new URLSearchParams({ grant_type: 'password', client_id: 'admin-cli', username: 'admin', password: 'admin' }),
  })
  return ((await res.json()) as { access_token: string }).access_token
}
