import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { startKeyward, type RunningKeyward } from '../../harness/keyward'
import { Upstream } from '../../harness/upstream'
import { api, loggedIn } from '../support/refresh-fixture'

const admin = new KeycloakAdmin()

/** The token exchanges Keycloak recorded for one user session. */
const exchanges = async (sid: string) =>
  (await admin.events('alice', 'TOKEN_EXCHANGE')).filter((e) => e.sessionId === sid).length

describe('an upstream with an audience of its own gets a token for it alone (least privilege)', () => {
  let upstream: Upstream
  let kw: RunningKeyward
  beforeAll(async () => {
    upstream = await Upstream.start()
    kw = await startKeyward({
      UPSTREAMS: JSON.stringify({
        echo: upstream.url,
        orders: { url: upstream.url, audience: 'orders-api', scope: 'openid' },
        ghost: { url: upstream.url, audience: 'no-such-client' },
      }),
    })
  })
  afterAll(async () => {
    await kw.close()
    await upstream.close()
  })

  test('the session token is exchanged once for one with only that audience, kept sealed with the session, and exchanged again when the upstream refuses it', async () => {
    const { browser, session } = await loggedIn(kw)
    const call = async (path: string) => {
      const res = await browser.request(`${kw.url}/api/${path}`, { headers: api })
      expect(res.status).toBe(200)
      return upstream.seen.at(-1)!.claims!
    }
    const login = await call('echo/me')
    expect(login.aud).toEqual(expect.arrayContaining(['orders-api', 'keyward-sibling']))

    const orders = await call('orders/me')
    expect([orders.aud, orders.azp, orders.sid, orders.sub]).toEqual([
      'orders-api',
      'keyward-web',
      session.sid,
      login.sub,
    ])
    expect(await exchanges(session.sid)).toBe(1)

    // Kept with the session, sealed: ten parallel calls more, and not one more exchange.
    await Promise.all(Array.from({ length: 10 }, () => call('orders/again')))
    expect(await exchanges(session.sid)).toBe(1)
    const kept = await kw.redis.hgetBuffer(session.key, 'u:orders')
    expect(kept).not.toBeNull()
    expect(kept!.toString('latin1')).not.toContain('eyJ')

    // The upstream refuses the token it holds: one forced refresh, one new exchange, one retry.
    const refusedBefore = Math.floor(Date.now() / 1000) + 1
    upstream.rejectToken = (claims) => claims.aud === 'orders-api' && (claims.iat ?? 0) < refusedBefore
    // keyward refreshes for an upstream's 401 only a token older than 10 s.
    await new Promise((r) => setTimeout(r, 10_500))
    const retried = await call('orders/retried')
    upstream.rejectToken = () => false
    expect(retried.iat).toBeGreaterThanOrEqual(refusedBefore)
    expect(await exchanges(session.sid)).toBe(2)

    // An audience Keycloak does not know: a clear refusal, and the session goes on.
    const ghost = await browser.request(`${kw.url}/api/ghost/me`, { headers: api })
    expect(ghost.status).toBe(403)
    expect(JSON.parse(ghost.text)).toMatchObject({
      code: 'exchange_refused',
      detail: expect.stringContaining('keyward-web'),
    })
    await call('echo/still')

    await browser.request(`${kw.url}/auth/logout`, { method: 'POST', headers: api })
    expect(await kw.keys()).toEqual([])
  })
})
