import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseEnv } from 'node:util'
import { ConfigError, loadConfig } from '../../src/config/load'

const valid = {
  PUBLIC_URL: 'https://app.example.com',
  KEYCLOAK_URL: 'https://sso.example.com/',
  KEYCLOAK_REALM: 'acme',
  OIDC_CLIENT_ID: 'acme-web',
  OIDC_CLIENT_SECRET: 'very-secret-client-secret',
  SESSION_SECRET: 'x'.repeat(32),
  TOKEN_ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}`,
}

function problems(env: Record<string, string | undefined>): string[] {
  try {
    loadConfig(env)
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
  return []
}

describe('loadConfig', () => {
  test('a production configuration: https, __Host- cookie, issuer from URL and realm', () => {
    const config = loadConfig(valid)
    expect(config.keycloak.issuer.href).toBe('https://sso.example.com/realms/acme')
    expect(config.apps).toHaveLength(1)
    expect(config.apps[0]).toMatchObject({
      id: 'web',
      clientId: 'acme-web',
      scopes: 'openid profile email',
      cookie: { name: '__Host-keyward', secure: true, sameSite: 'lax' },
    })
    expect([...config.apps[0].allowedOrigins]).toEqual(['https://app.example.com'])
    expect(config.redis).toEqual({
      topology: { kind: 'standalone', url: 'redis://127.0.0.1:6379', tls: false },
      prefix: 'kw:',
      sessionCacheMs: 1000,
      replicas: { count: 0, timeoutMs: 100 },
    })
    expect(config.trustProxy).toBe(false)
  })

  test('OIDC_DPOP: tokens are bound to a key of each session when true; off by default', () => {
    expect(loadConfig(valid).apps[0].dpop).toBe(false)
    expect(loadConfig({ ...valid, OIDC_DPOP: 'true' }).apps[0].dpop).toBe(true)
    expect(problems({ ...valid, OIDC_DPOP: 'on' })).toEqual(['OIDC_DPOP: use true or false (got "on")'])
  })

  test('OIDC_PAR: logins are pushed to Keycloak first when true; off by default', () => {
    expect(loadConfig(valid).apps[0].par).toBe(false)
    expect(loadConfig({ ...valid, OIDC_PAR: 'true' }).apps[0].par).toBe(true)
    expect(problems({ ...valid, OIDC_PAR: 'always' })).toEqual(['OIDC_PAR: use true or false (got "always")'])
  })

  test('local http development drops the __Host- prefix and Secure', () => {
    const config = loadConfig({
      ...valid,
      PUBLIC_URL: 'http://localhost:3000',
      KEYCLOAK_URL: 'http://127.0.0.1:8180',
      DEV_ALLOW_HTTP: 'true',
    })
    expect(config.apps[0].cookie).toEqual({ name: 'keyward', secure: false, sameSite: 'lax' })
  })

  test('every missing variable is named, with what a right value looks like', () => {
    const found = problems({})
    for (const name of [
      'PUBLIC_URL',
      'KEYCLOAK_URL',
      'KEYCLOAK_REALM',
      'OIDC_CLIENT_ID',
      'OIDC_CLIENT_SECRET',
      'SESSION_SECRET',
      'TOKEN_ENCRYPTION_KEYS',
    ]) {
      expect(found).toContainEqual(expect.stringMatching(new RegExp(`^${name}: .+\\(not set\\)$`)))
    }
  })

  test('wrong values are named and shown, secrets are not shown', () => {
    const found = problems({
      ...valid,
      PUBLIC_URL: 'app.example.com',
      PORT: 'eighty',
      SESSION_SECRET: 'short',
      TOKEN_ENCRYPTION_KEYS: 'k1:abc',
    })
    expect(found).toContainEqual(
      expect.stringContaining('PUBLIC_URL: an absolute URL such as https://app.example.com (got "app.example.com")'),
    )
    expect(found).toContainEqual(expect.stringContaining('PORT: a TCP port, e.g. 3000 (got "eighty")'))
    expect(found).toContainEqual(
      'SESSION_SECRET: comma-separated secrets of at least 32 characters each; the first signs (set)',
    )
    expect(found).toContainEqual(expect.stringMatching(/^TOKEN_ENCRYPTION_KEYS: .*32-byte key.*\(set\)$/))
    expect(found.join('\n')).not.toContain('short')
  })

  test('plain http is refused for Keycloak and for a public URL that is not loopback, unless DEV_ALLOW_HTTP', () => {
    expect(problems({ ...valid, KEYCLOAK_URL: 'http://sso.example.com' })).toEqual([
      'KEYCLOAK_URL: must be https; plain http only with DEV_ALLOW_HTTP=true (got "http://sso.example.com")',
    ])
    expect(problems({ ...valid, PUBLIC_URL: 'http://app.example.com' })).toEqual([
      'PUBLIC_URL: must be https unless it is http://localhost (or a name under it) or http://127.0.0.1 (got "http://app.example.com")',
    ])
    expect(problems({ ...valid, PUBLIC_URL: 'http://app.example.com', DEV_ALLOW_HTTP: 'true' })).toEqual([])
    // RFC 6761: names under localhost are loopback too (the demo's app-a.localhost); look-alikes are not.
    expect(problems({ ...valid, PUBLIC_URL: 'http://app-a.localhost:3000' })).toEqual([])
    expect(problems({ ...valid, PUBLIC_URL: 'http://app-a.localhost.example.com' })).toHaveLength(1)
    expect(problems({ ...valid, MOBILE_REDIRECT_URIS: 'http://app-a.localhost:3000/mobile.html' })).toEqual([])
    expect(problems({ ...valid, MOBILE_REDIRECT_URIS: 'http://evil-localhost.example/m' })).toHaveLength(1)
  })

  test('PUBLIC_URL must be an origin, ALLOWED_ORIGINS a list of origins', () => {
    expect(problems({ ...valid, PUBLIC_URL: 'https://app.example.com/bff' })).toEqual([
      'PUBLIC_URL: an origin without a path, e.g. https://app.example.com (got "https://app.example.com/bff")',
    ])
    expect(problems({ ...valid, ALLOWED_ORIGINS: 'https://a.example.com, https://b.example.com/x' })).toEqual([
      'ALLOWED_ORIGINS: origins such as https://app.example.com (got "https://b.example.com/x")',
    ])
    const config = loadConfig({ ...valid, ALLOWED_ORIGINS: 'https://a.example.com' })
    expect([...config.apps[0].allowedOrigins]).toEqual(['https://app.example.com', 'https://a.example.com'])
  })

  test('several secrets and keys, for rotation', () => {
    const config = loadConfig({
      ...valid,
      SESSION_SECRET: `${'a'.repeat(32)},${'b'.repeat(32)}`,
      TOKEN_ENCRYPTION_KEYS: `new:${randomBytes(32).toString('base64')},old:${randomBytes(32).toString('base64')}`,
    })
    expect(config.session.secrets).toHaveLength(2)
    expect(config.tokenKeys.map((k) => k.kid)).toEqual(['new', 'old'])
  })

  test('.env.example is a working configuration once its secrets are filled in', () => {
    const example = parseEnv(readFileSync(join(__dirname, '../../.env.example'), 'utf8'))
    const config = loadConfig({
      ...example,
      SESSION_SECRET: 'x'.repeat(32),
      TOKEN_ENCRYPTION_KEYS: valid.TOKEN_ENCRYPTION_KEYS,
    })
    expect([...config.upstreams.keys()]).toEqual(['orders', 'billing'])
    expect(config.upstreams.get('billing')!.timeoutMs).toBe(5000)
    expect(config.upstreams.get('orders')!.timeoutMs).toBe(30_000)
    expect(config.keycloak.backchannelUrl).toBeUndefined()
    // Copied as it is onto a server without a proxy, it must not believe X-Forwarded-For (the login limit).
    expect(config.trustProxy).toBe(false)
  })

  test('UPSTREAMS and the refresh lock are checked', () => {
    expect(problems({ ...valid, UPSTREAMS: 'orders=http://x' })[0]).toMatch(
      /^UPSTREAMS: a JSON object of upstream name → base URL/,
    )
    expect(problems({ ...valid, UPSTREAMS: '{"Orders!":"http://x"}' })[0]).toMatch(
      /^UPSTREAMS: names of lower-case letters/,
    )
    expect(problems({ ...valid, UPSTREAMS: '{"orders":"ftp://x"}' })[0]).toMatch(/^UPSTREAMS: /)
    expect(problems({ ...valid, REFRESH_LOCK_TTL_MS: '5000' })).toEqual([
      'REFRESH_LOCK_TTL_MS: must exceed OIDC_TIMEOUT_SECONDS (10 s), so a refresh times out before its lock does; e.g. 15000 (got 5000)',
    ])
    expect(problems({ ...valid, REFRESH_SKEW_FRACTION: '1.5' })[0]).toMatch(/^REFRESH_SKEW_FRACTION: /)
  })

  test('UPSTREAMS: token types and gates, and what does not go together', () => {
    const u = (entries: Record<string, unknown>) => ({ ...valid, UPSTREAMS: JSON.stringify(entries) })
    const config = loadConfig(
      u({
        orders: 'http://orders',
        admin: { url: 'http://admin', requireRoles: ['realm:admin'], requireClaims: { email: { endsWith: '@x.io' } } },
        both: { url: 'http://both', requireRoles: { allOf: ['realm:a', 'b'] } },
        svc: { url: 'http://svc', token: 'client' },
        open: { url: 'http://open', token: 'client', anonymous: true },
        maybe: { url: 'http://maybe', token: 'userOrNone' },
      }),
    ).upstreams
    expect(config.get('orders')).toMatchObject({ token: 'user', anonymous: false })
    expect(config.get('orders')?.requireRoles).toBeUndefined()
    expect(config.get('admin')).toMatchObject({
      requireRoles: { anyOf: ['realm:admin'] },
      requireClaims: { email: { endsWith: '@x.io' } },
    })
    expect(config.get('both')?.requireRoles).toEqual({ allOf: ['realm:a', 'b'] })
    expect(config.get('svc')).toMatchObject({ token: 'client', anonymous: false })
    expect(config.get('open')).toMatchObject({ token: 'client', anonymous: true })
    expect(config.get('maybe')).toMatchObject({ token: 'userOrNone', anonymous: true })
    expect(problems(u({ a: { url: 'http://a', anonymous: true } }))[0]).toMatch(
      /^UPSTREAMS: "a": anonymous is for token "client" \(a "userOrNone" upstream always takes callers without a session\) \(got /,
    )
    expect(problems(u({ a: { url: 'http://a', token: 'userOrNone', requireRoles: ['x'] } }))[0]).toMatch(
      /^UPSTREAMS: "a": requireRoles, requireClaims, requireAcr and maxAuthAgeSeconds need a user/,
    )
    expect(problems(u({ a: { url: 'http://a', token: 'client', audience: 'orders-api' } }))[0]).toMatch(
      /^UPSTREAMS: "a": audience and scope exchange the user's token/,
    )
    expect(problems(u({ a: { url: 'http://a', token: 'robot' } }))[0]).toMatch(/token user, client or userOrNone/)
    expect(problems(u({ a: { url: 'http://a', requireRoles: [] } }))[0]).toMatch(/^UPSTREAMS: names of lower-case/)
  })

  test('UPSTREAMS: WebSockets are off unless an upstream says so; its limits have defaults; WEBSOCKET_MAX_CONNECTIONS', () => {
    const u = (entries: Record<string, unknown>) => ({ ...valid, UPSTREAMS: JSON.stringify(entries) })
    const config = loadConfig({
      ...u({
        orders: 'http://orders',
        live: { url: 'http://live', websocket: true },
        feed: {
          url: 'http://feed',
          websocket: { onTokenExpiry: 'close', idleTimeoutSeconds: 30, maxMessageBytes: 4096, maxPerSession: 2 },
        },
      }),
      WEBSOCKET_MAX_CONNECTIONS: '100',
    })
    expect(config.upstreams.get('orders')?.websocket).toBeUndefined()
    expect(config.upstreams.get('live')?.websocket).toEqual({
      onTokenExpiry: 'keep',
      idleTimeoutMs: 600_000,
      maxMessageBytes: 1_048_576,
      maxPerSession: 8,
    })
    expect(config.upstreams.get('feed')?.websocket).toEqual({
      onTokenExpiry: 'close',
      idleTimeoutMs: 30_000,
      maxMessageBytes: 4096,
      maxPerSession: 2,
    })
    expect(config.http.maxWebSockets).toBe(100)
    expect(loadConfig(valid).http.maxWebSockets).toBe(5000)
    expect(problems(u({ a: { url: 'http://a', websocket: true, methods: ['POST'] } }))[0]).toMatch(
      /^UPSTREAMS: "a": a WebSocket opens with a GET, so websocket needs GET among methods/,
    )
    expect(problems(u({ a: { url: 'http://a', websocket: { onTokenExpiry: 'later' } } }))[0]).toMatch(
      /websocket true or \{onTokenExpiry keep or close/,
    )
    expect(problems({ ...valid, WEBSOCKET_MAX_CONNECTIONS: 'many' })[0]).toMatch(/^WEBSOCKET_MAX_CONNECTIONS: /)
  })

  test('ALLOWED_ORIGINS read answers with the user cookie, so they must be https (but for localhost or in development)', () => {
    expect(problems({ ...valid, ALLOWED_ORIGINS: 'http://www.example.com' })).toEqual([
      'ALLOWED_ORIGINS: must be https unless on localhost or with DEV_ALLOW_HTTP=true (got "http://www.example.com")',
    ])
    expect(
      loadConfig({ ...valid, ALLOWED_ORIGINS: 'http://localhost:5173' }).apps[0].allowedOrigins.has(
        'http://localhost:5173',
      ),
    ).toBe(true)
  })

  test('SHUTDOWN_GRACE_SECONDS must outlast the refresh lock', () => {
    expect(loadConfig(valid).shutdownGraceSeconds).toBe(20)
    expect(problems({ ...valid, SHUTDOWN_GRACE_SECONDS: '10' })).toEqual([
      'SHUTDOWN_GRACE_SECONDS: must exceed REFRESH_LOCK_TTL_MS (15000 ms), so a refresh under way at shutdown can store its tokens; e.g. 20 (got 10)',
    ])
  })

  test('LOGIN_RATE_LIMIT: 120 a minute unless set; 0 turns it off; anything else is named', () => {
    expect(loadConfig(valid).loginsPerMinute).toBe(120)
    expect(loadConfig({ ...valid, LOGIN_RATE_LIMIT: '0' }).loginsPerMinute).toBe(0)
    expect(problems({ ...valid, LOGIN_RATE_LIMIT: '-1' })).toEqual([
      'LOGIN_RATE_LIMIT: a whole number, e.g. 120; 0 turns the limit off (got "-1")',
    ])
    expect(problems({ ...valid, LOGIN_RATE_LIMIT: 'lots' })[0]).toMatch(
      /^LOGIN_RATE_LIMIT: logins started per minute per client address/,
    )
  })

  test('back-channel logout, a second client secret, the admin role: defaults, and what is refused', () => {
    const config = loadConfig(valid)
    expect(config.apps[0].backchannelLogoutUrl.href).toBe('https://app.example.com/auth/backchannel-logout')
    expect(config.apps[0].nextClientSecret).toBeUndefined()
    expect(config.adminRole).toBe('keyward-admin')
    const set = loadConfig({
      ...valid,
      BACKCHANNEL_LOGOUT_URL: 'http://keyward:3000/auth/backchannel-logout',
      OIDC_CLIENT_SECRET_NEXT: 'the-new-secret',
      ADMIN_ROLE: 'ops',
    })
    expect(set.apps[0].backchannelLogoutUrl.href).toBe('http://keyward:3000/auth/backchannel-logout')
    expect(set.apps[0].nextClientSecret).toBe('the-new-secret')
    expect(set.adminRole).toBe('ops')
    expect(problems({ ...valid, BACKCHANNEL_LOGOUT_URL: 'keyward/logout', ADMIN_ROLE: 'a role' })).toEqual([
      'ADMIN_ROLE: a client role\'s name, e.g. keyward-admin (got "a role")',
      'BACKCHANNEL_LOGOUT_URL: an absolute URL Keycloak reaches keyward at, e.g. http://keyward:3000/auth/backchannel-logout (got "keyward/logout")',
    ])
    expect(problems({ ...valid, OIDC_CLIENT_SECRET_NEXT: 'x', SESSION_SECRET: 'short' }).join('\n')).not.toContain(
      '"x"',
    )
  })

  test('POST_LOGOUT_PATH stays on the app, as a returnTo must: //host, /.//host, backslashes and other origins are refused', () => {
    expect(loadConfig({ ...valid, POST_LOGOUT_PATH: '/goodbye?x=1' }).apps[0].postLogoutPath).toBe('/goodbye?x=1')
    for (const path of ['//evil.example', '/.//evil.example', '/\\evil.example', '/a\tb']) {
      expect(problems({ ...valid, POST_LOGOUT_PATH: path })).toEqual([
        `POST_LOGOUT_PATH: a path on the app's own origin, e.g. /goodbye (got ${JSON.stringify(path)})`,
      ])
    }
  })
})

