import { connect, type Socket } from 'node:net'
import { request } from 'undici'
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

  test("forward-auth: every worker answers the check on its own port, never on the app's; SIGTERM closes both and exits 0", async () => {
    const [port, checkPort] = [await freePort(), await freePort()]
    const url = `http://127.0.0.1:${port}`
    const { child, exited, output, kill } = spawnKeyward(
      testEnv({
        PUBLIC_URL: url,
        PORT: String(port),
        WORKERS: '2',
        FORWARD_AUTH_PORT: String(checkPort),
        LOG_LEVEL: 'info',
      }),
    )
    try {
      await waitUntil(async () => (await fetch(`${url}/readyz`)).ok, 20_000)
      await waitUntil(async () => (output().match(/"msg":"forward-auth listening"/g) ?? []).length === 2, 10_000)
      const checked = await fetch(`http://127.0.0.1:${checkPort}/auth/check`, {
        headers: { 'x-forwarded-uri': '/reports?year=2026' },
      })
      // fetch sends the check port's host, which is no app's: 421. The login address needs the app's Host.
      expect(checked.status).toBe(421)
      const asked = await request(`http://127.0.0.1:${checkPort}/auth/check`, {
        headers: { host: `127.0.0.1:${port}`, 'x-forwarded-uri': '/reports?year=2026' },
      })
      expect(asked.statusCode).toBe(401)
      expect(asked.headers['x-keyward-login']).toBe(`${url}/auth/login?returnTo=%2Freports%3Fyear%3D2026`)
      await asked.body.dump()
      expect((await fetch(`${url}/auth/check`)).status).toBe(404)
      child.kill('SIGTERM')
      expect(await exited).toBe(0)
    } finally {
      await kill()
    }
  })

  test('server limits: headers too large get 431, a client that never finishes its headers is cut off, connections past the cap are closed', async () => {
    const port = await freePort()
    const url = `http://127.0.0.1:${port}`
    const { kill } = spawnKeyward(
      testEnv({
        PUBLIC_URL: url,
        PORT: String(port),
        HTTP_HEADERS_TIMEOUT_SECONDS: '1',
        HTTP_MAX_HEADER_BYTES: '4096',
        HTTP_MAX_CONNECTIONS: '3',
      }),
    )
    const sockets: Socket[] = []
    try {
      await waitUntil(async () => (await fetch(`${url}/readyz`)).ok, 20_000)
      const big = await fetch(`${url}/auth/session`, { headers: { 'x-padding': 'x'.repeat(8192) } })
      expect(big.status).toBe(431)

      // Half a request, then nothing: keyward answers 408 and closes once the headers timeout passes.
      const slow = connect(port, '127.0.0.1')
      sockets.push(slow)
      let heard = ''
      slow.on('data', (d) => (heard += String(d)))
      const closed = new Promise<number>((resolve) => slow.on('close', () => resolve(Date.now())))
      const started = Date.now()
      slow.write('GET /auth/session HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ')
      expect((await closed) - started).toBeLessThan(5000)
      expect(heard).toMatch(/^HTTP\/1\.1 408/)

      // Three connections held open: a fourth is closed at once, before any request is read.
      for (let i = 0; i < 3; i++) {
        const held = connect(port, '127.0.0.1')
        sockets.push(held)
        await new Promise((r) => held.once('connect', r))
      }
      await new Promise((r) => setTimeout(r, 200))
      const fourth = connect(port, '127.0.0.1')
      sockets.push(fourth)
      await new Promise<void>((resolve) => fourth.once('close', () => resolve()))
      expect(fourth.bytesRead).toBe(0)
    } finally {
      for (const s of sockets) s.destroy()
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
