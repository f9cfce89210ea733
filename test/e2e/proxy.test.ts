import { createHash, randomBytes } from 'node:crypto'
import { request as httpRequest } from 'node:http'
import { Browser } from '../../harness/browser'
import { KeycloakAdmin } from '../../harness/keycloak-admin'
import { startKeyward, withKeyward, type RunningKeyward } from '../../harness/keyward'
import { findJwts } from '../../harness/leaks'
import { freePort } from '../../harness/redis-server'
import { storedSession } from '../support/refresh-fixture'
import { Upstream } from '../../harness/upstream'

const admin = new KeycloakAdmin()
const api = { 'x-csrf': '1' }
const trusted = 'https://admin.example.test'

/** A request whose path and method go out byte for byte (fetch resolves dot segments, refuses TRACE). */
function rawGet(
  base: string,
  path: string,
  headers: Record<string, string>,
  method = 'GET',
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(base)
    const req = httpRequest({ hostname, port, path, headers, method }, (res) => {
      let body = ''
      res
        .on('data', (d) => (body += d))
        .on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }))
    })
    req.on('error', reject).end()
  })
}

describe('the API proxy', () => {
  let upstream: Upstream
  let slow: Upstream
  let kw: RunningKeyward
  const browser = new Browser()
  let sid: string
  let loggedInAt: number

  beforeAll(async () => {
    upstream = await Upstream.start()
    slow = await Upstream.start()
    slow.delayMs = 3000
    kw = await startKeyward({
      ALLOWED_ORIGINS: trusted,
      UPSTREAMS: JSON.stringify({
        orders: `${upstream.url}/v1`,
        readonly: { url: upstream.url, methods: ['GET', 'HEAD'] },
        slow: { url: slow.url, timeoutSeconds: 1 },
        gone: `http://127.0.0.1:${await freePort()}`,
      }),
    })
    await browser.login(kw.url, 'alice', 'alice-password')
    loggedInAt = Date.now()
    sid = (await storedSession(kw))!.sid
  })
  afterAll(async () => {
    await kw.close()
    await upstream.close()
    await slow.close()
  })

  test("forwards with the session's access token, and only what belongs to the upstream", async () => {
    const res = await browser.request(`${kw.url}/api/orders/items/a%20b?x=1&y=%2F`, {
      headers: {
        ...api,
        cookie: 'theme=dark',
        'x-request-id': 'r-1',
        traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
        origin: kw.url,
      },
    })
    expect(res.status).toBe(200)
    const seen = JSON.parse(res.text)
    expect(seen).toMatchObject({
      sub: expect.any(String),
      azp: 'keyward-web',
      method: 'GET',
      url: '/v1/items/a%20b?x=1&y=%2F',
    })
    // The request's id is keyward's own (a client's is not believed), on the answer, the upstream call and the log.
    const requestId = res.headers.get('x-request-id')!
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/)
    expect(seen.headers['x-request-id']).toBe(requestId)
    expect(kw.logs.join('')).toContain(`"requestId":"${requestId}"`)
    // W3C trace context goes on as it came.
    expect(seen.headers.traceparent).toBe('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01')
    expect(seen.headers['x-forwarded-proto']).toBe('http')
    expect(seen.headers['x-csrf']).toBeUndefined()
    // keyward's cookies stay behind; the upstream sees Keycloak's token.
    expect(upstream.seen.at(-1)!.headers.authorization).toMatch(/^Bearer eyJ/)
    expect(upstream.seen.at(-1)!.headers.cookie).toBeUndefined()
    // The upstream's Set-Cookie does not reach the browser; its other headers do.
    expect(res.headers.get('set-cookie')).toBeNull()
    expect(res.headers.get('x-upstream')).toBe('yes')
  })

  test('behind a trusted proxy, its X-Request-Id is the request id; a malformed one is replaced', async () => {
    await withKeyward({ TRUST_PROXY: '1' }, async (behind) => {
      const given = await fetch(`${behind.url}/auth/session`, { headers: { 'x-request-id': 'edge-7f3a' } })
      expect(given.headers.get('x-request-id')).toBe('edge-7f3a')
      expect(behind.logs.join('')).toContain('"requestId":"edge-7f3a"')
      const odd = await fetch(`${behind.url}/auth/session`, { headers: { 'x-request-id': 'a b"c' } })
      expect(odd.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/)
    })
  })

  test('API answers and API problems carry the security headers that matter for them, and no page policy', async () => {
    const ok = await browser.request(`${kw.url}/api/orders/items`, { headers: api })
    const refused = await browser.request(`${kw.url}/api/orders/items`) // no X-CSRF
    expect(refused.status).toBe(403)
    for (const res of [ok, refused]) {
      expect(res.headers.get('content-security-policy')).toBe("default-src 'none';frame-ancestors 'none'")
      expect(res.headers.get('x-content-type-options')).toBe('nosniff')
      expect(res.headers.get('x-frame-options')).toBe('DENY')
      expect(res.headers.get('cross-origin-resource-policy')).toBe('same-origin')
      expect(res.headers.get('referrer-policy')).toBe('no-referrer')
      expect(res.headers.get('strict-transport-security')).toMatch(/^max-age=\d+/)
      expect(res.headers.get('x-powered-by')).toBeNull()
    }
  })

  test('hop-by-hop headers, including those the request names in Connection, stay behind', async () => {
    const cookie = await browser.jar.getCookieString(kw.url)
    const res = await rawGet(kw.url, '/api/orders/hop', {
      ...api,
      cookie,
      connection: 'keep-alive, x-hop',
      'x-hop': 'secret',
      'x-end-to-end': 'kept',
    })
    expect(res.status).toBe(200)
    expect(JSON.parse(res.body).headers).toMatchObject({ 'x-end-to-end': 'kept' })
    expect(JSON.parse(res.body).headers['x-hop']).toBeUndefined()
  })

  test('an Authorization header that is not a keyward session handle is refused, not passed on', async () => {
    const count = upstream.seen.length
    const res = await browser.request(`${kw.url}/api/orders/x`, {
      headers: { ...api, authorization: 'Bearer caller-supplied' },
    })
    expect(res.status).toBe(401)
    expect(res.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
    expect(JSON.parse(res.text)).toMatchObject({ code: 'invalid_token' })
    expect(upstream.seen.length).toBe(count)
  })

  test('the caller’s other cookies are forwarded byte for byte, keyward’s are not', async () => {
    const others = 'theme=dark; a=x/y+z==; c={"k":1}; my cookie=1; theme=light'
    const cookie = `${await browser.jar.getCookieString(kw.url)}; ${others}; keyward-login=abc`
    const res = await fetch(`${kw.url}/api/orders/x`, { headers: { ...api, cookie } })
    expect(res.status).toBe(200)
    expect(upstream.seen.at(-1)!.headers.cookie).toBe(others)
  })

  test('an upload announced with Expect: 100-continue goes through', async () => {
    const body = randomBytes(256 * 1024)
    const { hostname, port } = new URL(kw.url)
    const cookie = await browser.jar.getCookieString(kw.url)
    const answer = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = httpRequest({
        hostname,
        port,
        method: 'PUT',
        path: '/api/orders/upload',
        headers: { ...api, cookie, expect: '100-continue', 'content-length': body.length },
      })
      req.on('continue', () => req.end(body)) // the body goes only once keyward said 100 Continue
      req.on('response', (res) => {
        let text = ''
        res.on('data', (d) => (text += d)).on('end', () => resolve({ status: res.statusCode!, text }))
      })
      req.on('error', reject)
    })
    expect(answer.status).toBe(200)
    expect(JSON.parse(answer.text)).toMatchObject({ method: 'PUT', bodyLength: body.length })
  })

  test("the upstream's headers come back as they were sent (a repeated Content-Type, no charset added), but CORS is keyward's", async () => {
    const res = await browser.request(`${kw.url}/api/orders/odd-headers`, { headers: { ...api, origin: trusted } })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/html, text/plain')
    expect(res.text).toBe('<p>odd</p>')
    expect(res.headers.get('access-control-allow-origin')).toBe(trusted) // not the upstream's "*"
    expect(res.headers.get('access-control-allow-credentials')).toBe('true')
    expect(res.headers.get('vary')).toBe('Origin, Accept-Encoding')
  })

  test('request and response bodies stream through unchanged', async () => {
    const body = randomBytes(3 * 1024 * 1024)
    const res = await browser.request(`${kw.url}/api/orders/upload`, {
      method: 'POST',
      headers: { ...api, 'content-type': 'application/octet-stream' },
      body,
    })
    expect(res.status).toBe(200)
    expect(JSON.parse(res.text)).toMatchObject({
      method: 'POST',
      bodyLength: body.length,
      bodySha256: createHash('sha256').update(body).digest('hex'),
    })

    const big = await fetch(`${kw.url}/api/orders/big`, {
      headers: { ...api, cookie: await browser.jar.getCookieString(kw.url) },
    })
    expect(big.status).toBe(200)
    expect((await big.arrayBuffer()).byteLength).toBe(64 * 64 * 1024)
  })

  test('an upstream 401 on a GET gets one forced refresh and one retry; Keycloak sees one refresh', async () => {
    // A token obtained in the last 10 s is not refreshed for a 401 (the test after this one).
    await new Promise((r) => setTimeout(r, Math.max(0, loggedInAt + 10_500 - Date.now())))
    const before = (await admin.events('alice', 'REFRESH_TOKEN')).filter((e) => e.sessionId === sid).length
    const firstJti = new Set<unknown>()
    upstream.rejectToken = (claims) => {
      if (firstJti.size === 0) firstJti.add(claims.jti)
      return firstJti.has(claims.jti)
    }
    try {
      const res = await browser.request(`${kw.url}/api/orders/retry`, { headers: api })
      expect(res.status).toBe(200)
      expect(upstream.seen.slice(-2).map((s) => s.url)).toEqual(['/v1/retry', '/v1/retry'])
      const after = (await admin.events('alice', 'REFRESH_TOKEN')).filter((e) => e.sessionId === sid).length
      expect(after - before).toBe(1)
      // A POST is not replayed: the upstream's 401 goes back to the caller as it is.
      upstream.rejectToken = () => true
      const post = await browser.request(`${kw.url}/api/orders/retry`, { method: 'POST', headers: api, body: 'x' })
      expect(post.status).toBe(401)
      expect((await admin.events('alice', 'REFRESH_TOKEN')).filter((e) => e.sessionId === sid).length).toBe(after)
    } finally {
      upstream.rejectToken = () => false
    }
  })

  test('a 401 to a token obtained moments ago goes back as it is: no refresh that the upstream drives', async () => {
    // The test before this one has just refreshed the session.
    const refreshes = async () => (await admin.events('alice', 'REFRESH_TOKEN')).filter((e) => e.sessionId === sid)
    const before = (await refreshes()).length
    upstream.rejectToken = () => true
    try {
      for (let i = 0; i < 3; i++) {
        const res = await browser.request(`${kw.url}/api/orders/forbidden-here`, { headers: api })
        expect(res.status).toBe(401)
      }
      expect((await refreshes()).length).toBe(before)
    } finally {
      upstream.rejectToken = () => false
    }
  })

  test('answers are private to the user unless the upstream said private or no-store: a shared cache keeps none', async () => {
    const cacheControl = async (directive?: string) =>
      (
        await browser.request(`${kw.url}/api/orders/cache/${encodeURIComponent(directive ?? 'x')}`, {
          headers: api,
        })
      ).headers.get('cache-control')
    expect(await cacheControl('max-age=60')).toBe('private, max-age=60')
    expect(await cacheControl('public, max-age=60, s-maxage=600')).toBe('private, max-age=60, s-maxage=600')
    expect(await cacheControl('private, max-age=60')).toBe('private, max-age=60')
    expect(await cacheControl('no-store')).toBe('no-store')
    expect((await browser.request(`${kw.url}/api/orders/x`, { headers: api })).headers.get('cache-control')).toBe(
      'private',
    )
  })

  test("forwarding headers are keyward's own: the app's host and protocol, the client's address; those a client could forge stay behind", async () => {
    const res = await rawGet(kw.url, '/api/orders/who', {
      ...api,
      cookie: await browser.jar.getCookieString(kw.url),
      'x-forwarded-host': 'evil.example',
      'x-forwarded-for': '203.0.113.9',
      'x-forwarded-proto': 'https',
      'x-forwarded-port': '443',
      'x-forwarded-prefix': '/admin',
      'x-real-ip': '203.0.113.9',
      'true-client-ip': '203.0.113.9',
      'x-client-ip': '203.0.113.9',
      'x-original-url': '/admin',
      'x-rewrite-url': '/admin',
      'x-http-method-override': 'DELETE',
    })
    expect(res.status).toBe(200)
    const seen = JSON.parse(res.body).headers as Record<string, string>
    expect({
      host: seen['x-forwarded-host'],
      proto: seen['x-forwarded-proto'],
      for: seen['x-forwarded-for'],
    }).toEqual({ host: new URL(kw.url).host, proto: 'http', for: '127.0.0.1' })
    for (const forged of [
      'x-forwarded-port',
      'x-forwarded-prefix',
      'x-real-ip',
      'true-client-ip',
      'x-client-ip',
      'x-original-url',
      'x-rewrite-url',
      'x-http-method-override',
    ]) {
      expect({ forged, value: seen[forged] }).toEqual({ forged, value: undefined })
    }
  })

  test('TRACE and CONNECT-like methods are never forwarded; an upstream may allow fewer methods (405 with Allow)', async () => {
    const count = upstream.seen.length
    const cookie = await browser.jar.getCookieString(kw.url)
    const trace = await rawGet(kw.url, '/api/orders/x', { ...api, cookie }, 'TRACE')
    expect(trace.status).toBe(405)
    expect(trace.headers.allow).toBe('GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS')
    expect(JSON.parse(trace.body)).toMatchObject({ code: 'method_not_allowed' })
    const put = await rawGet(kw.url, '/api/readonly/x', { ...api, cookie }, 'PUT')
    expect(put.status).toBe(405)
    expect(put.headers.allow).toBe('GET, HEAD')
    expect(upstream.seen.length).toBe(count)
    expect((await rawGet(kw.url, '/api/readonly/x', { ...api, cookie })).status).toBe(200)
  })

  test.each([
    ['an unknown upstream', '/api/nope/x', api, 404, 'unknown_upstream'],
    ['a dot segment', '/api/orders/../../admin', api, 400, 'invalid_request'],
    ['a dot segment with a path parameter (..;)', '/api/orders/x/..;/..;/admin', api, 400, 'invalid_request'],
    ['an encoded dot segment with a parameter', '/api/orders/%2e%2E;jsessionid=1/admin', api, 400, 'invalid_request'],
    ['a dot written .%2e', '/api/orders/.%2e/admin', api, 400, 'invalid_request'],
    ['an escape that does not decode', '/api/orders/a%zz', api, 400, 'invalid_request'],
    ['an encoded dot segment', '/api/orders/%2e%2e/admin', api, 400, 'invalid_request'],
    ['an encoded slash', '/api/orders/a%2F..%2Fadmin', api, 400, 'invalid_request'],
    ['an encoded upstream name', '/api/ord%65rs/x', api, 400, 'invalid_request'],
    ['a missing CSRF header', '/api/orders/x', {}, 403, 'csrf_required'],
    ['a Host that is not the app’s', '/api/orders/x', { ...api, host: 'evil.example' }, 421, 'misdirected_request'],
    ['a foreign origin', '/api/orders/x', { ...api, origin: 'https://evil.example' }, 403, 'origin_not_allowed'],
  ])('%s is refused before anything is forwarded', async (_what, path, headers, status, code) => {
    const count = upstream.seen.length
    const res = await rawGet(kw.url, path, { ...headers, cookie: await browser.jar.getCookieString(kw.url) })
    expect(res.status).toBe(status)
    expect(JSON.parse(res.body)).toMatchObject({ code })
    expect(upstream.seen.length).toBe(count)
  })

  test('without a session the proxy answers 401 and forwards nothing', async () => {
    const count = upstream.seen.length
    const res = await fetch(`${kw.url}/api/orders/x`, { headers: api })
    expect(res.status).toBe(401)
    expect(await res.json()).toMatchObject({ code: 'not_authenticated' })
    expect(upstream.seen.length).toBe(count)
  })

  test('an unreachable upstream is a 502, a slow one a 504 after its own timeout', async () => {
    const gone = await browser.request(`${kw.url}/api/gone/x`, { headers: api })
    expect(gone.status).toBe(502)
    expect(JSON.parse(gone.text)).toMatchObject({ code: 'upstream_unavailable' })
    const started = Date.now()
    const late = await browser.request(`${kw.url}/api/slow/x`, { headers: api })
    expect(late.status).toBe(504)
    expect(JSON.parse(late.text)).toMatchObject({ code: 'upstream_timeout' })
    expect(Date.now() - started).toBeLessThan(2500)
  })

  test('no token ever reached the browser', () => {
    expect(findJwts(browser.transcriptFor(kw.url))).toEqual([])
    expect(findJwts(kw.logs.join(''))).toEqual([])
  })
})
