import { request } from 'node:http'
import fc from 'fast-check'
import { Browser } from '../../harness/browser'
import { startKeyward, type RunningKeyward } from '../../harness/keyward'
import { MOBILE } from '../../harness/mobile-app'
import { Upstream } from '../../harness/upstream'
import { LOGIN_PARAM_NAMES } from '../../src/http/login-params'
import { api } from '../support/refresh-fixture'

// Seeded, so a failure is reproduced by running again (FUZZ_SEED, FUZZ_RUNS to explore further).
const SEED = Number(process.env.FUZZ_SEED ?? 20261130)
const RUNS = Number(process.env.FUZZ_RUNS ?? 4000)
// What keyward may answer a request it cannot serve: never a 500, only its documented 502/503/504.
const ALLOWED_5XX = new Set([502, 503, 504])

interface Attempt {
  method: string
  path: string
  headers: Record<string, string>
  body?: Buffer
}

/** One request as it is generated, byte for byte (no client-side normalisation); its status, or 0 if the connection broke. */
function send(url: string, a: Attempt): Promise<number> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve, reject) => {
    const req = request({ hostname, port, method: a.method, path: a.path, headers: a.headers, agent: false }, (res) => {
      res.resume().on('end', () => resolve(res.statusCode!))
    })
    req.setTimeout(10_000, () => req.destroy(new Error('no answer within 10 s')))
    req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? resolve(0) : reject(err)))
    req.end(a.body)
  })
}

/**
 * Property-based: thousands of generated requests over every route — methods, paths, query strings,
 * cookies, headers and bodies (JSON, truncated JSON, forms, binary) — against keyward with a live
 * session in Redis. None may get a 5xx other than 502/503/504, crash keyward, change Redis beyond
 * short-lived login transactions, or end the live session.
 */
