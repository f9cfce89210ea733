import { Browser } from '../../harness/browser'
import { spawnKeyward } from '../../harness/keyward-process'
import { testEnv, waitUntil, withKeyward } from '../../harness/keyward'
import { freePort } from '../../harness/redis-server'

describe('keyward as a process', () => {
  test('a wrong configuration stops it at start with exit code 2, naming each variable', async () => {
    const { exited, output } = spawnKeyward({ PUBLIC_URL: 'not a url', KEYCLOAK_REALM: 'keyward' })
    expect(await exited).toBe(2)
    expect(output()).toContain('Invalid configuration')
    expect(output()).toContain('PUBLIC_URL: an absolute URL such as https://app.example.com (got "not a url")')
    expect(output()).toContain('SESSION_SECRET:')
    expect(output()).toContain('See .env.example')
  })

  test('it serves, then on SIGTERM drains and exits 0', async () => {
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    const { child, exited, output, kill } = spawnKeyward(
      testEnv({ PUBLIC_URL: url, PORT: String(port), LOG_LEVEL: 'info' }),
    )
    try {
      await waitUntil(async () => (await fetch(`${url}/readyz`)).ok, 20_000)
      const login = await new Browser().request(`${url}/auth/login`)
      expect(login.status).toBe(302)
      child.kill('SIGTERM')
      expect(await exited).toBe(0)
      expect(output()).toContain('"msg":"shutting down"')
    } finally {
      await kill()
    }
  })

  test('while draining, new requests get 503 shutting_down with Connection: close', async () => {
    await withKeyward({}, async (kw) => {
      kw.composed.startDraining()
      const res = await fetch(`${kw.url}/auth/session`)
      expect(res.status).toBe(503)
      expect(res.headers.get('connection')).toBe('close')
      expect(res.headers.get('retry-after')).toBe('1')
      expect(await res.json()).toMatchObject({ code: 'shutting_down' })
    })
  })
})
