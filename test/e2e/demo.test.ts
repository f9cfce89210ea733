import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Browser } from '../../harness/browser'
import { keycloakUrl, waitUntil } from '../../harness/keyward'
import { watchKeyward } from '../../harness/leaks'
import { spawnTracked } from '../../harness/processes'
import { freePort, RedisServer } from '../../harness/redis-server'

/**
 * The README's first command, `npm run demo` (scripts/demo.sh), run as a person would, on free ports:
 * it gets to where alice can log in through Keycloak's real form and use the demo, and Ctrl-C stops
 * what it started (Keycloak, shared with the suites here, stays).
 */
describe('npm run demo', () => {
  test('serves the demo, alice logs in through Keycloak and calls the API; Ctrl-C stops keyward and its Redis', async () => {
    const [port, redisPort] = [await freePort(), await freePort()]
    const demoDir = mkdtempSync(join(tmpdir(), 'keyward-demo-'))
    const redis = new RedisServer(redisPort, demoDir) // the demo's own, with its pidfile in demoDir
    const demo = spawnTracked('bash', ['scripts/demo.sh'], {
      cwd: join(__dirname, '../..'),
      env: {
        HOME: process.env.HOME,
        PORT: String(port),
        DEMO_REDIS_PORT: String(redisPort),
        KEYWARD_DEMO_DIR: demoDir,
        KEYCLOAK_URL: keycloakUrl(),
      },
      label: `npm run demo on port ${port}`,
    })
    watchKeyward(port, demo.output)
    const url = `http://localhost:${port}`
    try {
      await waitUntil(
        async () => demo.output().includes(`keyward demo: ${url}`) && (await fetch(`${url}/readyz`)).ok,
        90_000,
        250,
      )
      expect(demo.output()).toContain('log in as alice / alice-password')
      redis.adopt()

      const browser = new Browser()
      expect((await browser.request(`${url}/`)).text).toContain('<h1>keyward demo</h1>')
      const hops = await browser.login(url, 'alice', 'alice-password', '/auth/login?returnTo=/')
      expect(hops.at(-1)!.url).toBe(`${url}/`)
      const session = await browser.request(`${url}/auth/session`)
      expect(JSON.parse(session.text)).toMatchObject({ authenticated: true, user: { preferred_username: 'alice' } })
      const userinfo = await browser.request(`${url}/api/keycloak/userinfo`, { headers: { 'x-csrf': '1' } })
      expect(userinfo.status).toBe(200)
      expect(JSON.parse(userinfo.text)).toMatchObject({ preferred_username: 'alice', email: 'alice@example.test' })

      // Ctrl-C in a terminal signals the whole foreground process group.
      expect(await demo.kill('SIGINT')).toBe(130)
      expect(demo.output()).toContain('demo stopped; Keycloak still runs')
      await expect(fetch(`${url}/healthz`)).rejects.toThrow()
      expect(redis.answers()).toBe(false)
    } finally {
      await demo.kill()
      await redis.stop()
    }
  }, 150_000)
})