describe('generated requests over every route', () => {
  let kw: RunningKeyward
  let upstream: Upstream
  const browser = new Browser()

  beforeAll(async () => {
    upstream = await Upstream.start()
    kw = await startKeyward({
      ...MOBILE,
      UPSTREAMS: JSON.stringify({ echo: upstream.url }),
      LOG_LEVEL: 'warn',
      // Login parameters allowed, so generated ones are both let through and refused.
      LOGIN_PROMPTS: 'login,none',
      LOGIN_HINT: 'true',
      LOGIN_IDP_HINTS: 'google',
      LOGIN_UI_LOCALES: 'en,de',
      LOGIN_MAX_AGE: 'true',
      LOGIN_SCOPES: 'phone',
      // Every generated login pushed to Keycloak first (PAR), where Keycloak judges its parameters.
      OIDC_PAR: 'true',
      // The session's tokens bound to its key (DPoP): every proxied call is signed with it.
      OIDC_DPOP: 'true',
    })
    await browser.login(kw.url, 'alice', 'alice-password')
  })
  afterAll(async () => {
    await browser.request(`${kw.url}/auth/logout`, { method: 'POST', headers: api })
    await kw.close()
    await upstream.close()
  })

  /** Every key with what it holds, but login transactions and counters, which requests may add. */
  async function state(): Promise<Map<string, string>> {
    const out = new Map<string, string>()
    for (const key of await kw.keys()) {
      if (/:(tx|rl):/.test(key)) continue
      const type = await kw.redis.type(key)
      const value =
        type === 'hash'
          ? await kw.redis.hgetall(key)
          : type === 'zset'
            ? await kw.redis.zrange(key, '0', '-1')
            : await kw.redis.get(key)
      out.set(key, JSON.stringify(value))
    }
    return out
  }

  test(`${RUNS} requests (seed ${SEED}): no 500, no crash, Redis and the live session as they were`, async () => {
    const realCookie = await browser.jar.getCookieString(kw.url)
    const before = await state()
    const printable = (max: number) =>
      fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: max })
    const token = (max: number) =>
      fc.string({ unit: fc.constantFrom(..."abcXYZ019-._~%;:@!$&()*+,='".split('')), maxLength: max })
    const jwtLike = fc
      .tuple(fc.json(), fc.json(), token(20))
      .map(([h, p, s]) => `${Buffer.from(h).toString('base64url')}.${Buffer.from(p).toString('base64url')}.${s}`)
    // The live session's cookie, altered: a credential close to a real one must open nothing. Only
    // the session cookie's value is altered (the Cookie header also holds the login binding's, and
    // with that one altered the session's is still the real one, which a POST may rightly use).
    const value = /(?:^|; )keyward=([^;]*)/.exec(realCookie)!
    const from = value.index + value[0].length - value[1].length
    const mutated = fc
      .tuple(fc.integer({ min: from, max: from + value[1].length - 1 }), fc.constantFrom('A', '0', '-', '%', '.'))
      .map(([i, c]) => realCookie.slice(0, i) + c + realCookie.slice(i + 1))
      .filter((c) => c !== realCookie)

    const route = fc.constantFrom(
      '/auth/login',
      '/auth/callback',
      '/auth/token',
      '/auth/session',
      '/auth/logout',
      '/auth/revoke',
      '/auth/sessions',
      '/auth/handoff',
      '/auth/handoff/complete',
      '/auth/handoff/redeem',
      '/auth/backchannel-logout',
      '/auth/jwks',
      '/admin/users/x/sessions',
      '/admin/users/x/logout',
      '/admin/sessions/x',
      '/api/echo/x',
      '/api/nope/x',
      '/healthz',
      '/readyz',
      '/',
    )
    const path = fc
      .tuple(
        fc.oneof(
          route,
          // The proxy, the hot path, more often than its share of the routes.
          fc.constant('/api/echo/x'),
          fc
            .tuple(
              fc.constantFrom('/auth/', '/admin/', '/api/', '/api/echo/', '/api/echo/', '/auth/sessions/', '/'),
              fc.array(token(12), { maxLength: 4 }),
            )
            .map(([p, segments]) => p + segments.join('/')),
        ),
        fc.oneof(
          fc.constant(''),
          fc
            .array(
              fc.tuple(
                fc.constantFrom(
                  'returnTo',
                  'code',
                  'state',
                  'client',
                  'redirect_uri',
                  'code_challenge',
                  'code_challenge_method',
                  'offline',
                  'from',
                  ...LOGIN_PARAM_NAMES,
                  'x',
                ),
                fc.oneof(
                  printable(40),
                  fc.constantFrom('mobile', 'S256', '1', '//evil.example', '/.//evil', 'com.example.keyward:/oauth'),
                  fc.constantFrom(
                    'none',
                    'login',
                    'consent',
                    'google',
                    'en de',
                    'en fr',
                    '0',
                    '-1',
                    'phone',
                    'phone openid',
                  ),
                ),
              ),
              { minLength: 1, maxLength: 4 },
            )
            .map((pairs) => '?' + pairs.map(([k, v]) => `${k}=${encodeURIComponent(v)}`).join('&')),
          token(40).map((q) => `?${q}`),
        ),
      )
      .map(([p, q]) => p + q)
    const headers = fc.record(
      {
        cookie: fc.oneof(
          printable(80),
          mutated,
          token(30).map((v) => `keyward=${v}; keyward-login=${v}`),
          { arbitrary: fc.constant(realCookie), weight: 4 },
        ),
        authorization: fc.oneof(
          printable(60),
          token(50).map((t) => `Bearer kw_${t}`),
          jwtLike.map((t) => `Bearer ${t}`),
        ),
        'x-csrf': fc.constantFrom('1', '1', '1', '0', ''),
        origin: fc.oneof(fc.constant(kw.url), fc.constant('https://evil.example'), printable(30)),
        'content-type': fc.constantFrom(
          'application/json',
          'application/x-www-form-urlencoded',
          'application/octet-stream',
          'text/plain',
          'multipart/form-data; boundary=x',
          'application/json; charset=utf-16',
        ),
        'x-forwarded-for': printable(30),
        'x-forwarded-host': printable(30),
        'access-control-request-method': fc.constantFrom('GET', 'POST', 'DELETE', 'TRACE'),
      },
      { requiredKeys: [] },
    )
    const body = fc.oneof(
      fc.constant(undefined),
      fc.json().map((j) => Buffer.from(j)),
      fc.json().map((j) => Buffer.from(j.slice(0, Math.ceil(j.length / 2)))),
      fc
        .dictionary(
          fc.constantFrom('code', 'code_verifier', 'redirect_uri', 'target', 'app', 'logout_token', 'device_name'),
          printable(60),
        )
        .map((d) => Buffer.from(new URLSearchParams(d).toString())),
      fc.uint8Array({ maxLength: 512 }).map((b) => Buffer.from(b)),
    )
    const attempt: fc.Arbitrary<Attempt> = fc
      .record({
        method: fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'HEAD', 'TRACE', 'PROPFIND'),
        path,
        headers,
        body,
      })
      .map((a) => (a.body ? { ...a, headers: { ...a.headers, 'content-length': String(a.body.length) } } : a))
      // The live session's own cookie goes only with methods that change nothing here (a POST with it
      // could rightly log it out); with those it reaches past the credential checks.
      .map((a) => {
        if (a.headers.cookie !== realCookie || !['POST', 'PUT', 'PATCH', 'DELETE'].includes(a.method)) return a
        const { cookie: _dropped, ...rest } = a.headers
        return { ...a, headers: rest }
      })

    const seen = new Map<number, number>()
    await fc.assert(
      fc.asyncProperty(attempt, async (a) => {
        const status = await send(kw.url, a)
        seen.set(status, (seen.get(status) ?? 0) + 1)
        return status !== 0 && (status < 500 || ALLOWED_5XX.has(status))
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    )
    // The requests reached every kind of answer, not only the first check that refuses them.
    expect([...seen.keys()]).toEqual(expect.arrayContaining([200, 302, 400, 401, 403, 404, 405]))

    expect(await state()).toEqual(before)
    expect((await browser.request(`${kw.url}/auth/session`)).status).toBe(200)
    expect((await browser.request(`${kw.url}/api/echo/still`, { headers: api })).status).toBe(200)
    expect(kw.logs.join('')).not.toContain('"msg":"request failed"')
  }, 300_000)
})
