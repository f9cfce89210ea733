import { randomBytes } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import WebSocket from 'ws'
import { Browser } from '../../harness/browser'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { startHostApp, testOptions } from '../../harness/host-app'
import { startKeyward, type RunningKeyward } from '../../harness/keyward'
import { bearer, MOBILE, MobileApp } from '../../harness/mobile-app'
import { waitUntil } from '../../harness/wait'
import { WsUpstream } from '../../harness/ws-upstream'
import { api, SHORT_CLIENT, storedSession } from '../support/refresh-fixture'

const admin = new KeycloakAdmin()
const MiB = 2 ** 20

type Opened = { ws: WebSocket; upgrade: IncomingMessage }
type Refused = { status: number; body: { code?: string }; headers: IncomingMessage['headers'] }

/** Opens a WebSocket as a client would; the open socket, or the HTTP answer that refused it. */
function openSocket(url: string, headers: Record<string, string>, protocols: string[] = []): Promise<Opened | Refused> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace(/^http/, 'ws'), protocols, { headers, maxPayload: 64 * MiB })
    let upgrade: IncomingMessage
    ws.once('upgrade', (res) => (upgrade = res))
    ws.once('open', () => resolve({ ws, upgrade }))
    ws.once('unexpected-response', (req, res) => {
      let text = ''
      res.on('data', (d: Buffer) => (text += d.toString()))
      res.on('end', () => {
        resolve({
          status: res.statusCode!,
          body: text ? (JSON.parse(text) as Refused['body']) : {},
          headers: res.headers,
        })
        req.destroy()
      })
    })
    ws.on('error', reject)
  })
}

async function opened(url: string, headers: Record<string, string>, protocols: string[] = []): Promise<Opened> {
  const got = await openSocket(url, headers, protocols)
  if (!('ws' in got)) throw new Error(`refused: ${got.status} ${JSON.stringify(got.body)}`)
  got.ws.on('error', () => undefined)
  return got
}

const nextMessage = (ws: WebSocket) =>
  new Promise<{ data: Buffer; isBinary: boolean }>((resolve) =>
    ws.once('message', (data, isBinary) => resolve({ data: data as Buffer, isBinary })),
  )

const closed = (ws: WebSocket) =>
  new Promise<{ code: number; reason: string; at: number }>((resolve) =>
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString(), at: Date.now() })),
  )

