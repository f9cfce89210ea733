import { randomBytes } from 'node:crypto'
import { ConfigError } from '../../src/config/error'
import { loadConfig } from '../../src/config/load'
import { configFromOptions } from '../../src/library/options'
import type { KeywardOptions } from '../../src/library/api-options'

const keys = `k1:${randomBytes(32).toString('base64')}`
const valid: KeywardOptions = {
  publicUrl: 'https://app.example.com',
  keycloak: { url: 'https://sso.example.com', realm: 'acme', clientId: 'acme-web', clientSecret: 'client-secret' },
  secrets: { session: 'x'.repeat(32), tokenEncryptionKeys: keys },
}
/** The same configuration as the server's environment spells it. */
const validEnv = {
  PUBLIC_URL: 'https://app.example.com',
  KEYCLOAK_URL: 'https://sso.example.com',
  KEYCLOAK_REALM: 'acme',
  OIDC_CLIENT_ID: 'acme-web',
  OIDC_CLIENT_SECRET: 'client-secret',
  SESSION_SECRET: 'x'.repeat(32),
  TOKEN_ENCRYPTION_KEYS: keys,
}

function problems(run: () => unknown): string[] {
  try {
    run()
  } catch (err) {
    if (err instanceof ConfigError) return err.problems
    throw err
  }
  return []
}

describe("the middleware's options: the server's configuration model, named as options", () => {
  test('the same options make the same engine configuration as the variables do', () => {
    const { config } = configFromOptions(valid)
    const { host: _h, port: _p, workers: _w, trustProxy: _t, staticDir: _s, ...fromEnv } = loadConfig(validEnv)
    const { shutdownGraceSeconds: _g, http: _l, metrics: _m, ...same } = fromEnv
    expect(config).toEqual(same)
    expect(config.apps[0]).toMatchObject({
      authPath: '/auth',
      callbackUrl: new URL('https://app.example.com/auth/callback'),
    })
  })

  test('the same checks and messages, each naming the option as written', () => {
    const http = { ...valid, keycloak: { ...valid.keycloak, url: 'http://sso.example.com' } }
    expect(problems(() => configFromOptions(http))).toEqual([
      'keycloak.url: must be https; plain http only with devAllowHttp=true (got "http://sso.example.com")',
    ])
    expect(problems(() => loadConfig({ ...validEnv, KEYCLOAK_URL: 'http://sso.example.com' }))).toEqual([
      'KEYCLOAK_URL: must be https; plain http only with DEV_ALLOW_HTTP=true (got "http://sso.example.com")',
    ])
    const lock = { ...valid, refresh: { lockTtlMs: 5000 } }
    expect(problems(() => configFromOptions(lock))).toEqual([
      'refresh.lockTtlMs: must exceed keycloak.timeoutSeconds (10 s), so a refresh times out before its lock does; e.g. 15000 (got 5000)',
    ])
    expect(problems(() => configFromOptions({ ...valid, upstreams: { orders: 'ftp://x' } }))[0]).toMatch(
      /^upstreams: names of/,
    )
  })

  test('what is missing or misspelt is named, secrets are never shown', () => {
    const found = problems(() =>
      configFromOptions({
        publicUrl: 'app.example.com',
        keycloak: { url: 'https://sso.example.com', realm: 'acme', clientid: 'x' },
        secrets: { session: 'short-secret-value', tokenEncryptionKeys: 'k1:abc' },
        redis: { url: 'redis://:hunter2@r:6379', client: {} },
        cookies: {},
      } as unknown as KeywardOptions),
    )
    expect(found).toEqual(
      expect.arrayContaining([
        'cookies: not an option of keyward (a misspelling?)',
        'keycloak.clientid: not an option of keyward (a misspelling?)',
        'publicUrl: an absolute URL such as https://app.example.com (got "app.example.com")',
        'keycloak.clientId: the Keycloak client id, e.g. keyward-web (not set)',
        'secrets.session: comma-separated secrets of at least 32 characters each; the first signs (set)',
        'redis.client: an ioredis client or Cluster (got an object)',
      ]),
    )
    expect(found.join('\n')).not.toMatch(/short-secret-value|hunter2|k1:abc/)
  })

  test('routes.prefix: a path under which the routes are; the callback and back-channel URLs follow it', () => {
    const { config } = configFromOptions({ ...valid, routes: { prefix: '/account/sso' } })
    expect(config.apps[0].callbackUrl.href).toBe('https://app.example.com/account/sso/callback')
    expect(config.apps[0].backchannelLogoutUrl.href).toBe('https://app.example.com/account/sso/backchannel-logout')
    for (const prefix of ['auth', '/auth/', '//evil.example']) {
      expect(problems(() => configFromOptions({ ...valid, routes: { prefix } }))).toEqual([
        `routes.prefix: a path such as /auth, without a slash at its end (got ${JSON.stringify(prefix)})`,
      ])
    }
    expect(problems(() => configFromOptions({ ...valid, routes: { prefix: '/a/../b' } }))).toEqual([
      'routes.prefix: a path such as /auth, without dot segments (got "/a/../b")',
    ])
  })

  test("Redis: a URL as a string, or the application's client (with nothing else of where Redis is)", () => {
    expect(configFromOptions({ ...valid, redis: 'rediss://r.internal:6380' }).config.redis.topology).toEqual({
      kind: 'standalone',
      url: 'rediss://r.internal:6380',
      tls: {},
    })
    const client = { status: 'ready', evalsha: () => undefined }
    const given = configFromOptions({ ...valid, redis: { client } }).config.redis
    expect(given.client).toBe(client)
    expect(given.topology).toBeUndefined()
    expect(problems(() => configFromOptions({ ...valid, redis: { client, url: 'redis://r:6379' } }))).toEqual([
      'redis.url: not used with redis.client; give one of them',
    ])
  })

  test('siblings: apps other keywards serve, handed sessions to unless said otherwise, checked like any app', () => {
    const { config } = configFromOptions({
      ...valid,
      siblings: [
        { id: 'drivers', publicUrl: 'https://drivers.example.net', clientId: 'acme-drivers' },
        {
          id: 'ops',
          publicUrl: 'https://ops.example.net',
          clientId: 'acme-ops',
          redeemUrl: 'https://kw.internal',
          handoff: false,
        },
      ],
    })
    expect(config.apps.map((a) => [a.id, a.remote?.redeemUrl.href ?? null])).toEqual([
      ['web', null],
      ['drivers', 'https://drivers.example.net/'],
      ['ops', 'https://kw.internal/'],
    ])
    expect([...config.apps[0].handoffTargets]).toEqual(['drivers'])
    expect(
      problems(() =>
        configFromOptions({
          ...valid,
          siblings: [
            { id: 'web', publicUrl: 'http://drivers.example.net', clientId: 'x' },
            { id: 'b', publicUrl: 'https://app.example.com/x', clientId: 'y' },
          ],
        }),
      ),
    ).toEqual([
      'siblings[1].publicUrl: an origin without a path, e.g. https://app.example.com (got "https://app.example.com/x")',
    ])
    expect(
      problems(() =>
        configFromOptions({
          ...valid,
          siblings: [{ id: 'web', publicUrl: 'http://drivers.example.net', clientId: 'x' }],
        }),
      ),
    ).toEqual([
      'siblings[0].publicUrl: must be https unless it is http://localhost (or a name under it) or http://127.0.0.1 (got "http://drivers.example.net")',
      'siblings: "web" is not the id of another app',
      'siblings[0].id: "web" is already the id of apps[0]',
    ])
  })
})
