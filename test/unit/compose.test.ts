import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { loadConfig } from '../../src/config/load'

// No Docker engine runs in CI, so this checks what can be checked of docker-compose.yml without one:
// keyward accepts its configuration, and it agrees with the Dockerfile and the realm export.
const root = join(__dirname, '../..')
// Compose applies YAML merge keys (`<<: *anchor`); the yaml package does when asked.
const compose = parse(readFileSync(join(root, 'docker-compose.yml'), 'utf8'), { merge: true })
const services = compose.services
const realmFile = services.keycloak.volumes.find((v: string) => v.includes('/opt/keycloak/data/import/')).split(':')[0]
const realm = JSON.parse(readFileSync(join(root, realmFile), 'utf8'))

/** Keycloak's redirect URI rule: an exact match, or a prefix match when the pattern ends with `*`. */
const allows = (patterns: string[], uri: string) =>
  patterns.some((p) => (p.endsWith('*') ? uri.startsWith(p.slice(0, -1)) : uri === p))

/** Compose's interpolation of `${NAME-default}` and `${NAME:-default}`, with `vars` as the shell's. */
const interpolated = (environment: Record<string, string>, vars: Record<string, string>) =>
  Object.fromEntries(
    Object.entries(environment).map(([name, value]) => [
      name,
      value.replace(/\$\{(\w+)(:?)-([^}]*)\}/g, (_, v: string, colon: string, fallback: string) =>
        vars[v] === undefined || (colon && vars[v] === '') ? fallback : vars[v],
      ),
    ]),
  )

/** An env file's `NAME=value` lines. */
const envFile = (path: string): Record<string, string> =>
  Object.fromEntries(
    readFileSync(join(root, path), 'utf8')
      .split('\n')
      .filter((line) => /^\w+=/.test(line))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  )

