import { Browser } from '../../harness/browser'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { startKeyward } from '../../harness/keyward'
import { RedisServer, testCertificates, type TlsFiles } from '../../harness/redis-server'
import { RedisClusterTopology, RedisSentinelTopology } from '../../harness/redis-topology'
import { tempDir } from '../../harness/temp-dir'
import { Upstream } from '../../harness/upstream'
import { api, storedSession } from '../support/refresh-fixture'

const admin = new KeycloakAdmin()

/** Redis that speaks TLS only, with a certificate from a CA of the test's own. */
describe('Redis over TLS', () => {
  let tls: TlsFiles
  let echo: Upstream
  beforeAll(async () => {
    tls = testCertificates(tempDir('tls'))
    echo = await Upstream.start('keyward')
  })
  afterAll(() => echo.close())

  /** A login, an API call and a logout; Keycloak and Redis must agree the session is gone. */
  async function loginApiLogout(env: Record<string, string>): Promise<void> {
    const kw = await startKeyward({ ...env, UPSTREAMS: JSON.stringify({ echo: echo.url }) })
    try {
      const browser = new Browser()
      await browser.login(kw.url, 'alice', 'alice-password')
      const session = (await storedSession(kw))!
      expect((await browser.request(`${kw.url}/api/echo/over-tls`, { headers: api })).status).toBe(200)
      expect((await browser.request(`${kw.url}/auth/logout`, { method: 'POST', headers: api })).status).toBe(200)
      expect((await admin.userSessions('alice')).map((s) => s.id)).not.toContain(session.sid)
      expect(await kw.keys()).toEqual([])
    } finally {
      await kw.close()
    }
  }

  describe('one server (rediss://)', () => {
    let server: RedisServer
    beforeAll(async () => {
      server = await RedisServer.create(undefined, { tls })
      await server.start()
    })
    afterAll(() => server.stop())
    const url = () => `rediss://127.0.0.1:${server.port}`

    test('trusting the CA of REDIS_TLS_CA_FILE: login, API call and logout work', async () => {
      await loginApiLogout({ REDIS_URL: url(), REDIS_TLS_CA_FILE: tls.ca })
    })

    test('without it, the certificate is not trusted: keyward is not ready and has no Redis', async () => {
      const kw = await startKeyward({ REDIS_URL: url() }, { waitUntilReady: false })
      try {
        await new Promise((r) => setTimeout(r, 1000))
        const ready = await fetch(`${kw.url}/readyz`)
        expect(ready.status).toBe(503)
        expect(await ready.json()).toMatchObject({ checks: { redis: 'down' } })
        expect(kw.logs.join('')).toMatch(/self[- ]signed certificate/)
      } finally {
        await kw.close()
      }
    })
  })

  describe('Cluster: every node TLS only, the cluster bus too', () => {
    let cluster: RedisClusterTopology
    beforeAll(async () => {
      cluster = await RedisClusterTopology.start(tls)
    })
    afterAll(() => cluster?.stop())

    test('REDIS_TLS with the CA: keyward learns the nodes over TLS; login, API call and logout work', async () => {
      await loginApiLogout({ ...cluster.env, REDIS_TLS: 'true', REDIS_TLS_CA_FILE: tls.ca })
    })
  })

  describe('Sentinel: data nodes and Sentinels TLS only, with passwords', () => {
    let sentinel: RedisSentinelTopology
    beforeAll(async () => {
      sentinel = await RedisSentinelTopology.start(tls)
    })
    afterAll(() => sentinel?.stop())

    test('REDIS_TLS with the CA: keyward finds the primary through the Sentinels; login, API call and logout work', async () => {
      await loginApiLogout({ ...sentinel.env, REDIS_TLS: 'true', REDIS_TLS_CA_FILE: tls.ca })
    })
  })
})
