import { Browser } from '../../harness/browser'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { startKeyward, type RunningKeyward } from '../../harness/keyward'
import { RedisServer } from '../../harness/redis-server'
import { api, storedSession } from '../support/refresh-fixture'

/**
 * Sessions per user and per Keycloak session are capped: someone who keeps Keycloak's single sign-on
 * cookie and drops keyward's can log in again and again without a form, and each loop would store
 * one more session. And ending many sessions at once costs a listing and a revocation per Keycloak
 * client session, not one per pair of sessions. A private Redis, so its command counts are this
 * suite's alone.
 */
describe('session caps, and ending many sessions at once', () => {
  const admin = new KeycloakAdmin()
  let redis: RedisServer
  let kw: RunningKeyward
  const running: RunningKeyward[] = []
  async function start(env: Record<string, string>): Promise<void> {
    kw = await startKeyward({ REDIS_URL: redis.url, ...env })
    running.push(kw)
  }

  beforeAll(async () => {
    redis = await RedisServer.create()
    await redis.start()
  })
  afterAll(async () => {
    for (const k of running) await k.close()
    await redis.stop()
  })

  /** Logs `browser` in again by single sign-on `times` times, dropping keyward's cookie each time; the cookies, oldest first. */
  async function loop(browser: Browser, times: number, username = 'bob'): Promise<string[]> {
    const cookies: string[] = []
    for (let i = 0; i < times; i++) {
      await browser.forgetKeywardCookies(kw.url)
      await browser.login(kw.url, username, `${username}-password`)
      cookies.push(await browser.jar.getCookieString(kw.url))
    }
    return cookies
  }
  const status = async (cookie: string) => (await fetch(`${kw.url}/auth/session`, { headers: { cookie } })).status
  const statuses = (cookies: string[]) => Promise.all(cookies.map(status))
  const stored = async () => (await kw.keys()).filter((k) => k.includes(':tok:')).length

  test('past the caps the oldest sessions end: 3 per Keycloak session, 5 per user; the newest always work', async () => {
    await start({ MAX_SESSIONS_PER_USER: '5', MAX_SESSIONS_PER_KEYCLOAK_SESSION: '3' })
    const first = new Browser()
    const one = await loop(first, 6)
    expect(await statuses(one)).toEqual([401, 401, 401, 200, 200, 200])
    expect(await stored()).toBe(3)

    // Another browser, another Keycloak session of bob's: the user's oldest go once he has more than 5.
    const second = new Browser()
    const two = await loop(second, 3)
    expect(await statuses([...one.slice(3), ...two])).toEqual([401, 200, 200, 200, 200, 200])
    expect(await stored()).toBe(5)
    expect(kw.logs.join('')).toContain('"msg":"oldest sessions ended: over the session cap"')
    await fetch(`${kw.url}/auth/sessions`, { method: 'DELETE', headers: { ...api, cookie: two[2] } })
  })

  test('revoking all of 30 sessions in one Keycloak session reads each record about once, and asks Keycloak once', async () => {
    await start({ MAX_SESSIONS_PER_USER: '0', MAX_SESSIONS_PER_KEYCLOAK_SESSION: '0' })
    const browser = new Browser()
    const cookies = await loop(browser, 30)
    expect(await stored()).toBe(30)
    const { sid } = (await storedSession(kw))!
    const revocations = async () =>
      (await admin.events('bob', 'REVOKE_GRANT')).filter((e) => e.sessionId === sid).length
    const revokedBefore = await revocations()
    const hgetall = async () => {
      await kw.keys() // connects the suite's own client
      return Number(/cmdstat_hgetall:calls=(\d+)/.exec(await kw.redis.info('commandstats'))?.[1] ?? 0)
    }
    const before = await hgetall()

    const res = await fetch(`${kw.url}/auth/sessions`, { method: 'DELETE', headers: { ...api, cookie: cookies[29] } })
    expect(res.status).toBe(200)
    expect(((await res.json()) as { revoked: string[] }).revoked).toHaveLength(30)
    const reads = (await hgetall()) - before
    // One read of each record to find the caller, one listing of the user, one of the sid: about 2N,
    // where one listing of the sid per session was N².
    expect(reads).toBeLessThanOrEqual(2 * 30 + 5)
    expect(await statuses(cookies)).toEqual(cookies.map(() => 401))
    expect(await stored()).toBe(0)
    // One Keycloak client session: one revocation, and Keycloak has no session left.
    await new Promise((r) => setTimeout(r, 500))
    expect((await revocations()) - revokedBefore).toBe(1)
    expect((await admin.userSessions('bob')).map((s) => s.id)).not.toContain(sid)
  })
})