describe('the Redis topology', () => {
  const cluster = 'redis-1:6379, redis-2:6380,[::1]:6381'

  test('REDIS_URL alone: one server; rediss:// means TLS', () => {
    expect(loadConfig({ ...valid, REDIS_URL: 'rediss://u:p@redis.internal:6380' }).redis.topology).toEqual({
      kind: 'standalone',
      url: 'rediss://u:p@redis.internal:6380',
      tls: {},
    })
  })

  test('REDIS_SENTINELS: the Sentinels, the master name, both credentials', () => {
    const config = loadConfig({
      ...valid,
      REDIS_SENTINELS: 's1:26379,s2:26379',
      REDIS_SENTINEL_MASTER: 'primary-1',
      REDIS_SENTINEL_PASSWORD: 'sentinel-pw',
      REDIS_USERNAME: 'keyward',
      REDIS_PASSWORD: 'data-pw',
      REDIS_TLS: 'true',
    })
    expect(config.redis.topology).toEqual({
      kind: 'sentinel',
      sentinels: [
        { host: 's1', port: 26379 },
        { host: 's2', port: 26379 },
      ],
      master: 'primary-1',
      sentinelAuth: { username: undefined, password: 'sentinel-pw' },
      auth: { username: 'keyward', password: 'data-pw' },
      tls: {},
    })
  })

  test('REDIS_CLUSTER_NODES: the seed nodes (IPv6 in brackets), no TLS unless asked', () => {
    expect(loadConfig({ ...valid, REDIS_CLUSTER_NODES: cluster }).redis.topology).toEqual({
      kind: 'cluster',
      nodes: [
        { host: 'redis-1', port: 6379 },
        { host: 'redis-2', port: 6380 },
        { host: '::1', port: 6381 },
      ],
      auth: { username: undefined, password: undefined },
      tls: false,
    })
  })

  test('what cannot work together is refused, each variable named; a password is never shown', () => {
    expect(problems({ ...valid, REDIS_SENTINELS: 's1:26379', REDIS_CLUSTER_NODES: cluster })).toEqual([
      'REDIS_SENTINELS, REDIS_CLUSTER_NODES: set one of them, not both',
    ])
    expect(problems({ ...valid, REDIS_CLUSTER_NODES: cluster, REDIS_URL: 'redis://r:6379' })[0]).toMatch(
      /^REDIS_URL: not used with REDIS_SENTINELS or REDIS_CLUSTER_NODES/,
    )
    expect(problems({ ...valid, REDIS_CLUSTER_NODES: cluster, SESSION_CACHE_MS: '1000' })[0]).toMatch(
      /^SESSION_CACHE_MS: there is no session cache with a Redis Cluster/,
    )
    expect(problems({ ...valid, REDIS_CLUSTER_NODES: cluster, SESSION_CACHE_MS: '0' })).toEqual([])
    const found = problems({ ...valid, REDIS_PASSWORD: 'hunter2-password' })
    expect(found[0]).toMatch(
      /^REDIS_PASSWORD: used with REDIS_SENTINELS or REDIS_CLUSTER_NODES; with one server, put it in REDIS_URL/,
    )
    expect(found.join('\n')).not.toContain('hunter2')
    expect(problems({ ...valid, REDIS_TLS_CA_FILE: '/nonexistent/ca.pem', REDIS_URL: 'rediss://r:6380' })[0]).toMatch(
      /^REDIS_TLS_CA_FILE: a readable PEM file/,
    )
  })

  test('a node list that is not host:port pairs is refused with an example', () => {
    for (const nodes of ['redis-1', 'redis-1:', 'redis-1:99999', 'redis-1:6379,,redis-2:6379', 'http://r:6379']) {
      expect(problems({ ...valid, REDIS_CLUSTER_NODES: nodes })).toEqual([
        `REDIS_CLUSTER_NODES: comma-separated host:port pairs, e.g. redis-1:6379,redis-2:6379,redis-3:6379 (got ${JSON.stringify(nodes)})`,
      ])
    }
  })

  test('REDIS_WAIT_REPLICAS: how many replicas, and for how long', () => {
    expect(loadConfig({ ...valid, REDIS_WAIT_REPLICAS: '1', REDIS_WAIT_TIMEOUT_MS: '250' }).redis.replicas).toEqual({
      count: 1,
      timeoutMs: 250,
    })
    expect(problems({ ...valid, REDIS_WAIT_REPLICAS: '-1' })[0]).toMatch(/^REDIS_WAIT_REPLICAS: /)
  })
})
