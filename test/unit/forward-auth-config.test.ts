import { loadConfig } from '../../src/config/load'
import { problemsWith, productionEnv as env } from '../support/server-env'

/** The problems, without the value each quotes back. */
const problems = (vars: Record<string, string>) => problemsWith(vars).map((p) => p.replace(/ \(got .*\)$/, ''))

describe('FORWARD_AUTH_*', () => {
  test("off unless FORWARD_AUTH_PORT is set; then on loopback, oauth2-proxy's header names, no token", () => {
    expect(loadConfig(env).forwardAuth).toBeUndefined()
    expect(loadConfig({ ...env, FORWARD_AUTH_PORT: '3001' }).forwardAuth).toEqual({
      host: '127.0.0.1',
      port: 3001,
      headers: {
        'X-Auth-Request-User': 'sub',
        'X-Auth-Request-Preferred-Username': 'preferred_username',
        'X-Auth-Request-Name': 'name',
        'X-Auth-Request-Email': 'email',
        'X-Auth-Request-Roles': 'roles',
      },
      accessToken: false,
    })
  })

  test('headers and the token as configured', () => {
    const forwardAuth = loadConfig({
      ...env,
      FORWARD_AUTH_PORT: '3001',
      FORWARD_AUTH_HOST: '0.0.0.0',
      FORWARD_AUTH_HEADERS: '{"X-User":"sub","X-Groups":"groups","X-Tenant":"org.id"}',
      FORWARD_AUTH_ACCESS_TOKEN: 'true',
    }).forwardAuth
    expect(forwardAuth).toEqual({
      host: '0.0.0.0',
      port: 3001,
      headers: { 'X-User': 'sub', 'X-Groups': 'groups', 'X-Tenant': 'org.id' },
      accessToken: true,
    })
  })

  test("never the app's or the metrics' port; headers that could not carry an identity are refused, by name", () => {
    expect(problemsWith({ FORWARD_AUTH_PORT: '3000' })).toEqual([
      'FORWARD_AUTH_PORT: must differ from PORT and METRICS_PORT, so only the reverse proxy reaches it (got 3000)',
    ])
    expect(problems({ FORWARD_AUTH_PORT: '9464', METRICS_PORT: '9464' })).toHaveLength(1)
    expect(problemsWith({ FORWARD_AUTH_PORT: 'nginx' })).toEqual([
      'FORWARD_AUTH_PORT: a TCP port for GET /auth/check, e.g. 3001; unset: no forward-auth (got "nginx")',
    ])
    const example = 'e.g. {"X-Auth-Request-User":"sub","X-Auth-Request-Roles":"roles"}'
    expect(
      problems({ FORWARD_AUTH_PORT: '3001', FORWARD_AUTH_HEADERS: '{"Authorization":"sub","Cookie":"sid"}' }),
    ).toEqual([
      `FORWARD_AUTH_HEADERS: Authorization, Cookie cannot carry an identity; a JSON object of header name → access-token claim (or roles), ${example}`,
    ])
    for (const bad of ['X-User=sub', '{"X User":"sub"}', '{"X-User":"a claim"}', '{"X-User":1}']) {
      expect(problems({ FORWARD_AUTH_PORT: '3001', FORWARD_AUTH_HEADERS: bad })).toEqual([
        `FORWARD_AUTH_HEADERS: a JSON object of header name → access-token claim (or roles), ${example}`,
      ])
    }
    expect(problems({ FORWARD_AUTH_PORT: '3001', FORWARD_AUTH_ACCESS_TOKEN: 'yes' })[0]).toMatch(
      /^FORWARD_AUTH_ACCESS_TOKEN: use true or false/,
    )
  })

  test('no access token for the proxy beside an app whose tokens are bound to keys (DPoP): it could not use one', () => {
    const dpop = { FORWARD_AUTH_PORT: '3001', OIDC_DPOP: 'true' }
    expect(problemsWith({ ...dpop, FORWARD_AUTH_ACCESS_TOKEN: 'true' })).toEqual([
      'FORWARD_AUTH_ACCESS_TOKEN: must be false while an app binds its tokens to keys (DPoP: web), as the proxy cannot make the proofs they need',
    ])
    expect(problemsWith(dpop)).toEqual([])
  })
})