/** keyward's environment in its container, read here: the image's /app is this checkout. */
const inImage = (environment: Record<string, string>) => ({
  ...environment,
  KEYWARD_CONFIG: join(root, environment.KEYWARD_CONFIG.replace(/^\/app\//, '')),
})

describe('docker-compose.yml', () => {
  const env = interpolated(services.keyward.environment, {})
  const config = loadConfig(inImage(env))
  const clientOf = (clientId: string) => realm.clients.find((c: { clientId: string }) => c.clientId === clientId)

  test("keyward's environment and its apps file pass keyward's own configuration checks: the demo's two apps", () => {
    expect(config.host).toBe('0.0.0.0')
    expect(config.redis.topology).toEqual({ kind: 'standalone', url: 'redis://redis:6379', tls: false })
    expect(config.apps.map((a) => [a.id, a.publicUrl.origin])).toEqual([
      ['app-a', 'http://app-a.localhost:3000'],
      ['app-b', 'http://app-b.localhost:3000'],
    ])
  })

  test('the sentinel profile: keyward finds the primary through the three Sentinels, which watch the primary and its replica', () => {
    const vars = envFile('compose.sentinel.env')
    expect(vars.COMPOSE_PROFILES).toBe('sentinel')
    const topology = loadConfig(inImage(interpolated(services.keyward.environment, vars))).redis.topology
    if (topology.kind !== 'sentinel') throw new Error(`expected Sentinel, got ${topology.kind}`)
    expect(topology.auth.password).toBe(vars.KEYWARD_REDIS_PASSWORD)
    for (const { host, port } of topology.sentinels) {
      const sentinel = services[host]
      expect(sentinel.profiles).toEqual(['sentinel'])
      expect(port).toBe(26379)
      const script: string = sentinel.command.join(' ')
      expect(script).toContain(`sentinel monitor ${topology.master} redis-primary 6379 2`)
      expect(script).toContain(`sentinel auth-pass ${topology.master} ${vars.KEYWARD_REDIS_PASSWORD}`)
      expect(script).toContain('--sentinel')
      expect(services.keyward.depends_on[host]).toEqual({ condition: 'service_healthy', required: false })
    }
    expect(topology.sentinels).toHaveLength(3)
    for (const name of ['redis-primary', 'redis-replica']) {
      const command: string = services[name].command.join(' ')
      expect(command).toContain('--appendonly yes')
      expect(command).toContain('--maxmemory-policy noeviction')
      expect(command).toContain(`--requirepass ${vars.KEYWARD_REDIS_PASSWORD}`)
      expect(services[name].profiles).toEqual(['sentinel'])
    }
    expect(services['redis-replica'].command.join(' ')).toContain('--replicaof redis-primary 6379')
  })

  test('Keycloak has one issuer, public to the browser; keyward reaches it inside the network; the realm is imported', () => {
    const command: string[] = services.keycloak.command
    expect(command).toContain('start-dev')
    expect(command).toContain('--import-realm')
    expect(command).toContain(`--hostname=${env.KEYCLOAK_URL}`)
    const pub = new URL(env.KEYCLOAK_URL)
    expect(services.keycloak.ports).toContain(`127.0.0.1:${pub.port}:${pub.port}`)
    const inside = new URL(env.KEYCLOAK_BACKCHANNEL_URL)
    expect(inside.hostname).toBe('keycloak') // the service name
    expect(command).toContain(`--http-port=${inside.port}`)
    expect(existsSync(join(root, realmFile))).toBe(true)
    expect(realm.realm).toBe(env.KEYCLOAK_REALM)
  })

  test("each app's client in the realm accepts keyward's callback and post-logout URLs and its secret", () => {
    for (const app of config.apps) {
      const client = clientOf(app.clientId)
      expect(app.clientSecret).toBe(client.secret) // from the variable the apps file names
      expect(allows(client.redirectUris, `${app.publicUrl.origin}/auth/callback`)).toBe(true)
      const postLogout = client.attributes['post.logout.redirect.uris']
      expect(
        allows(postLogout === '+' ? client.redirectUris : postLogout.split('##'), `${app.publicUrl.origin}/`),
      ).toBe(true)
      expect(client.attributes['pkce.code.challenge.method']).toBe('S256')
    }
  })

  test("Keycloak's back-channel logout reaches keyward inside the network: the realm's placeholders, set for the Keycloak service", () => {
    for (const app of config.apps) {
      const client = clientOf(app.clientId)
      const placeholder = /^\$\{([A-Z_]+):(.+)\}$/.exec(client.attributes['backchannel.logout.url'])
      expect(placeholder).not.toBeNull()
      const [, variable, fallback] = placeholder!
      expect(fallback).toBe('http://127.0.0.1:3000/auth/backchannel-logout') // npm run demo's keyward
      const inside = new URL(services.keycloak.environment[variable])
      expect(inside.hostname).toBe('keyward') // the service name
      expect(inside.port).toBe(env.PORT)
      expect(inside.pathname).toBe('/auth/backchannel-logout')
      expect(String(app.backchannelLogoutUrl)).toBe(inside.href) // what the doctor checks the realm against
      expect(client.frontchannelLogout).toBe(false)
      expect(client.attributes['backchannel.logout.session.required']).toBe('true')
    }
  })

  test("the demo API checks tokens of the browser's issuer, with keys it fetches inside the network; keyward sends it /api/demo", () => {
    const api = services['demo-api']
    expect(api.command).toEqual(['node', 'demo/api.mjs'])
    expect(existsSync(join(root, 'demo/api.mjs'))).toBe(true)
    expect(api.environment.DEMO_ISSUER).toBe(`${env.KEYCLOAK_URL}/realms/${env.KEYCLOAK_REALM}`)
    expect(new URL(api.environment.DEMO_JWKS_URL).origin).toBe(env.KEYCLOAK_BACKCHANNEL_URL)
    expect(config.upstreams.get('demo')?.url.href).toBe(`http://demo-api:${api.environment.DEMO_API_PORT}/`)
  })

  test('Redis keeps its data across restarts (AOF) and keyward waits for healthy dependencies', () => {
    expect(services.redis.command).toEqual(expect.arrayContaining(['--appendonly', 'yes']))
    expect(services.redis.command.join(' ')).toContain('--maxmemory-policy noeviction')
    expect(services.keyward.depends_on).toMatchObject({
      redis: { condition: 'service_healthy' },
      keycloak: { condition: 'service_healthy' },
    })
    expect(services.keyward.ports).toContain(`127.0.0.1:${env.PORT}:${env.PORT}`)
  })

  test('the Dockerfile ships what the compose file points at', () => {
    const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8')
    expect(dockerfile).toContain('COPY demo ./demo')
    expect(env.STATIC_DIR).toBe('/app/demo/public')
    expect(dockerfile).toMatch(/CMD \["node", "dist\/server\/main.js"\]/)
    // Not root, and Docker knows when keyward stops answering.
    expect(dockerfile).toMatch(/^USER node$/m)
    expect(dockerfile).toMatch(/^HEALTHCHECK .*\/healthz/m)
  })
})