describe('WebSockets through /api/<upstream>/…', () => {
  let upstream: WsUpstream
  let a: RunningKeyward
  let b: RunningKeyward
  const shared = {
    ...SHORT_CLIENT, // 10-second access tokens
    ...MOBILE,
    REDIS_PREFIX: `kwtest:${randomBytes(4).toString('hex')}:`,
    SESSION_SECRET: randomBytes(32).toString('hex'),
  }

  beforeAll(async () => {
    upstream = await WsUpstream.start()
    const upstreams = {
      live: { url: upstream.url, websocket: { maxMessageBytes: 8 * MiB, maxPerSession: 3 } },
      expiring: { url: upstream.url, websocket: { onTokenExpiry: 'close' } },
      idle: { url: upstream.url, websocket: { idleTimeoutSeconds: 1 } },
      plain: upstream.url,
    }
    ;[a, b] = await Promise.all(
      [0, 1].map(() => startKeyward({ ...shared, UPSTREAMS: JSON.stringify(upstreams), LOG_LEVEL: 'info' })),
    )
  })
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()])
    await upstream?.close()
  })

  /** A browser logged in as `user` on instance `kw`, and the headers its page's WebSocket sends. */
  async function browserSession(kw: RunningKeyward, user = 'alice') {
    const before = (await kw.keys()).filter((k) => k.includes(':tok:'))
    const browser = new Browser()
    await browser.login(kw.url, user, `${user}-password`)
    const cookie = await browser.jar.getCookieString(kw.url)
    // Its record: the one session more than before (the suite's sessions share one Redis prefix).
    const stored = (await storedSession(kw, before))!
    return { browser, headers: { cookie, origin: kw.url }, stored }
  }

  test('a page of the app: messages both ways as sent (text, binary, 4 MiB), the upstream sees a fresh token of the user, its subprotocol and its own cookies; one over the limit closes with 1009', async () => {
    const { headers } = await browserSession(a)
    const seenBefore = upstream.seen.length
    const { ws, upgrade } = await opened(
      `${a.url}/api/live/feed?x=1`,
      { ...headers, cookie: `${headers.cookie}; theme=dark` },
      ['chat.v1', 'other'],
    )
    expect(ws.protocol).toBe('chat.v1')
    expect(upgrade.headers['x-request-id']).toMatch(/\S/)
    const seen = upstream.seen[seenBefore]
    expect(seen.url).toBe('/feed?x=1')
    expect(seen.claims).toMatchObject({ preferred_username: 'alice', azp: 'keyward-short' })
    expect(seen.protocol).toBe('chat.v1')
    expect(seen.headers.cookie).toBe('theme=dark') // keyward's own cookie stays behind
    expect(seen.headers['x-forwarded-host']).toBe(new URL(a.url).host)
    expect(seen.headers['x-request-id']).toBe(upgrade.headers['x-request-id'])

    ws.send('hello')
    expect(await nextMessage(ws)).toEqual({ data: Buffer.from('hello'), isBinary: false })
    const binary = randomBytes(4 * MiB)
    ws.send(binary)
    const back = await nextMessage(ws)
    expect(back.isBinary).toBe(true)
    expect(back.data.equals(binary)).toBe(true)
    // The upstream speaks first, too.
    seen.socket.send('from upstream')
    expect((await nextMessage(ws)).data.toString()).toBe('from upstream')

    const ended = closed(ws)
    ws.send(Buffer.alloc(8 * MiB + 1))
    expect((await ended).code).toBe(1009)
    expect((await seen.closed).code).toBe(1009)
  })

  test('refused before the upstream hears of it: another site (403), a cookie without Origin (403), no session (401), an upstream without WebSockets (405), a path outside /api/ (404)', async () => {
    const { headers } = await browserSession(a)
    const seenBefore = upstream.seen.length
    const cases: [string, Record<string, string>, number, string][] = [
      ['/api/live/feed', { ...headers, origin: 'https://evil.example' }, 403, 'origin_not_allowed'],
      ['/api/live/feed', { cookie: headers.cookie }, 403, 'origin_not_allowed'],
      ['/api/live/feed', { origin: a.url }, 401, 'not_authenticated'],
      ['/api/plain/feed', headers, 405, 'method_not_allowed'],
      ['/api/nope/feed', headers, 404, 'unknown_upstream'],
      ['/auth/session', headers, 404, 'not_found'],
    ]
    for (const [path, sent, status, code] of cases) {
      const got = await openSocket(`${a.url}${path}`, sent)
      expect('status' in got && { path, status: got.status, code: got.body.code }).toEqual({ path, status, code })
      expect(got).toMatchObject({ headers: { 'content-type': 'application/problem+json; charset=utf-8' } })
    }
    expect(upstream.seen.length).toBe(seenBefore)
  })

  test('a logout on another instance closes the socket within a second (4001), both sides; Keycloak ended the session', async () => {
    const { browser, headers, stored: session } = await browserSession(a)
    const { ws } = await opened(`${a.url}/api/live/feed`, headers)
    const seen = upstream.seen.at(-1)!
    const ended = closed(ws)
    const out = await browser.request(`${b.url}/auth/logout`, { method: 'POST', headers: { ...api, origin: b.url } })
    expect(out.status).toBe(200)
    const loggedOut = Date.now()
    const close = await ended
    expect(close).toMatchObject({ code: 4001, reason: 'session ended' })
    expect(close.at - loggedOut).toBeLessThan(1000)
    expect((await seen.closed).code).toBe(4001)
    expect(await admin.userSessions('alice')).not.toContainEqual(expect.objectContaining({ id: session.sid }))
  })

  test('a mobile app: its session handle, no Origin; revoking the session closes the socket', async () => {
    const handle = await new MobileApp(a.url).signIn('bob')
    const { ws } = await opened(`${a.url}/api/live/feed`, bearer(handle))
    ws.send('ping')
    expect((await nextMessage(ws)).data.toString()).toBe('ping')
    expect(upstream.seen.at(-1)!.claims).toMatchObject({ preferred_username: 'bob' })
    const ended = closed(ws)
    expect((await fetch(`${b.url}/auth/revoke`, { method: 'POST', headers: bearer(handle) })).status).toBe(200)
    expect((await ended).code).toBe(4001)
  })

  test('at its token expiry a socket of an upstream that says so closes with 4002; another stays open and carries messages', async () => {
    const { headers, stored: session } = await browserSession(a)
    const expiring = await opened(`${a.url}/api/expiring/feed`, headers)
    const kept = await opened(`${a.url}/api/live/feed`, headers)
    const close = await closed(expiring.ws)
    expect(close.code).toBe(4002)
    // Closed at the expiry of the token it opened with (10 s tokens), not before.
    expect(close.at).toBeGreaterThanOrEqual(session.accessExpiresAt - 1000)
    expect(kept.ws.readyState).toBe(WebSocket.OPEN)
    kept.ws.send('still here')
    expect((await nextMessage(kept.ws)).data.toString()).toBe('still here')
    kept.ws.close()
  }, 30_000)

  test('limits: sockets per session (429), and the idle timeout (4003)', async () => {
    const { headers } = await browserSession(a)
    const three = await Promise.all([0, 1, 2].map(() => opened(`${a.url}/api/live/feed`, headers)))
    const fourth = await openSocket(`${a.url}/api/live/feed`, headers)
    expect(fourth).toMatchObject({ status: 429, body: { code: 'too_many_requests' } })
    // Another upstream counts apart.
    const other = await opened(`${a.url}/api/expiring/feed`, headers)
    other.ws.close()
    // A place is freed once both sides of a socket have closed; then it is taken again.
    three[0].ws.close()
    let again: Opened | Refused | undefined
    await waitUntil(async () => {
      again = await openSocket(`${a.url}/api/live/feed`, headers)
      return 'ws' in again
    }, 2000)
    if (!again || !('ws' in again)) throw new Error('the freed place was not taken again')
    for (const { ws } of [...three.slice(1), again]) ws.close()

    const idle = await opened(`${a.url}/api/idle/feed`, headers)
    const started = Date.now()
    expect((await closed(idle.ws)).code).toBe(4003)
    expect(Date.now() - started).toBeGreaterThanOrEqual(900)
  })

  test('a process holds at most WEBSOCKET_MAX_CONNECTIONS sockets: more are refused with 429 until one closes', async () => {
    const upstreams = { live: { url: upstream.url, websocket: true } }
    const small = await startKeyward({
      ...shared,
      UPSTREAMS: JSON.stringify(upstreams),
      WEBSOCKET_MAX_CONNECTIONS: '2',
    })
    try {
      const users = await Promise.all(['alice', 'bob', 'alice'].map((u) => browserSession(small, u)))
      const [one, two] = await Promise.all(
        users.slice(0, 2).map((u) => opened(`${small.url}/api/live/feed`, u.headers)),
      )
      const third = await openSocket(`${small.url}/api/live/feed`, users[2].headers)
      expect(third).toMatchObject({ status: 429, body: { code: 'too_many_requests' }, headers: { 'retry-after': '5' } })
      one.ws.close()
      let later: Opened | Refused | undefined
      await waitUntil(async () => {
        later = await openSocket(`${small.url}/api/live/feed`, users[2].headers)
        return 'ws' in later
      }, 2000)
      for (const ws of [two.ws, later && 'ws' in later ? later.ws : undefined]) ws?.close()
    } finally {
      await small.close()
    }
  })

  test('back-pressure: while the upstream reads nothing, keyward stops reading the client; then every message arrives, in order', async () => {
    const { headers } = await browserSession(a)
    upstream.echo = false
    try {
      const { ws } = await opened(`${a.url}/api/live/feed`, headers)
      const seen = upstream.seen.at(-1)!
      seen.socket.pause()
      const got: number[] = []
      seen.socket.on('message', (data: Buffer) => got.push(data.readUInt32BE(0)))
      const chunk = 256 * 1024
      for (let i = 0; i < 200; i++) {
        const numbered = Buffer.alloc(chunk)
        numbered.writeUInt32BE(i, 0)
        ws.send(numbered, { binary: true }, () => undefined)
      }
      // 50 MiB sent; keyward holds about a megabyte, the kernel's buffers a few: the rest stays with the
      // client, and stays there (without back-pressure keyward would read it all within a second).
      await new Promise((r) => setTimeout(r, 1000))
      const held = ws.bufferedAmount
      await new Promise((r) => setTimeout(r, 2000))
      expect(ws.bufferedAmount).toBeGreaterThan(30 * MiB)
      expect(held - ws.bufferedAmount).toBeLessThan(2 * MiB)
      seen.socket.resume()
      await waitUntil(async () => got.length === 200, 20_000)
      expect(got).toEqual(Array.from({ length: 200 }, (_, i) => i))
      ws.close()
    } finally {
      upstream.echo = true
    }
  }, 40_000)

  test("the middleware: kw.proxyWebSockets on the application's server carries a socket with the same checks; a logout closes it", async () => {
    const host = await startHostApp({
      keyward: (url) =>
        testOptions(url, { upstreams: { live: { url: upstream.url, websocket: { maxPerSession: 2 } } } }),
      routes: () => undefined,
    })
    try {
      const stop = host.kw.proxyWebSockets(host.server, { '/api/live': 'live' })
      const browser = new Browser()
      await browser.login(host.url, 'alice', 'alice-password')
      const headers = { cookie: await browser.jar.getCookieString(host.url), origin: host.url }
      expect(
        await openSocket(`${host.url}/api/live/feed`, { ...headers, origin: 'https://evil.example' }),
      ).toMatchObject({
        status: 403,
        body: { code: 'origin_not_allowed' },
      })
      // keyward is the server's only upgrade listener: another path is refused, not left hanging.
      expect(await openSocket(`${host.url}/elsewhere`, headers)).toMatchObject({ status: 404 })
      const { ws } = await opened(`${host.url}/api/live/feed?room=1`, headers)
      expect(upstream.seen.at(-1)).toMatchObject({ url: '/feed?room=1', claims: { preferred_username: 'alice' } })
      ws.send('via the middleware')
      expect((await nextMessage(ws)).data.toString()).toBe('via the middleware')
      const ended = closed(ws)
      const out = await browser.request(`${host.url}/auth/logout`, {
        method: 'POST',
        headers: { ...api, origin: host.url },
      })
      expect(out.status).toBe(200)
      expect((await ended).code).toBe(4001)
      stop()
      expect(host.server.listenerCount('upgrade')).toBe(0)
      expect(() => host.kw.proxyWebSockets(host.server, { '/api/x': 'nope' })).toThrow(/no upstream "nope"/)
    } finally {
      await host.close()
    }
  })
})
