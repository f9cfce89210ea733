import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import { Browser } from '../../harness/browser'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { keycloakUrl, redisUrl, TEST_KEYS, waitUntil } from '../../harness/keyward'
import { watchKeyward } from '../../harness/leaks'
import { spawnTracked, type TrackedProcess } from '../../harness/processes'
import { freePort } from '../../harness/redis-server'
import { Upstream } from '../../harness/upstream'
import { addUser } from '../support/keycloak-cli'

const admin = new KeycloakAdmin()
const root = join(__dirname, '../..')

/**
 * What issue 20 asks of the middleware, shown as an Express developer would see it: two processes of
 * the application (not keyward's server) on one Redis, a handler that asks for a token and calls an
 * API with it, 100 parallel requests to each at the moment the access token expires, three times,
 * with Keycloak's refresh-token rotation on and no reuse allowed (realm keyward). Keycloak's own
 * events are the witness: exactly one refresh per expiry, never a refused one.
 */
describe('two processes of a host application at access-token expiry', () => {
  const user = `procs-${randomBytes(3).toString('hex')}`
  const running: TrackedProcess[] = []
  let upstream: Upstream
  beforeAll(async () => {
    upstream = await Upstream.start()
    await addUser(admin, user)
  })
  afterAll(async () => {
    await Promise.all(running.map((p) => p.kill('SIGTERM')))
    await upstream?.close()
  })

  async function hostProcess(shared: Record<string, string>): Promise<string> {
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    const proc = spawnTracked(process.execPath, ['--import', 'tsx', 'harness/host-app-main.ts'], {
      cwd: root,
      label: `host app on port ${port}`,
      env: { ...shared, PORT: String(port), PUBLIC_URL: url },
    })
    running.push(proc)
    watchKeyward(port, proc.output)
    await waitUntil(async () => proc.output().includes('listening'), 30_000, 100).catch((err: unknown) => {
      throw new Error(`the host app did not start:\n${proc.output()}`, { cause: err })
    })
    return url
  }

  test('100 parallel requests per process at each of three expiries: all 200, one refresh at Keycloak each time', async () => {
    const shared = {
      KEYCLOAK_URL: keycloakUrl(),
      KEYCLOAK_REALM: 'keyward',
      CLIENT_ID: 'keyward-short', // 10-second access tokens
      CLIENT_SECRET: 'keyward-short-dev-secret',
      REDIS_URL: redisUrl(),
      REDIS_PREFIX: `kwprocs:${randomBytes(4).toString('hex')}:`,
      SESSION_SECRET: randomBytes(32).toString('hex'),
      TOKEN_ENCRYPTION_KEYS: TEST_KEYS,
      UPSTREAM_URL: upstream.url,
    }
    const [a, b] = await Promise.all([hostProcess(shared), hostProcess(shared)])
    const browser = new Browser()
    await browser.login(a, user, `${user}-password`)
    const cookie = await browser.jar.getCookieString(a)
    const me = async (url: string) =>
      (await (await fetch(`${url}/me`, { headers: { cookie, accept: 'application/json' } })).json()).session
    const { keycloakSessionId: sid } = await me(b) // the other process knows the session as well
    const events = async (type: string) => (await admin.events(user, type)).filter((e) => e.sessionId === sid).length

    for (let expiry = 1; expiry <= 3; expiry++) {
      const { accessTokenExpiresAt } = await me(a)
      await new Promise((r) => setTimeout(r, Math.max(0, Date.parse(accessTokenExpiresAt) - Date.now() + 100)))
      const seenBefore = upstream.seen.length
      const statuses = await Promise.all(
        Array.from({ length: 200 }, async (_, i) => {
          const url = i % 2 ? b : a
          const res = await fetch(`${url}/orders/${expiry}-${i}`, { headers: { cookie, accept: 'application/json' } })
          await res.arrayBuffer()
          return res.status
        }),
      )
      expect({ expiry, statuses: [...new Set(statuses)] }).toEqual({ expiry, statuses: [200] })
      await waitUntil(async () => (await events('REFRESH_TOKEN')) >= expiry, 5000)
      expect({ expiry, refreshes: await events('REFRESH_TOKEN') }).toEqual({ expiry, refreshes: expiry })
      expect({ expiry, refused: await events('REFRESH_TOKEN_ERROR') }).toEqual({ expiry, refused: 0 })
      // Every call of this round went out with the one token of its refresh.
      const tokens = new Set(upstream.seen.slice(seenBefore).map((s) => s.claims!.jti))
      expect({ expiry, tokens: tokens.size }).toEqual({ expiry, tokens: 1 })
    }
  }, 120_000)
})
