import { Browser } from '../../harness/browser'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { startKeyward, testEnv, type RunningKeyward } from '../../harness/keyward'
import { startKeywardProcess, type KeywardProcess } from '../../harness/keyward-process'
import { freePort } from '../../harness/redis-server'
import { Upstream } from '../../harness/upstream'
import { api, refreshCount, SHORT_CLIENT, storedSession, untilExpired } from './refresh-fixture'

const admin = new KeycloakAdmin()

/**
 * The suites every Redis topology must pass, as on one Redis: a login → API → refresh → logout, and
 * two keyward processes racing to refresh one session (Keycloak must see one refresh).
 * `env()` gives the topology's variables once it runs; `readiness` is what /readyz must say of it.
 */
export function topologyBasics(env: () => Record<string, string>, readiness: Record<string, unknown>): void {
  const upstreams: Upstream[] = []
  const processes: KeywardProcess[] = []
  afterEach(async () => {
    await Promise.all(processes.splice(0).map((p) => p.kill()))
    await Promise.all(upstreams.splice(0).map((u) => u.close()))
  })

  async function upstream(): Promise<Upstream> {
    const u = await Upstream.start('keyward')
    upstreams.push(u)
    return u
  }

  test('/readyz reports the topology, and no address of it', async () => {
    const kw = await startKeyward(env())
    try {
      const body = await (await fetch(`${kw.url}/readyz`)).json()
      expect(body).toMatchObject({ status: 'ready', checks: { redis: 'up' }, redis: readiness })
      expect(JSON.stringify(body)).not.toContain('127.0.0.1')
    } finally {
      await kw.close()
    }
  })

  test('login → API → refresh → logout: Keycloak and Redis agree the session is gone', async () => {
    const echo = await upstream()
    const kw = await startKeyward({ ...env(), ...SHORT_CLIENT, UPSTREAMS: JSON.stringify({ echo: echo.url }) })
    try {
      const browser = new Browser()
      await browser.login(kw.url, 'alice', 'alice-password')
      const session = (await storedSession(kw))!
      expect((await browser.request(`${kw.url}/api/echo/first`, { headers: api })).status).toBe(200)
      await untilExpired(session)
      expect((await browser.request(`${kw.url}/api/echo/second`, { headers: api })).status).toBe(200)
      expect((await storedSession(kw))!.version).toBe(2)
      expect(await refreshCount(admin, 'alice', session.sid)).toBe(1)

      const logout = await browser.request(`${kw.url}/auth/logout`, { method: 'POST', headers: api })
      expect(logout.status).toBeLessThan(400)
      expect((await admin.userSessions('alice')).map((s) => s.id)).not.toContain(session.sid)
      expect((await kw.keys()).filter((k) => !k.includes(':rl:'))).toEqual([])
    } finally {
      await kw.close()
    }
  })

  test('50 parallel calls at the moment of expiry, over two processes: all succeed, Keycloak sees one refresh', async () => {
    const echo = await upstream()
    const shared = testEnv({
      ...env(),
      ...SHORT_CLIENT,
      UPSTREAMS: JSON.stringify({ echo: echo.url }),
      LOG_LEVEL: 'info',
    })
    const urls: string[] = []
    for (let i = 0; i < 2; i++) {
      const url = `http://127.0.0.1:${await freePort()}`
      processes.push(await startKeywardProcess(url, shared))
      urls.push(url)
    }
    const kw = await startKeyward({ ...env(), REDIS_PREFIX: shared.REDIS_PREFIX }, { waitUntilReady: false })
    try {
      const browser = new Browser()
      await browser.login(urls[0], 'alice', 'alice-password')
      const session = (await storedSession(kw))!
      await untilExpired(session)
      const cookie = await browser.jar.getCookieString(urls[0])
      const statuses = await Promise.all(
        Array.from({ length: 50 }, async (_, i) => {
          const res = await fetch(`${urls[i % 2]}/api/echo/n${i}`, { headers: { ...api, cookie } })
          return res.status
        }),
      )
      expect(statuses).toEqual(Array(50).fill(200))
      expect(await refreshCount(admin, 'alice', session.sid)).toBe(1)
      expect((await storedSession(kw))!.version).toBe(2)
    } finally {
      await kw.close()
    }
  })
}

export interface Sample {
  at: number
  path: string
  status: number
  retryAfter: string | null
  type?: string
}

/**
 * Keeps every browser calling the API (a read of its session) and starting a login (a write) until
 * `during` has finished and `settleMs` more have passed; returns every answer with its time.
 */
export async function underLoad(
  url: string,
  browsers: Browser[],
  during: () => Promise<void>,
  settleMs = 6000,
): Promise<{ samples: Sample[]; doneAt: number }> {
  const samples: Sample[] = []
  let running = true
  async function record(res: Response, at: number, path: string): Promise<void> {
    const body = await res.text()
    const type = res.status >= 400 ? (JSON.parse(body) as { type?: string }).type : undefined
    samples.push({ at, path, status: res.status, retryAfter: res.headers.get('retry-after'), type })
  }
  const loops = browsers.map(async (browser, i) => {
    const cookie = await browser.jar.getCookieString(url)
    while (running) {
      const at = Date.now()
      const path = samples.length % 4 === 3 ? '/auth/login' : `/api/echo/load-${i}`
      await record(await fetch(`${url}${path}`, { headers: { ...api, cookie }, redirect: 'manual' }), at, path)
    }
  })
  await during()
  const doneAt = Date.now()
  await new Promise((r) => setTimeout(r, settleMs))
  running = false
  await Promise.all(loops)
  return { samples, doneAt }
}

/**
 * What a fail-over may cost: answers are right (200, or 302 to Keycloak) or 503 store_unavailable
 * with Retry-After, and no 503 starts later than `graceMs` after the new primary took over.
 */
export function expectOnlyBriefUnavailability(samples: Sample[], switchedAt: number, graceMs: number): void {
  const wrong = samples.filter((s) => ![200, 302, 503].includes(s.status))
  expect(wrong).toEqual([])
  const unavailable = samples.filter((s) => s.status === 503)
  for (const s of unavailable) {
    expect(s.retryAfter).toMatch(/^\d+$/)
    expect(s.type).toMatch(/store_unavailable$/)
  }
  expect(unavailable.filter((s) => s.at > switchedAt + graceMs)).toEqual([])
  // Load went on after the switch, and it was served.
  expect(samples.filter((s) => s.at > switchedAt + graceMs && s.status !== 503).length).toBeGreaterThan(10)
}

/** Every browser's session still answers, after the fail-over. */
export async function expectSessionsKept(kw: RunningKeyward, browsers: Browser[]): Promise<void> {
  const statuses = await Promise.all(
    browsers.map(async (b) => (await b.request(`${kw.url}/api/echo/after`, { headers: api })).status),
  )
  expect(statuses).toEqual(browsers.map(() => 200))
}

export async function loggedInBrowsers(kw: RunningKeyward, count: number): Promise<Browser[]> {
  const browsers: Browser[] = []
  for (let i = 0; i < count; i++) {
    const browser = new Browser()
    await browser.login(kw.url, i % 2 ? 'bob' : 'alice', i % 2 ? 'bob-password' : 'alice-password')
    browsers.push(browser)
  }
  return browsers
}
